"""Ways to break things on purpose: a cuttable database link, a live gunicorn, a form.

Every address here is on the loopback interface; every loop is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class TcpProxy:
    """Forward a loopback port to the database, and pull the plug on demand.

    ``cut()`` drops every open connection and refuses new ones (each accepted socket is
    closed at once, as when a database restarts); ``restore()`` forwards again.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        """Listen on a free loopback port and start forwarding to the target."""
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._up = True
        self._closed = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def cut(self) -> None:
        """Make the database unreachable: kill open links, refuse new ones."""
        with self._lock:
            self._up = False
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        """Let connections through again."""
        with self._lock:
            self._up = True

    def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        self._closed = True
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if not self._up:
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class FormReader(HTMLParser):
    """Collect the fields a browser would post from the first form on a page."""

    def __init__(self) -> None:
        """Start with no fields."""
        super().__init__()
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record hidden inputs and textareas of the first form."""
        values = {name: value or "" for name, value in attrs}
        if self._done:
            return
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        elif tag == "input" and values.get("type") == "hidden" and "name" in values:
            self.fields.append((values["name"], values.get("value", "")))
        elif tag == "textarea" and "name" in values:
            self._textarea, self._text = values["name"], []

    def handle_data(self, data: str) -> None:
        """Collect a textarea's text."""
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        """Close a textarea, or the form."""
        if tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text)))
            self._textarea = None
        elif tag == "form" and self.action is not None:
            self._done = True


def read_form(html: str) -> FormReader:
    """Return the action and fields of the first form in ``html``."""
    reader = FormReader()
    reader.feed(html)
    return reader


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


#: Shared rate-limit storage for live servers with several workers (``voice serve``
#: refuses per-process storage with more than one worker).
TEST_REDIS_URL = os.environ.get("VOICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_answers(url: str = TEST_REDIS_URL) -> bool:
    """Say whether a redis server answers at ``url`` within a second."""
    import redis

    try:
        return bool(redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


class LiveServer:
    """``voice serve`` (gunicorn) in a subprocess, on a loopback port.

    Several workers share their rate-limit storage through the test redis; where no
    redis answers, the server runs as ``voice serve`` does by default then: one
    threaded worker (``workers`` says which).
    """

    def __init__(self, database_url: str, workers: int = 2, **env: str) -> None:
        """Remember how to start; nothing runs until ``start()``."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "VOICE_DATABASE_URL": database_url,
            "VOICE_SECRET_KEY": "fault-test-secret",
            **env,
        }
        self.env.pop("VOICE_WORKERS", None)
        self.workers = 1
        if workers > 1 and redis_answers():
            self.env["VOICE_WORKERS"] = str(workers)
            self.env.setdefault("VOICE_RATELIMIT_STORAGE_URL", TEST_REDIS_URL)
            self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start gunicorn and wait until it answers."""
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("voice")),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def answers(self) -> bool:
        """Say whether ``/healthz`` answers 200 within two seconds."""
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        """Return the pids of the master's current worker processes."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        """Stop the master and its workers."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None


@contextlib.contextmanager
def live_server(database_url: str, workers: int = 2) -> Iterator[LiveServer]:
    """Run gunicorn for the duration of a ``with`` block."""
    server = LiveServer(database_url, workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand redirects back to the caller: a 303 after submit is the success signal."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


class LiveStudent:
    """A browser on a live server: cookies kept, redirects not followed."""

    def __init__(self, base: str, token: str) -> None:
        """Open no connection yet; remember where the survey link is."""
        self.base = base
        self.token = token
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(), _NoRedirect()
        )

    def _send(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path + "?lang=en", data=body)
        try:
            with self.opener.open(request, timeout=30) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", "")

    def send(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        """GET (or POST ``data`` to) ``path``; return the status and the page or target."""
        return self._send(path, data)

    def last_page_form(self, pages: tuple[dict[str, str], ...]) -> dict[str, str]:
        """Answer every page but the last; return the last page's form, ready to submit.

        :raises AssertionError: if a page on the way does not come back
        """
        status, page = self._send(f"/s/{self.token}")
        assert status == 200, status
        status, page = self._send(
            f"/s/{self.token}/start", dict(read_form(page).fields)
        )
        for answers in pages[:-1]:
            assert status == 200, status
            fields = dict(read_form(page).fields)
            fields.update(answers, action="next")
            status, page = self._send(f"/s/{self.token}/answers", fields)
        assert status == 200, status
        fields = dict(read_form(page).fields)
        fields.update(pages[-1], action="submit")
        return fields

    def submit(self, pages: tuple[dict[str, str], ...]) -> bool:
        """Answer every page and submit; say whether the success redirect came back.

        Any failure on the way (a killed worker's reset connection) is a ``False``.
        """
        try:
            status, page = self._send(f"/s/{self.token}")
            if status != 200:
                return False
            fields = dict(read_form(page).fields)
            status, page = self._send(f"/s/{self.token}/start", fields)
            for number, answers in enumerate(pages, start=1):
                if status != 200:
                    return False
                last = number == len(pages)
                fields = dict(read_form(page).fields)
                fields.update(answers, action="submit" if last else "next")
                status, page = self._send(f"/s/{self.token}/answers", fields)
            return status == 303 and "/thanks" in page
        except (OSError, http.client.HTTPException):  # reset, or cut mid-body
            return False
