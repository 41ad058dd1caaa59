"""QR codes and posters: valid SVG that encodes exactly the link it claims to."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import segno

from voice.qr import CARDS_PER_SHEET, QUIET_ZONE, code_cards, poster_svg, qr_svg

SVG = "{http://www.w3.org/2000/svg}"
LINK = "https://voice.example.org/s/3q2-0PgHk0bcgL1dJXnVhXf8CU5x1vOr"
_STEP = re.compile(r"([Mmh])(-?\d+(?:\.\d+)?)(?: (-?\d+(?:\.\d+)?))?")


def dark_modules(svg: str) -> set[tuple[int, int]]:
    """Read the dark modules back out of a segno SVG path (a tiny QR 'scanner')."""
    path = re.search(r'<path stroke="#000" d="([^"]+)"', svg)
    assert path, "no QR path in the SVG"
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, a, b in _STEP.findall(path.group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            row = int(y - 0.5) - QUIET_ZONE
            dark.update((row, int(x) + i - QUIET_ZONE) for i in range(int(float(a))))
            x += float(a)
    return dark


def encoded_modules(data: str) -> set[tuple[int, int]]:
    """Return the dark modules of the reference symbol for ``data``."""
    matrix = segno.make(data, error="m", micro=False).matrix
    return {(r, c) for r, row in enumerate(matrix) for c, v in enumerate(row) if v}


def decodes_to(svg: str, data: str) -> bool:
    """Say whether ``svg`` draws exactly the QR symbol of ``data``."""
    return dark_modules(svg) == encoded_modules(data)


def test_qr_svg_draws_exactly_the_symbol_of_its_link():
    svg = qr_svg(LINK, label="Open the survey")
    assert decodes_to(svg, LINK)
    assert not decodes_to(svg, LINK + "x")


def test_qr_svg_is_valid_accessible_and_scalable():
    svg = qr_svg(LINK, label="Open <the> survey & go")
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("viewBox") and root.get("width") is None
    assert root.find("title").text == "Open <the> survey & go"


def test_poster_is_a_standalone_svg_with_the_link_in_text_and_in_the_code():
    svg = poster_svg(
        link=LINK,
        headings=["Climate & belonging <Fall>", "Black Student Union"],
        lines=["Scan the code with your phone's camera. " * 4],
        label="QR code",
    )
    root = ET.fromstring(svg.split("?>", 1)[1])
    assert root.tag == f"{SVG}svg" and root.get("viewBox") == "0 0 210 297"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert LINK in texts and "Climate & belonging <Fall>" in texts
    assert all(len(text) <= 60 for text in texts if text != LINK)
    inner = svg[svg.index("<svg x=") :]
    assert decodes_to(inner, LINK)


def test_poster_text_never_overlaps_or_runs_off_the_page():
    svg = poster_svg(
        link=LINK,
        headings=["A rather long survey title for the spring wave", "Group", "Grupo"],
        lines=["Every word of this paragraph has to fit on the page. " * 3] * 6,
        label="QR code",
    )
    root = ET.fromstring(svg.split("?>", 1)[1])
    ys = [float(t.get("y")) for t in root.iter(f"{SVG}text")]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    assert max(ys) < 297 - 5
    code = next(e for e in root.iter(f"{SVG}svg") if e.get("x"))
    top, side = float(code.get("y")), float(code.get("height"))
    assert side >= 60
    assert not any(top - 3 < y < top + side + 3 for y in ys)


def test_cards_are_grouped_into_sheets_and_each_encodes_its_own_code():
    links = [(f"CODE-{n:04}", f"{LINK}?code=CODE-{n:04}") for n in range(23)]
    sheets = code_cards(links, label="QR")
    assert [len(sheet) for sheet in sheets] == [CARDS_PER_SHEET, CARDS_PER_SHEET, 3]
    cards = [card for sheet in sheets for card in sheet]
    assert [card.code for card in cards] == [code for code, _ in links]
    assert all(decodes_to(card.svg, card.link) for card in cards)


@pytest.mark.parametrize("count", [0, 1, CARDS_PER_SHEET, CARDS_PER_SHEET + 1])
def test_sheet_count_rounds_up(count):
    links = [(str(n), f"{LINK}?code={n}") for n in range(count)]
    assert len(code_cards(links, label="QR")) == -(-count // CARDS_PER_SHEET)
