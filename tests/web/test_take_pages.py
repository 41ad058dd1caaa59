"""Every student page is light, script-free, self-contained and labelled (issue 3).

The browser check with axe-core lives with the e2e tests; these checks read the HTML
itself, so they run everywhere and name the exact element that is wrong.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.web.take_helpers import (
    CLIMATE,
    PULSE_ANSWERS,
    Student,
    add_codes,
    in_future,
    in_past,
    publish,
)
from voice.models import AccessMode

CSS = Path(__file__).resolve().parents[2] / "voice" / "static" / "app.css"
#: Issue 3: HTML + CSS + any script of one student page.
PAGE_BUDGET = 50 * 1024


class _Structure(HTMLParser):
    """Record what the accessibility rules need: controls, labels, fieldsets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.labelled_ids: set[str] = set()
        self.controls: list[tuple[str, dict, bool, bool]] = []
        self.legends = 0
        self.fieldsets = 0
        self.h1 = 0
        self.external: list[str] = []
        self.inline_style = False
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if "style" in attributes or tag == "style":
            self.inline_style = True
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href", "action", "formaction"):
            if re.match(r"(https?:)?//", attributes.get(name, "")):
                self.external.append(attributes[name])
        if tag == "label" and "for" in attributes:
            self.labelled_ids.add(attributes["for"])
        if tag == "legend":
            self.legends += 1
        if tag == "fieldset":
            self.fieldsets += 1
        if tag == "h1":
            self.h1 += 1
        if (
            tag in ("input", "textarea", "select")
            and attributes.get("type") != "hidden"
        ):
            inside_label = any(t == "label" for t, _ in self.stack)
            inside_fieldset = any(t == "fieldset" for t, _ in self.stack)
            self.controls.append((tag, attributes, inside_label, inside_fieldset))
        if tag not in ("input", "meta", "link", "br", "img", "path", "rect"):
            self.stack.append((tag, attributes))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break


def _check(html: str) -> None:
    """Assert every rule on one rendered student page."""
    size = len(html.encode()) + CSS.stat().st_size
    assert size <= PAGE_BUDGET, f"{size} bytes"
    page = _Structure()
    page.feed(html)
    assert page.scripts == 0
    assert not page.inline_style
    assert page.external == []
    assert page.h1 == 1
    assert page.legends == page.fieldsets
    for tag, attributes, inside_label, inside_fieldset in page.controls:
        labelled = inside_label or attributes.get("id") in page.labelled_ids
        assert labelled, (tag, attributes)
        if attributes.get("type") in ("radio", "checkbox"):
            assert inside_fieldset, attributes


def _walk_climate(student: Student, code: str) -> list[str]:
    pages = [student.html]
    student.start(code=code)
    pages.append(student.html)
    while 'value="submit"' not in student.html:
        student.page({})
        pages.append(student.html)
    return pages


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_climate_page_is_light_script_free_and_labelled(app, client, db, lang):
    audience = publish(snapshot=CLIMATE, access_mode=AccessMode.codes)
    codes = add_codes(app, audience, 2)
    student = Student(client, audience, lang=lang)
    student.open()
    pages = _walk_climate(student, codes[0])
    assert len(pages) == 2 + 6
    for html in pages:
        assert f'<html lang="{lang}">' in html
        _check(html)


def test_error_states_of_the_pages_keep_the_rules(app, client, db):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    student = Student(client, audience, lang="es")
    student.start(code="WRONG")
    _check(student.html)
    student.start(code=code)
    student.page({"q-pulse_group_belong": "9", "q-extra": "1"})
    assert "take-alert" in student.html
    _check(student.html)


def test_thanks_and_notice_pages_keep_the_rules(client, db):
    audience = publish()
    Student(client, audience).complete(PULSE_ANSWERS)
    pages = [
        client.get(f"/s/{audience.token}/thanks?lang=es"),
        client.get("/s/unknown-link"),
        client.get(f"/s/{publish(opens_closes=in_past()).token}"),
        client.get(f"/s/{publish(opens_closes=in_future()).token}?lang=es"),
    ]
    assert [p.status_code for p in pages] == [200, 404, 410, 403]
    for response in pages:
        _check(response.get_data(as_text=True))


def test_pages_are_never_cached_and_keep_no_referrer(client, db):
    audience = publish()
    response = client.get(f"/s/{audience.token}")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "bad",
    [
        '<h1>x</h1><input type="radio" name="a">',
        '<h1>x</h1><label>A <input type="radio" name="a"></label>',
        "<h1>x</h1><script>alert(1)</script>",
        '<h1>x</h1><p style="color:red">x</p>',
        '<h1>x</h1><img src="https://cdn.example/x.png">',
        "<h1>x</h1><fieldset><label>A <input type=radio></label></fieldset>",
        "<p>no heading</p>",
    ],
)
def test_page_check_catches_what_it_is_for(bad):
    with pytest.raises(AssertionError):
        _check(bad)
