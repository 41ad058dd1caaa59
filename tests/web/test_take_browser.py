"""A student completes the climate survey in Spanish on a phone-sized Chromium.

axe-core checks every page on the way; no serious or critical violation may appear.
A second run has JavaScript switched off: the survey must work without it.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.web.take_helpers import CLIMATE, add_codes, publish
from voice.extensions import db as _db
from voice.models import AccessMode, Answer, Response

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
sync_api = pytest.importorskip("playwright.sync_api")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright")
PHONE = {"width": 375, "height": 667}


@pytest.fixture
def base_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join()


def _serious(page) -> list[str]:
    result = axe_api.Axe().run(page)
    return [
        f"{v['id']} ({len(v['nodes'])})"
        for v in result.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def _answer_everything(page) -> None:
    for group in page.locator(".question fieldset").all():
        group.locator("input").nth(1).check()
    for box in page.locator("textarea").all():
        box.fill("Más clubes después de clases")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_student_completes_the_survey_in_spanish_on_a_phone(
    app, db, base_url, browser, javascript
):
    audience = publish(snapshot=CLIMATE, access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    start = f"{base_url}/s/{audience.token}?lang=es"
    db.session.commit()  # hold no SQLite lock while the server works
    context = browser.new_context(viewport=PHONE, java_script_enabled=javascript)
    page = context.new_page()
    other_hosts = []
    page.on(
        "request",
        lambda r: other_hosts.append(r.url) if not r.url.startswith(base_url) else None,
    )
    violations = {}
    page.goto(start)
    assert page.locator("html").get_attribute("lang") == "es"
    if javascript:
        violations["intro"] = _serious(page)
    page.fill("#code", code.lower())
    page.get_by_role("button", name="Comenzar la encuesta").click()
    for number in range(1, 8):
        assert page.locator(".take-step").inner_text() == f"Página {number} de 7"
        _answer_everything(page)
        if javascript:
            violations[f"page {number}"] = _serious(page)
        name = "Enviar mis respuestas" if number == 7 else "Siguiente"
        page.get_by_role("button", name=name).click()
    assert page.url.endswith(f"/s/{audience.token}/thanks?lang=es")
    assert "Gracias" in page.locator("h1").inner_text()
    if javascript:
        violations["thanks"] = _serious(page)
    context.close()
    assert {where: v for where, v in violations.items() if v} == {}
    assert other_hosts == []
    count = sa.select(sa.func.count()).select_from(Response)
    assert _db.session.scalar(count) == 1
    answered = _db.session.scalar(sa.select(sa.func.count()).select_from(Answer))
    assert answered >= 29
