"""QR codes as SVG for posters and cut-apart code cards, drawn by the segno library.

Pure module: plain strings in, SVG text and frozen dataclasses out. No Flask, no
database, nothing fetched: every SVG is self-contained and prints the same from the
browser or a PDF.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import segno

#: Error correction "M" survives a smudged or creased 15% of a printed symbol.
ERROR_LEVEL = "m"
#: The quiet zone (white border, in modules) scanners need around a symbol.
QUIET_ZONE = 4
#: Cards per printed sheet: 2 across, 5 down on A4 or US Letter.
CARDS_PER_SHEET = 10


@dataclass(frozen=True)
class CodeCard:
    """One cut-apart card: the typed code, its link and the link's QR code."""

    code: str
    link: str
    svg: str


def qr_svg(data: str, *, label: str, css_class: str = "qr") -> str:
    """Return an inline, scalable SVG of ``data`` as a QR code.

    :param label: the accessible name, read out instead of the picture
    :param css_class: class of the ``<svg>`` element, for sizing
    """
    symbol = segno.make(data, error=ERROR_LEVEL, micro=False)
    svg = symbol.svg_inline(
        scale=1,
        border=QUIET_ZONE,
        omitsize=True,
        title=label,
        svgclass=css_class,
        lineclass=None,
        dark="#000",
        light="#fff",
    )
    return svg.replace("<svg ", '<svg role="img" ', 1)


def code_cards(
    links: Sequence[tuple[str, str]], *, label: str
) -> tuple[tuple[CodeCard, ...], ...]:
    """Lay out (code, link) pairs as cards, :data:`CARDS_PER_SHEET` to a sheet.

    :param label: accessible name of each card's QR code
    :return: one tuple of cards per printed sheet
    """
    cards = [
        CodeCard(code=code, link=link, svg=qr_svg(link, label=label, css_class="qr"))
        for code, link in links
    ]
    return tuple(
        tuple(cards[start : start + CARDS_PER_SHEET])
        for start in range(0, len(cards), CARDS_PER_SHEET)
    )


def poster_svg(
    *, link: str, headings: Sequence[str], lines: Sequence[str], label: str
) -> str:
    """Return a standalone A4 poster: headings, the QR code of ``link``, lines, link.

    Text is wrapped here because SVG does not wrap; sizes are in millimetres.

    :param headings: large lines above the code (survey title, group name)
    :param lines: instructions below the code, one paragraph each
    :param label: accessible name of the QR code
    """
    heading_rows = [textwrap.wrap(h, 28) or [""] for h in headings]
    line_rows = [textwrap.wrap(line, 60) for line in lines]
    text_height = sum(12.5 * len(rows) + 1.5 for rows in heading_rows) + sum(
        6.8 * len(rows) + 1.5 for rows in line_rows
    )
    # The code takes whatever the text leaves: A4 less margins, text and the link.
    side = max(60.0, min(150.0, 297.0 - 2 * 12 - 14 - 2 * 6 - text_height))
    parts: list[str] = []
    y = 12 + 9.0
    for rows in heading_rows:
        for row in rows:
            parts.append(_text(row, y=y, size=11, weight="700"))
            y += 12.5
        y += 1.5
    code = qr_svg(link, label=label, css_class="qr")
    parts.append(
        code.replace(
            "<svg ",
            f'<svg x="{(210 - side) / 2:.1f}" y="{y - 6:.1f}" '
            f'width="{side:.1f}" height="{side:.1f}" ',
            1,
        )
    )
    y += side + 6
    for rows in line_rows:
        for row in rows:
            parts.append(_text(row, y=y, size=5.5))
            y += 6.8
        y += 1.5
    parts.append(_text(link, y=297.0 - 14, size=4, family="monospace"))
    body = "\n".join(parts)
    title = escape(headings[0] if headings else label)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
        f'viewBox="0 0 210 297" role="img" aria-label="{title}">\n'
        f"<title>{title}</title>\n"
        '<rect width="210" height="297" fill="#fff"/>\n'
        f"{body}\n</svg>\n"
    )


def _text(
    content: str,
    *,
    y: float,
    size: float,
    weight: str = "400",
    family: str = "sans-serif",
) -> str:
    return (
        f'<text x="105" y="{y:.1f}" text-anchor="middle" font-family="{family}" '
        f'font-size="{size}" font-weight="{weight}" fill="#111">'
        f"{escape(content)}</text>"
    )
