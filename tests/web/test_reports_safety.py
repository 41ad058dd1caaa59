"""Attacks on PDF rendering, and the accessibility of what it produces.

Hostile text arrives wherever a report prints words it did not write: theme labels and
quotes, findings, recommendations, leaders' notes, group and school names. It must come
out as literal text, with no fetch, no attachment and no file contents; and hostile
HTML handed straight to the renderer (were escaping ever to fail) still fetches nothing.
"""

from __future__ import annotations

import http.server
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
from flask import Flask
from flask_babel import force_locale, gettext
from pypdf import PdfReader

from config import TestingConfig
from tests.unit.report_data import make_release, pdf_attachments, pdf_text
from voice import create_app, reports
from voice.report_service import render_html
from voice.reports import RenderTimeout, ReportError, render_pdf


class Canary(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                canary.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.end_headers()
                self.wfile.write(b"body{color:red}")

            def log_message(self, *args) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    server = Canary()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def hostile(canary: Canary) -> tuple[str, ...]:
    """Strings that would fetch, attach or execute if they were ever taken as markup."""
    return (
        f'<img src="{canary.url}/img" alt="x">',
        f'<style>@import url("{canary.url}/import");</style>',
        f'<p style="background: url({canary.url}/bg)">bg</p>',
        '<link rel="attachment" href="file:///etc/passwd">',
        '<a rel="attachment" href="file:///etc/passwd">passwd</a>',
        f'<object data="{canary.url}/object"></object>',
        '<img src="file:///etc/passwd">',
        f"<svg><image href='{canary.url}/svg'/></svg>",
        "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} ${7*7}",
    )


@pytest.fixture(scope="module")
def report_app(tmp_path_factory) -> Flask:
    """An app for rendering templates only (reports read no database here)."""
    folder = tmp_path_factory.mktemp("report-app")
    return create_app(
        TestingConfig,
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "OUTBOX_DIR": str(folder)},
    )


def render(app: Flask, release, *, scope="school", lang="en", findings=(), school=None):
    with app.app_context(), force_locale(lang):
        context = reports.build_report_context(
            release,
            scope=scope,
            lang=lang,
            findings=findings,
            school=school or reports.SchoolInfo("Lincoln High School", "Riverside"),
            survey_meta=reports.SurveyMeta(
                "Climate and belonging", "Fall 2026", date(2026, 11, 3), 300
            ),
            gettext=gettext,
        )
        return render_html(context)


@pytest.fixture(scope="module")
def hostile_pdf(report_app, canary) -> bytes:
    """A school summary with hostile text in every place text can come from."""
    words = hostile(canary)
    release = make_release(
        themes=tuple(
            {"population": "group:bsu", "label": word, "size": "15", "quotes": [word]}
            for word in words
        )
    )
    bsu = replace(
        release.population("group:bsu"),
        label=replace(release.population("group:bsu").label, en=words[3]),
    )
    release = replace(
        release,
        populations=tuple(
            bsu if p.key == "group:bsu" else p for p in release.populations
        ),
    )
    findings = [
        reports.SharedFinding("group:bsu", kind, word, word, "accepted", word)
        for word in words
        for kind in ("finding", "recommendation")
    ]
    html = render(
        report_app,
        release,
        findings=findings,
        school=reports.SchoolInfo(words[0], words[1]),
    )
    return render_pdf(html)


@pytest.fixture(scope="module")
def spanish_group_pdf(report_app) -> bytes:
    return render_pdf(render(report_app, make_release(), scope="group:bsu", lang="es"))


def test_hostile_text_fetches_nothing(hostile_pdf, canary):
    assert hostile_pdf.startswith(b"%PDF")
    assert canary.requests == []


def test_hostile_text_attaches_nothing(hostile_pdf):
    assert pdf_attachments(hostile_pdf) == {}


def test_hostile_text_prints_as_literal_text(hostile_pdf):
    text = " ".join(pdf_text(hostile_pdf).split())
    assert '<link rel="attachment" href="file:///etc/passwd">' in text
    assert "{{ 7*7 }}" in text
    assert "{% for x in range(3) %}loop{% endfor %}" in text
    assert "looplooploop" not in text
    assert "root:x:0:0" not in text


def test_hostile_html_given_to_the_renderer_fetches_and_attaches_nothing(canary):
    html = "<html lang='en'><head><title>t</title></head><body><p>x</p>"
    html += "".join(hostile(canary)) + "</body></html>"
    pdf = render_pdf(html)
    assert canary.requests == []
    assert pdf_attachments(pdf) == {}
    assert "root:x:0:0" not in pdf_text(pdf)


def test_a_render_that_takes_too_long_is_stopped():
    rows = "<tr><td>cell</td><td>cell</td></tr>" * 200_000
    html = f"<html lang='en'><body><table>{rows}</table></body></html>"
    render_pdf("<html lang='en'><body>warm the renderer up</body></html>")
    started = time.monotonic()
    with pytest.raises(RenderTimeout):
        render_pdf(html, timeout=1.0)
    assert time.monotonic() - started < 10


def test_a_render_that_needs_too_much_memory_fails_cleanly():
    html = "<html lang='en'><body>" + "<p>word</p>" * 20_000 + "</body></html>"
    with pytest.raises(ReportError) as caught:
        render_pdf(html, memory_mb=64)
    assert not isinstance(caught.value, RenderTimeout)


# --- accessibility and print quality ------------------------------------------------


def structure(pdf: bytes) -> list[tuple[str, object]]:
    """Return the tag tree in reading order as (tag, Alt text or None) pairs."""
    reader = PdfReader(io.BytesIO(pdf))
    found: list[tuple[str, object]] = []

    def walk(node) -> None:
        node = node.get_object()
        if isinstance(node, dict):
            if "/S" in node:
                found.append((str(node["/S"]), node.get("/Alt")))
            kids = node.get("/K")
            if kids is not None:
                walk(kids)
        elif isinstance(node, list):
            for kid in node:
                walk(kid)

    walk(reader.trailer["/Root"]["/StructTreeRoot"])
    return found


@pytest.mark.parametrize(
    ("pdf_fixture", "lang"), [("hostile_pdf", "en"), ("spanish_group_pdf", "es")]
)
def test_the_pdf_is_tagged_with_its_language(request, pdf_fixture, lang):
    pdf = request.getfixturevalue(pdf_fixture)
    catalog = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    assert catalog["/Lang"] == lang
    assert bool(catalog["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in catalog


@pytest.mark.parametrize("pdf_fixture", ["hostile_pdf", "spanish_group_pdf"])
def test_headings_start_at_one_and_never_skip_a_level(request, pdf_fixture):
    tags = [tag for tag, _ in structure(request.getfixturevalue(pdf_fixture))]
    levels = [int(tag[2]) for tag in tags if re.fullmatch(r"/H[1-6]", tag)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))


@pytest.mark.parametrize("pdf_fixture", ["hostile_pdf", "spanish_group_pdf"])
def test_every_chart_has_alternative_text_and_tables_have_header_cells(
    request, pdf_fixture
):
    tags = structure(request.getfixturevalue(pdf_fixture))
    figures = [alt for tag, alt in tags if tag == "/Figure"]
    assert figures and all("%" in alt for alt in figures)
    assert ("/TH", None) in tags and ("/Table", None) in tags


@pytest.mark.parametrize("pdf_fixture", ["hostile_pdf", "spanish_group_pdf"])
def test_only_the_bundled_fonts_are_embedded(request, pdf_fixture):
    reader = PdfReader(io.BytesIO(request.getfixturevalue(pdf_fixture)))
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            assert "/FontFile2" in descriptor
            fonts.add(str(font["/BaseFont"]).split("+", 1)[1])
    # Liberation Sans 2 names itself with a hyphen; the 1.x fonts some systems
    # install do not, so this also proves the bundled files were used.
    assert fonts == {"Liberation-Sans", "Liberation-Sans-Bold"}


def test_the_spanish_group_summary_reads_in_spanish(spanish_group_pdf):
    text = " ".join(pdf_text(spanish_group_pdf).split())
    assert "Resumen ejecutivo" in text
    assert "Unión de Estudiantes Negros" in text
    assert "Executive summary" not in text
