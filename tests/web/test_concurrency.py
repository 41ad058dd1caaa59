"""Concurrent submissions against a real threaded server (DESIGN invariant 4).

Runs on SQLite (WAL file) by default and on PostgreSQL with VOICE_TEST_DATABASE_URL.
Every student first gets a page of their own (own cookie, own CSRF token, own form
state); then all of them press "Submit" at the same moment.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import (
    HTTPCookieProcessor,
    HTTPRedirectHandler,
    Request,
    build_opener,
)

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.web.take_helpers import TINY, add_codes, hidden, publish
from voice.extensions import db as _db
from voice.models import AccessMode, Answer, BallotCode, Comment, Response

pytestmark = pytest.mark.slow


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One student's browser: its own cookies, no automatic redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = build_opener(HTTPCookieProcessor(CookieJar()), _NoRedirect())
        self.html = ""

    def send(self, path: str, data: dict | None = None) -> int:
        body = urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(
                Request(self.base + path, data=body), timeout=60
            ) as r:
                self.html = r.read().decode()
                return r.status
        except HTTPError as error:
            self.html = error.read().decode()
            return error.code

    def reach_submit(self, code: str | None) -> None:
        """Open the link, start (with ``code``) and sit on the only page."""
        assert self.send("") == 200
        form = {"csrf_token": hidden(self.html, "csrf_token")}
        if code is not None:
            form["code"] = code
        assert self.send("/start", form) == 200, self.html[-500:]

    def submit_form(self, value: int) -> dict:
        """Return what pressing "Submit" with answer ``value`` posts."""
        return {
            "csrf_token": hidden(self.html, "csrf_token"),
            "state": hidden(self.html, "state"),
            "action": "submit",
            "q-tiny_belong": str(value),
            "q-tiny_comment": f"comment {value}",
        }

    def submit(self, value: int) -> int:
        return self.send("/answers", self.submit_form(value))


@pytest.fixture
def serve(app):
    """Start the app on a real threaded server; yield a function making base URLs."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield lambda token: f"http://127.0.0.1:{server.port}/s/{token}"
    server.shutdown()
    thread.join()


def _all_at_once(browsers: list[Browser], submit) -> Counter:
    """Let every browser press Submit at the same moment; count the statuses."""
    barrier = threading.Barrier(len(browsers))

    def press(index: int) -> int:
        barrier.wait()
        return submit(index, browsers[index])

    with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
        return Counter(pool.map(press, range(len(browsers))))


def _count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _prepare(browsers: list[Browser], codes: list[str | None]) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(Browser.reach_submit, browsers, codes))


def test_fifty_simultaneous_submissions_with_one_code_store_exactly_one(app, db, serve):
    audience = publish(snapshot=TINY, access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    base = serve(audience.token)
    db.session.commit()  # hold no lock while the server works
    browsers = [Browser(base) for _ in range(50)]
    _prepare(browsers, [code] * 50)
    statuses = _all_at_once(browsers, lambda i, b: b.submit(1 + i % 5))
    assert statuses == Counter({303: 1, 409: 49})
    assert _count(Response) == 1
    assert _count(Answer) == 1
    assert _count(Comment) == 1
    assert _db.session.scalars(sa.select(BallotCode.is_spent)).all() == [True]


def test_simultaneous_submissions_with_their_own_codes_are_all_stored(app, db, serve):
    students = 30
    audience = publish(snapshot=TINY, access_mode=AccessMode.codes)
    codes = add_codes(app, audience, students)
    base = serve(audience.token)
    db.session.commit()
    browsers = [Browser(base) for _ in range(students)]
    _prepare(browsers, codes)
    statuses = _all_at_once(browsers, lambda i, b: b.submit(1 + i % 5))
    assert statuses == Counter({303: students})
    assert _count(Response) == students
    assert _count(Answer) == students
    assert _count(Comment) == students
    values = Counter(_db.session.scalars(sa.select(Answer.numeric_value)))
    assert values == Counter({v: students // 5 for v in range(1, 6)})
    texts = set(_db.session.scalars(sa.select(Comment.text)))
    assert texts == {f"comment {v}" for v in range(1, 6)}
    spent = _db.session.scalars(sa.select(BallotCode.is_spent)).all()
    assert spent == [True] * students


def test_simultaneous_open_link_submissions_are_all_stored(app, db, serve):
    students = 30
    audience = publish(snapshot=TINY, access_mode=AccessMode.link)
    base = serve(audience.token)
    db.session.commit()
    browsers = [Browser(base) for _ in range(students)]
    _prepare(browsers, [None] * students)
    statuses = _all_at_once(browsers, lambda i, b: b.submit(3))
    assert statuses == Counter({303: students})
    assert _count(Response) == students
    assert _count(Answer) == students


def test_a_double_click_on_submit_stores_one_response(app, db, serve):
    audience = publish(snapshot=TINY, access_mode=AccessMode.link)
    base = serve(audience.token)
    db.session.commit()
    browser = Browser(base)
    browser.reach_submit(None)
    form = browser.submit_form(4)
    statuses = _all_at_once([browser] * 8, lambda i, b: b.send("/answers", form))
    assert statuses == Counter({303: 8})
    assert _count(Response) == 1
