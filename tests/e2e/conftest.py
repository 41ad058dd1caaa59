"""A real browser against a real server: Debian's Chromium driven by Playwright.

Never downloads a browser: Playwright is pointed at ``/usr/bin/chromium`` (or
``VOICE_E2E_CHROMIUM``). Without one the tests are skipped with the reason, except
under CI (``CI=true``), where a missing browser is a failure. Every page visited is
screenshotted into ``test-artifacts/e2e/`` and checked with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.web.fault_helpers import LiveServer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
PHONE = {"width": 375, "height": 667}
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def live(app, db) -> Iterator[LiveServer]:
    """gunicorn serving the test's database."""
    db.session.commit()
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    server = LiveServer(url, workers=2)
    server.env["VOICE_BASE_URL"] = f"http://127.0.0.1:{server.port}"
    server.start()
    yield server
    server.stop()


class Visit:
    """Checks every page a journey lands on: screenshot, axe-core, no other hosts."""

    def __init__(self, page, journey: str, base: str) -> None:
        """Watch ``page`` for requests that leave ``base``'s host."""
        self.page = page
        self.journey = journey
        self.host = urlsplit(base).hostname
        self.steps = 0
        self.other_hosts: set[str] = set()
        page.on("request", self._note_host)

    def _note_host(self, request) -> None:
        host = urlsplit(request.url).hostname
        if host not in (self.host, None):
            self.other_hosts.add(host)

    def check(self, name: str) -> None:
        """Screenshot the page and fail on a serious or critical axe violation."""
        from axe_playwright_python.sync_playwright import Axe

        self.steps += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        self.page.screenshot(
            path=str(ARTIFACTS / f"{self.journey}-{self.steps:02d}-{slug}.png"),
            full_page=True,
        )
        results = Axe().run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at"
            f" {[node['html'][:120] for node in v['nodes'][:3]]}"
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        assert not bad, f"{name}: {bad}"
        assert not self.other_hosts, f"{name} asked other hosts: {self.other_hosts}"


@pytest.fixture
def visit(browser, live):
    """Open a browser context of a given size; return (page, Visit)."""
    contexts = []

    def open_context(journey: str, viewport: dict[str, int]):
        context = browser.new_context(viewport=viewport, base_url=live.url)
        # A shared CI machine can be slow: wait for pages, never for fixed times.
        context.set_default_timeout(90_000)
        contexts.append(context)
        page = context.new_page()
        return page, Visit(page, journey, live.url)

    yield open_context
    for context in contexts:
        context.close()
