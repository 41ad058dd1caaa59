"""Accessible SVG charts of released figures, the same in web pages and PDFs.

Pure functions: plain released values in, an :class:`Svg` out. No Flask, no models,
no Babel: every word drawn comes from the :class:`ChartLabels` the caller passes, so
the module works in any language. The figures are already protected upstream
(DESIGN invariant 2); a withheld figure arrives as ``None`` and is drawn only as the
caller's withheld text, never as a number or a bar length (invariant 3).

What makes the output safe to use everywhere:

- SVG 1.1 with presentation attributes only (no CSS, no ``style`` attribute, no
  script, no external reference), so Chromium and WeasyPrint draw it alike, a
  strict Content-Security-Policy lets it through, and nothing is fetched. Its
  natural size is in ``width``/``height``, in em of the text around it (16 units
  per em), so chart words sit just under the page's body size in a browser and in
  the PDF alike; the page's stylesheet lets it shrink.
- ``role="img"`` with ``aria-labelledby`` naming a ``<title>`` and a ``<desc>``,
  and a :class:`TableData` with every number, for a table next to the chart.
- Colours meet 3:1 against white, text meets 4.5:1 against what it sits on, and
  answer options differ by pattern as well as colour, so colour is never the only
  cue. Text is at least 13 units high (about 0.8 em of the page's text).
- Every label is cleaned of characters XML cannot carry and escaped, and drawn in
  full: wrapped over as many lines as it needs (a word wider than its place is
  split with a hyphen); the gaps table sizes its columns from the measured text.
  Only absurd labels (beyond eight lines) are cut, and the table keeps the full
  text. Grid lines run only behind the marks, never through a label. Output is
  deterministic, so tests can compare it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from markupsafe import Markup, escape

__all__ = [
    "ChangeRow",
    "ChartLabels",
    "Coded",
    "ComparisonRow",
    "DistributionRow",
    "GapRow",
    "Percent",
    "Svg",
    "TableData",
    "change_chart",
    "distribution_chart",
    "favorable_comparison_chart",
    "gap_table_chart",
]


class Coded(Protocol):
    """A coded figure (such as ``privacy.CodedPercent``): a value to draw, a text."""

    @property
    def value(self) -> int | None:
        """Whole percent that sets the bar length; ``None`` means withheld."""

    @property
    def text(self) -> str:
        """What to print for the figure, e.g. ``"37%"`` or ``"<5%"``."""

    @property
    def is_coded(self) -> bool:
        """Whether ``value`` is only a bound (``"<5%"`` draws as 5)."""


#: A released percentage: a whole number, a coded figure, or ``None`` if withheld.
Percent = int | Coded | None


@dataclass(frozen=True, kw_only=True)
class ChartLabels:
    """Every localized word a chart draws, so the chart needs no translation layer.

    Build one per language with the caller's gettext, then ``dataclasses.replace``
    the title, description and category for each chart. Templates take the
    number in place of ``{value}``.
    """

    #: The chart's accessible name and the table caption
    title: str
    #: One or two sentences saying what the chart shows and its main finding
    description: str
    #: The single withheld marker, e.g. "Withheld" / "Reservado"
    withheld: str
    #: Header of the table's first column, e.g. "Group" or "Question"
    category: str
    #: Name of the reviewing group's series, e.g. "Your group"
    your_group: str
    #: Name of the school-wide series, e.g. "Whole school"
    whole_school: str
    #: Name of the earlier wave, e.g. "Fall 2025"
    previous: str
    #: Name of this wave, e.g. "Spring 2026"
    current: str
    #: Header for the group-minus-school difference, e.g. "Gap"
    gap: str
    #: Header for the this-wave-minus-previous difference, e.g. "Change"
    change: str
    #: How a percentage reads, e.g. "{value}%" or "{value} %"
    percent: str
    #: A difference of exactly one point, e.g. "{value} point"
    point: str
    #: Any other difference in points, e.g. "{value} points"
    points: str


@dataclass(frozen=True)
class DistributionRow:
    """How one population answered one question: a percent per answer option."""

    #: The population, e.g. "Your group"
    label: str
    #: One figure per option in option order; ``None`` when the whole row is withheld
    percents: tuple[Percent, ...] | None


@dataclass(frozen=True)
class ComparisonRow:
    """One scale or item: % favorable in the group and in the whole school."""

    label: str
    group: Percent
    school: Percent


@dataclass(frozen=True)
class ChangeRow:
    """One scale or item: % favorable in the previous wave and in this one."""

    label: str
    previous: Percent
    current: Percent


@dataclass(frozen=True)
class GapRow:
    """One group's % favorable per scale, for the equity gaps table."""

    label: str
    #: One figure per column of the table, in column order
    cells: tuple[Percent, ...]


@dataclass(frozen=True)
class TableData:
    """The numbers of a chart as a table; the first cell of each row is its header."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    #: Optional identifiers of the figures in each row's cells after the header (one
    #: per cell, ``None`` for a derived one such as a gap): the caller's names, set
    #: with :meth:`keyed`, so a page can label which released figure it prints.
    keys: tuple[tuple[str | None, ...], ...] = ()

    def keyed(self, keys: Sequence[Sequence[str | None]]) -> TableData:
        """Return this table with figure identifiers, one row of them per row.

        :raises ValueError: when the identifiers do not match the table's shape
        """
        shaped = tuple(tuple(row) for row in keys)
        if [len(k) for k in shaped] != [len(r) - 1 for r in self.rows]:
            raise ValueError("one identifier per figure cell of every row")
        return replace(self, keys=shaped)

    def cells(self) -> tuple[tuple[tuple[str, str | None], ...], ...]:
        """Return each row's figure cells paired with their identifiers, if any."""
        keys = self.keys or tuple((None,) * (len(row) - 1) for row in self.rows)
        return tuple(
            tuple(zip(row[1:], row_keys, strict=True))
            for row, row_keys in zip(self.rows, keys, strict=True)
        )


@dataclass(frozen=True)
class Svg:
    """A drawn chart and the table that carries the same figures as text."""

    #: Escaped, well-formed SVG, safe to put in a page or a PDF unchanged
    markup: Markup
    table: TableData

    def __html__(self) -> str:
        """Let Jinja insert the chart with ``{{ chart }}`` without escaping it."""
        return str(self.markup)

    def keyed(self, keys: Sequence[Sequence[str | None]]) -> Svg:
        """Return this chart with its table's figures identified (:meth:`TableData.keyed`)."""
        return replace(self, table=self.table.keyed(keys))


# --- Layout: units of the viewBox, drawn about 1:1 in print (see _root) -------------

_WIDTH = 360
#: viewBox units per em of the surrounding text: the chart's natural size is set in
#: ``em`` (see _root), so a 15-unit label reads just under the page's body text in
#: the web pages and the PDF alike, and never larger than their headings.
_UNITS_PER_EM = 16
#: Row labels longer than this many lines are cut (the table keeps the full text):
#: a guard against absurd input, far beyond any question's wording.
_MAX_LINES = 8
_FONT = 15
_SMALL = 13
_LINE = 19
_FONT_FAMILY = "'Liberation Sans', Arial, Helvetica, 'DejaVu Sans', sans-serif"

_INK = "#1A1A1A"
_MUTED = "#4D4D4D"
_WHITE = "#FFFFFF"
_BLACK = "#000000"
_GRID = "#D9D9D9"
_WITHHELD_FILL = "#F2F2F2"
_WITHHELD_LINE = "#767676"
_GROUP_FILL = "#0B4F8A"
_SCHOOL_FILL = "#6B6B6B"
_UP = "#0B4F8A"
_DOWN = "#B34700"

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Fold white space, but keep the no-break spaces of localized numbers ("64\u00a0%").
_SPACE = re.compile(r"[^\S\u00a0\u202f]+")
_MINUS = "\u2212"
_ELLIPSIS = "\u2026"


# --- Colour and pattern ----------------------------------------------------------


@dataclass(frozen=True)
class _Swatch:
    """A fill for one answer option: colour, pattern and the ink drawn on it."""

    fill: str
    pattern: str

    @property
    def ink(self) -> str:
        """Pick white or black text; a fill of 3:1 on white gives one of them 4.5:1."""
        return _WHITE if _contrast(self.fill, _WHITE) >= 4.5 else _BLACK


# Blue/orange diverging ramps (Okabe-Ito hues, darkened to 3:1 against white).
_NEGATIVE = {
    1: (_Swatch("#B34700", "backslash"),),
    2: (_Swatch("#9E3D00", "cross"), _Swatch("#E07000", "backslash")),
    3: (
        _Swatch("#7F3100", "cross"),
        _Swatch("#B34700", "backslash"),
        _Swatch("#E07000", "horizontal"),
    ),
}
_POSITIVE = {
    1: (_Swatch("#1F6FB5", "diagonal"),),
    2: (_Swatch("#4A8FD0", "diagonal"), _Swatch("#0B4F8A", "solid")),
    3: (
        _Swatch("#4A8FD0", "vertical"),
        _Swatch("#1F6FB5", "diagonal"),
        _Swatch("#0B3F70", "solid"),
    ),
}
_NEUTRAL = _Swatch("#767676", "dots")
_CATEGORICAL = (
    _Swatch("#0072B2", "solid"),
    _Swatch("#D55E00", "diagonal"),
    _Swatch("#007F5C", "dots"),
    _Swatch("#A8507F", "backslash"),
    _Swatch("#A36D00", "cross"),
    _Swatch("#595959", "horizontal"),
    _Swatch("#2A88C5", "vertical"),
    _Swatch("#7A6F00", "grid"),
)


def _swatches(count: int, *, ordinal: bool) -> tuple[_Swatch, ...]:
    """Give each option a fill: a diverging ramp for 2-7 ordered options."""
    if ordinal and 2 <= count <= 7:
        side = count // 2
        middle = (_NEUTRAL,) if count % 2 else ()
        return _NEGATIVE[side] + middle + _POSITIVE[side]
    return tuple(_CATEGORICAL[i % len(_CATEGORICAL)] for i in range(count))


def _luminance(colour: str) -> float:
    """Compute WCAG 2 relative luminance of a ``#RRGGBB`` colour."""
    channels = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    r, g, b = (
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    )
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    """Compute the WCAG 2 contrast ratio of two colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _blend(colour: str, over: str, alpha: float) -> str:
    """Mix ``over`` into ``colour`` so patterns need no opacity support."""
    mixed = (
        round(
            int(colour[i : i + 2], 16) * (1 - alpha) + int(over[i : i + 2], 16) * alpha
        )
        for i in (1, 3, 5)
    )
    return "#" + "".join(f"{c:02X}" for c in mixed)


_TILE = 8
_PATTERN_SHAPES = {
    "solid": (),
    "diagonal": ("M-1,1 L1,-1 M0,8 L8,0 M7,9 L9,7",),
    "backslash": ("M-1,7 L1,9 M0,0 L8,8 M7,-1 L9,1",),
    "cross": ("M-1,1 L1,-1 M0,8 L8,0 M7,9 L9,7", "M-1,7 L1,9 M0,0 L8,8 M7,-1 L9,1"),
    "horizontal": ("M0,4 L8,4",),
    "vertical": ("M4,0 L4,8",),
    "grid": ("M0,4 L8,4", "M4,0 L4,8"),
    "dots": (),
}


def _pattern(pattern_id: str, fill: str, pattern: str, line: str) -> str:
    """Define one tiling pattern: a fill with lines or dots in ``line``."""
    marks = "".join(
        _el("path", d=d, fill="none", stroke=line, stroke_width=1.6)
        for d in _PATTERN_SHAPES[pattern]
    )
    if pattern == "dots":
        marks = _el("circle", cx=4, cy=4, r=1.6, fill=line)
    return _el(
        "pattern",
        _el("rect", width=_TILE, height=_TILE, fill=fill) + marks,
        id=pattern_id,
        width=_TILE,
        height=_TILE,
        patternUnits="userSpaceOnUse",
    )


def _swatch_pattern(pattern_id: str, swatch: _Swatch) -> str:
    """Define a swatch's pattern with marks that keep its text legible."""
    # Darker marks under white text and lighter marks under dark text only ever
    # raise the text's contrast, so the patterns cost no legibility.
    over, alpha = ("#000000", 0.3) if swatch.ink == _WHITE else (_WHITE, 0.4)
    return _pattern(
        pattern_id, swatch.fill, swatch.pattern, _blend(swatch.fill, over, alpha)
    )


def _withheld_pattern(prefix: str) -> str:
    """Define the grey hatch that marks withheld figures in every chart."""
    return _pattern(f"{prefix}-withheld", _WITHHELD_FILL, "backslash", _WITHHELD_LINE)


# --- Text ------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry and fold runs of white space."""
    return _SPACE.sub(" ", _NOT_XML.sub("", text)).strip()


_NARROW = frozenset("fijlrtI.,:;!|'()[]¡ ")
_WIDE = frozenset("mwMW@%\u2014\u2026")


def _text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimate drawn width generously (DejaVu Sans metrics, the widest common sans)."""
    ems = 0.0
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            ems += 1.0
        elif ch in _NARROW:
            ems += 0.36
        elif ch in _WIDE:
            ems += 0.96
        elif ch.isupper():
            ems += 0.72
        elif ch.isdigit():
            ems += 0.64
        else:
            ems += 0.62
    return ems * size * (1.1 if bold else 1.0)


def _fit(text: str, width: float, size: float, bold: bool) -> str:
    """Cut ``text`` with an ellipsis so that it fits in ``width``."""
    if _text_width(text, size, bold=bold) <= width:
        return text
    while text and _text_width(text + _ELLIPSIS, size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + _ELLIPSIS


def _split_word(word: str, width: float, size: float, bold: bool) -> list[str]:
    """Break a word wider than a whole line into pieces that end in a hyphen."""
    pieces: list[str] = []
    while len(word) > 1 and _text_width(word, size, bold=bold) > width:
        cut = len(word) - 1
        while cut > 1 and _text_width(word[:cut] + "-", size, bold=bold) > width:
            cut -= 1
        pieces.append(word[:cut] + "-")
        word = word[cut:]
    return [*pieces, word]


def _wrap(
    text: str,
    width: float,
    size: float,
    *,
    bold: bool = False,
    max_lines: int | None = None,
) -> tuple[str, ...]:
    """Break ``text`` into lines of at most ``width``, every word kept whole.

    A word wider than a line is split with a hyphen rather than cut. Only past
    ``max_lines`` (a guard against absurd input; no limit by default) is the last
    line cut with an ellipsis.
    """
    lines: list[str] = []
    for word in text.split(" "):
        first, *rest = _split_word(word, width, size, bold)
        if lines and _text_width(f"{lines[-1]} {first}", size, bold=bold) <= width:
            lines[-1] = f"{lines[-1]} {first}"
        else:
            lines.append(first)
        lines.extend(rest)
    if max_lines is not None and len(lines) > max_lines:
        cut = " ".join(lines[max_lines - 1 :])
        lines = [*lines[: max_lines - 1], _fit(cut, width, size, bold)]
    return tuple(lines) or ("",)


def _widest_word(texts: Sequence[str], size: float, *, bold: bool = False) -> float:
    """Measure the widest single word of some labels (what a line must hold)."""
    return max(
        (_text_width(w, size, bold=bold) for t in texts for w in t.split(" ")),
        default=0.0,
    )


# --- Figures ---------------------------------------------------------------------


def _figure(value: Percent, labels: ChartLabels) -> tuple[int | None, str]:
    """Resolve a released figure into a drawable number and the text to print."""
    if value is None:
        return None, _clean(labels.withheld)
    if isinstance(value, int):
        number, text = value, labels.percent.replace("{value}", str(value))
    else:
        number, text = value.value, value.text
        if number is None:
            return None, _clean(labels.withheld)
    if isinstance(number, bool) or not 0 <= number <= 100:
        raise ValueError(
            f"a percentage must be a whole number from 0 to 100: {number!r}"
        )
    return number, _clean(text)


def _signed(number: int) -> str:
    """Write a difference with a real minus sign and an explicit plus."""
    if number > 0:
        return f"+{number}"
    if number < 0:
        return f"{_MINUS}{-number}"
    return "0"


def _is_coded(value: Percent) -> bool:
    """Tell whether a figure is top or bottom coded, so only a bound is known."""
    return value is not None and not isinstance(value, int) and value.is_coded


def _points(number: int | None, labels: ChartLabels, *, approximate: bool) -> str:
    """Write a difference in points, or the withheld text when it has no value.

    A difference taken from a coded figure ("<5%" drawn as 5) is only known to
    within a few points, so it is marked approximate rather than passed as exact.
    """
    if number is None:
        return _clean(labels.withheld)
    template = labels.point if abs(number) == 1 else labels.points
    written = _clean(template.replace("{value}", _signed(number)))
    return f"\u2248\u00a0{written}" if approximate else written


def _difference(a: int | None, b: int | None) -> int | None:
    """Subtract two released figures; withheld when either one is withheld."""
    return None if a is None or b is None else a - b


# --- SVG building ----------------------------------------------------------------


def _number(x: float) -> str:
    """Format a coordinate compactly and identically on every run."""
    text = f"{x:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _el(tag: str, content: str = "", **attrs: object) -> str:
    """Build one element; ``stroke_width`` becomes ``stroke-width``, values escaped."""
    parts = [tag]
    for name, value in attrs.items():
        if value is None:
            continue
        shown = _number(value) if isinstance(value, int | float) else str(value)
        parts.append(f'{name.replace("_", "-")}="{escape(shown)}"')
    opening = " ".join(parts)
    return f"<{opening}>{content}</{tag}>" if content else f"<{opening}/>"


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: int = _FONT,
    bold: bool = False,
    anchor: str | None = None,
    fill: str = _INK,
    cls: str | None = None,
) -> str:
    """Draw one line of escaped text with its baseline at ``y``."""
    return _el(
        "text",
        str(escape(text)),
        x=x,
        y=y,
        font_size=size,
        font_weight="bold" if bold else None,
        text_anchor=anchor,
        fill=fill,
        **{"class": cls},
    )


def _backing(
    x: float, y: float, text: str, *, bold: bool = False, anchor: str = "start"
) -> str:
    """Lay white under a small value label so a grid line never crosses it."""
    width = _text_width(text, _SMALL, bold=bold) + 4
    left = {"start": x - 2, "end": x - width + 2}[anchor]
    return _el("rect", x=left, y=y - 12, width=width, height=16, fill=_WHITE)


def _label_lines(text: str, y: float, width: float) -> tuple[str, float]:
    """Draw a row label in bold, wrapped over as many lines as it needs.

    :return: the markup and the y just below its last line
    """
    lines = _wrap(_clean(text), width, _FONT, bold=True, max_lines=_MAX_LINES)
    markup = "".join(
        _text(0, y + _FONT + i * _LINE, line, bold=True) for i, line in enumerate(lines)
    )
    return markup, y + len(lines) * _LINE


def _withheld_mark(x: float, y: float, labels: ChartLabels, prefix: str) -> str:
    """Draw the withheld marker in a bar's place: hatched square and the text.

    The text sits on white, so a grid line behind the row never runs through it.
    """
    text = _fit(_clean(labels.withheld), _WIDTH - x - 22, _SMALL, False)
    return (
        _el(
            "rect",
            x=x,
            y=y,
            width=16,
            height=16,
            fill=f"url(#{prefix}-withheld)",
            stroke=_WITHHELD_LINE,
        )
        + _el(
            "rect",
            x=x + 19,
            y=y - 1,
            width=_text_width(text, _SMALL) + 6,
            height=18,
            fill=_WHITE,
        )
        + _text(x + 22, y + 13, text, size=_SMALL, cls="withheld")
    )


def _withheld_bar(
    x: float, y: float, width: float, height: float, labels: ChartLabels, prefix: str
) -> str:
    """Draw a hatched grey bar carrying the withheld text when it fits."""
    bar = _el(
        "rect",
        x=x,
        y=y,
        width=width,
        height=height,
        fill=f"url(#{prefix}-withheld)",
        stroke=_WITHHELD_LINE,
    )
    text = _clean(labels.withheld)
    text_width = _text_width(text, _SMALL, bold=True)
    if text_width + 12 > width:
        return bar
    pill = _el(
        "rect",
        x=x + (width - text_width) / 2 - 5,
        y=y + height / 2 - 10,
        width=text_width + 10,
        height=20,
        rx=10,
        fill=_WHITE,
    )
    label = _text(
        x + width / 2,
        y + height / 2 + 4.5,
        text,
        size=_SMALL,
        bold=True,
        anchor="middle",
        cls="withheld",
    )
    return bar + pill + label


_Swatcher = Callable[[float, float], str]


def _legend(
    items: Sequence[tuple[_Swatcher, str]], y: float, width: float
) -> tuple[str, float]:
    """Lay legend entries out left to right, wrapping; return markup and next y."""
    markup, x, line_y = "", 0.0, y
    for swatch, raw in items:
        text = _fit(_clean(raw), width - 22, _SMALL, False)
        needed = 22 + _text_width(text, _SMALL)
        if x > 0 and x + needed > width:
            x, line_y = 0.0, line_y + 22
        markup += swatch(x, line_y + 1) + _text(x + 22, line_y + 13, text, size=_SMALL)
        x += needed + 16
    return markup, line_y + 22


def _box(fill: str, stroke: str | None = None) -> _Swatcher:
    """Return a legend swatch drawer for a 16 x 16 filled square."""

    def draw(x: float, y: float) -> str:
        return _el("rect", x=x, y=y, width=16, height=16, fill=fill, stroke=stroke)

    return draw


def _root(
    kind: str,
    prefix: str,
    width: float,
    height: float,
    labels: ChartLabels,
    defs: str,
    body: str,
) -> Markup:
    """Wrap a chart's body in the accessible, self-contained ``<svg>`` element."""
    title = _el("title", str(escape(_clean(labels.title))), id=f"{prefix}-title")
    desc = _el("desc", str(escape(_clean(labels.description))), id=f"{prefix}-desc")
    svg = _el(
        "svg",
        title + desc + _el("defs", defs) + body,
        xmlns="http://www.w3.org/2000/svg",
        version="1.1",
        id=prefix,
        viewBox=f"0 0 {_number(width)} {_number(height)}",
        # The natural size is in em of the text around the chart, so its words keep
        # one size relative to the page's own in a browser (17 px body) and in the
        # PDF (10.5 pt body): WeasyPrint and Chromium both resolve em here. Pages let
        # it shrink to the column through their stylesheet (``max-width: 100%;
        # height: auto``): a ``style`` attribute would be blocked by the
        # Content-Security-Policy (no 'unsafe-inline').
        width=_em(width),
        height=_em(height),
        role="img",
        aria_labelledby=f"{prefix}-title {prefix}-desc",
        font_family=_FONT_FAMILY,
        **{"class": f"chart chart-{kind}"},
    )
    return Markup(svg)


def _em(units: float) -> str:
    """Write a length in viewBox units as em of the surrounding text."""
    return f"{units / _UNITS_PER_EM:.3f}".rstrip("0").rstrip(".") + "em"


def _check(rows: Sequence[object], id_prefix: str) -> None:
    """Refuse an empty chart or an id that would not be a valid, unique XML id."""
    if not rows:
        raise ValueError("a chart needs at least one row")
    if not _ID.match(id_prefix):
        raise ValueError(
            f"id_prefix must be a letter then letters, digits, - or _: {id_prefix!r}"
        )


_TICKS = (0, 25, 50, 75, 100)


def _ticks(x0: float, x1: float, y: float, labels: ChartLabels) -> str:
    """Write the 0-100% tick labels once, above the first row."""
    markup = ""
    for tick in _TICKS:
        x = x0 + (x1 - x0) * tick / 100
        anchor = "start" if tick == 0 else "end" if tick == 100 else "middle"
        text = _clean(labels.percent.replace("{value}", str(tick)))
        markup += _text(x, y, text, size=_SMALL, anchor=anchor, fill=_MUTED)
    return markup


def _gridlines(x0: float, x1: float, top: float, bottom: float) -> str:
    """Draw light vertical lines at the ticks behind one row's marks only.

    Lines stop above each row's label and never reach the column of differences,
    so no text is crossed; they are drawn first, under the bars.
    """
    return "".join(
        _el(
            "path",
            d=f"M{_number(x0 + (x1 - x0) * t / 100)},{_number(top)} V{_number(bottom)}",
            stroke=_GRID,
        )
        for t in _TICKS
    )


# --- Charts ----------------------------------------------------------------------


def distribution_chart(
    rows: Sequence[DistributionRow],
    labels: ChartLabels,
    *,
    options: Sequence[str],
    id_prefix: str,
    ordinal: bool = True,
) -> Svg:
    """Draw 100% stacked bars of answers, one per population, to compare the spread.

    :param rows: one per population, e.g. the group then the whole school
    :param options: answer option labels, in the order of each row's percents
    :param id_prefix: unique on the page; prefixes every id in the chart
    :param ordinal: options run low to high (a diverging palette), else categories
    :return: the chart and its table
    :raises ValueError: on no rows, a bad id, a row of the wrong length or a bad figure
    """
    _check(rows, id_prefix)
    if not options:
        raise ValueError("a distribution needs at least one answer option")
    for row in rows:
        if row.percents is not None and len(row.percents) != len(options):
            raise ValueError(
                f"row {row.label!r} has {len(row.percents)} figures "
                f"for {len(options)} options"
            )
    swatches = _swatches(len(options), ordinal=ordinal)
    resolved = [
        [_figure(p, labels) for p in row.percents] if row.percents is not None else None
        for row in rows
    ]
    any_withheld = any(
        figures is None or any(number is None for number, _ in figures)
        for figures in resolved
    )
    defs = "".join(
        _swatch_pattern(f"{id_prefix}-o{i}", s) for i, s in enumerate(swatches)
    )
    defs += _withheld_pattern(id_prefix)
    entries: list[tuple[_Swatcher, str]] = [
        (_box(f"url(#{id_prefix}-o{i})"), option) for i, option in enumerate(options)
    ]
    if any_withheld:
        entries.append(
            (_box(f"url(#{id_prefix}-withheld)", _WITHHELD_LINE), labels.withheld)
        )
    body, y = _legend(entries, 0, _WIDTH)
    y += 10
    bar_height = 32
    for row, figures in zip(rows, resolved, strict=True):
        label, y = _label_lines(row.label, y, _WIDTH)
        body += label
        y += 6
        if figures is None or all(number is None for number, _ in figures):
            body += _withheld_bar(0, y, _WIDTH, bar_height, labels, id_prefix)
        else:
            body += _segments(figures, swatches, y, bar_height, labels, id_prefix)
        y += bar_height + 16
    return Svg(
        markup=_root("distribution", id_prefix, _WIDTH, y - 8, labels, defs, body),
        table=TableData(
            caption=_clean(labels.title),
            headers=(_clean(labels.category), *(_clean(o) for o in options)),
            rows=tuple(
                (
                    _clean(row.label),
                    *(
                        (text for _, text in figures)
                        if figures is not None
                        else (_clean(labels.withheld) for _ in options)
                    ),
                )
                for row, figures in zip(rows, resolved, strict=True)
            ),
        ),
    )


def _segments(
    figures: Sequence[tuple[int | None, str]],
    swatches: Sequence[_Swatch],
    y: float,
    height: float,
    labels: ChartLabels,
    prefix: str,
) -> str:
    """Draw one stacked bar; withheld options share one hatched tail segment."""
    known = sum(number for number, _ in figures if number is not None)
    partly_withheld = any(number is None for number, _ in figures)
    # Released percents are rounded, so a full row may sum to 99 or 101: stretch it
    # to the bar. A partly withheld row keeps true scale and hatches the remainder,
    # which says no more than the released figures already do.
    scale = max(known, 100 if partly_withheld else 1)
    tail = _WIDTH * (scale - known) / scale if partly_withheld else 0.0
    drawn = [(i, n, text) for i, (n, text) in enumerate(figures) if n]
    markup, x = "", 0.0
    for position, (i, number, text) in enumerate(drawn):
        width = _WIDTH * number / scale
        # A white hairline between segments; the last one reaches the bar's end.
        last = position == len(drawn) - 1 and tail < 1
        shown = width if last else max(width - 1, 0.5)
        markup += _el(
            "rect", x=x, y=y, width=shown, height=height, fill=f"url(#{prefix}-o{i})"
        )
        if _text_width(text, _SMALL, bold=True) + 8 <= shown:
            markup += _text(
                x + shown / 2,
                y + height / 2 + 4.5,
                text,
                size=_SMALL,
                bold=True,
                anchor="middle",
                fill=swatches[i].ink,
            )
        x += width
    if tail >= 1:
        markup += _withheld_bar(x, y, tail, height, labels, prefix)
    return markup


def favorable_comparison_chart(
    rows: Sequence[ComparisonRow], labels: ChartLabels, *, id_prefix: str
) -> Svg:
    """Draw the group's and the school's % favorable side by side, gap in points.

    :param rows: one per scale or item
    :param id_prefix: unique on the page; prefixes every id in the chart
    :return: the chart and its table
    :raises ValueError: on no rows, a bad id or a figure outside 0-100
    """
    _check(rows, id_prefix)
    defs = _pattern(
        f"{id_prefix}-school",
        _SCHOOL_FILL,
        "diagonal",
        _blend(_SCHOOL_FILL, _WHITE, 0.35),
    )
    defs += _withheld_pattern(id_prefix)
    school_fill = f"url(#{id_prefix}-school)"
    legend, y = _legend(
        [
            (_box(_GROUP_FILL), labels.your_group),
            (_box(school_fill), labels.whole_school),
        ],
        0,
        _WIDTH,
    )
    x1 = _WIDTH - 48
    body = _ticks(0, x1, y + 16, labels)
    y += 28
    table_rows = []
    for row in rows:
        group, group_text = _figure(row.group, labels)
        school, school_text = _figure(row.school, labels)
        gap_text = _points(
            _difference(group, school),
            labels,
            approximate=_is_coded(row.group) or _is_coded(row.school),
        )
        gap_drawn = _fit(gap_text, _WIDTH / 2, _FONT, True)
        gap_width = _text_width(gap_drawn, _FONT, bold=True)
        label, next_y = _label_lines(row.label, y, _WIDTH - gap_width - 12)
        body += label + _text(
            _WIDTH,
            y + _FONT,
            gap_drawn,
            bold=True,
            anchor="end",
            cls="withheld" if _difference(group, school) is None else None,
        )
        y = next_y + 5
        body += _gridlines(0, x1, y - 3, y + 36)
        for number, text, fill in (
            (group, group_text, _GROUP_FILL),
            (school, school_text, school_fill),
        ):
            if number is None:
                body += _withheld_mark(0, y - 0.5, labels, id_prefix)
            else:
                width = x1 * number / 100
                body += _el(
                    "rect", x=0, y=y, width=max(width, 0.5), height=15, fill=fill
                )
                body += _backing(width + 6, y + 12.5, text, bold=True)
                body += _text(width + 6, y + 12.5, text, size=_SMALL, bold=True)
            y += 18
        y += 12
        table_rows.append((_clean(row.label), group_text, school_text, gap_text))
    return Svg(
        markup=_root(
            "comparison", id_prefix, _WIDTH, y - 10, labels, defs, legend + body
        ),
        table=TableData(
            caption=_clean(labels.title),
            headers=tuple(
                _clean(h)
                for h in (
                    labels.category,
                    labels.your_group,
                    labels.whole_school,
                    labels.gap,
                )
            ),
            rows=tuple(table_rows),
        ),
    )


def change_chart(
    rows: Sequence[ChangeRow], labels: ChartLabels, *, id_prefix: str
) -> Svg:
    """Draw each figure's move from the previous wave to this one, in points.

    A dumbbell per row: a hollow dot for the previous wave, a filled one for this
    wave. The change is withheld when either end is.

    :param rows: one per scale or item
    :param id_prefix: unique on the page; prefixes every id in the chart
    :return: the chart and its table
    :raises ValueError: on no rows, a bad id or a figure outside 0-100
    """
    _check(rows, id_prefix)
    defs = _withheld_pattern(id_prefix)

    def hollow(x: float, y: float) -> str:
        return _el(
            "circle", cx=x + 8, cy=y + 8, r=6, fill=_WHITE, stroke=_INK, stroke_width=2
        )

    def filled(x: float, y: float) -> str:
        return _el("circle", cx=x + 8, cy=y + 8, r=7, fill=_GROUP_FILL)

    legend, y = _legend(
        [(hollow, labels.previous), (filled, labels.current)], 0, _WIDTH
    )
    x0, x1 = 44.0, _WIDTH - 44.0
    body = _ticks(x0, x1, y + 16, labels)
    y += 28
    table_rows = []
    for row in rows:
        before, before_text = _figure(row.previous, labels)
        after, after_text = _figure(row.current, labels)
        change = _difference(after, before)
        change_text = _points(
            change,
            labels,
            approximate=_is_coded(row.previous) or _is_coded(row.current),
        )
        change_drawn = _fit(change_text, _WIDTH / 2, _FONT, True)
        change_width = _text_width(change_drawn, _FONT, bold=True)
        label, next_y = _label_lines(row.label, y, _WIDTH - change_width - 12)
        body += label + _text(
            _WIDTH,
            y + _FONT,
            change_drawn,
            bold=True,
            anchor="end",
            cls="withheld" if change is None else None,
        )
        y = next_y + 4
        body += _gridlines(x0, x1, y, y + 24)
        body += _dumbbell(
            before, before_text, after, after_text, x0, x1, y + 12, labels, id_prefix
        )
        y += 24 + 14
        table_rows.append((_clean(row.label), before_text, after_text, change_text))
    return Svg(
        markup=_root("change", id_prefix, _WIDTH, y - 10, labels, defs, legend + body),
        table=TableData(
            caption=_clean(labels.title),
            headers=tuple(
                _clean(h)
                for h in (
                    labels.category,
                    labels.previous,
                    labels.current,
                    labels.change,
                )
            ),
            rows=tuple(table_rows),
        ),
    )


def _dumbbell(
    before: int | None,
    before_text: str,
    after: int | None,
    after_text: str,
    x0: float,
    x1: float,
    cy: float,
    labels: ChartLabels,
    prefix: str,
) -> str:
    """Draw one row's two dots, the line between them and their outer labels."""
    if before is None and after is None:
        return _withheld_mark(x0, cy - 8, labels, prefix)

    def at(number: int) -> float:
        return x0 + (x1 - x0) * number / 100

    markup = ""
    if before is not None and after is not None and before != after:
        colour = _UP if after > before else _DOWN
        markup += _el(
            "path",
            d=f"M{_number(at(before))},{_number(cy)} H{_number(at(after))}",
            stroke=colour,
            stroke_width=4,
        )
    # Each value is written on the outer side of its dot, so labels never collide.
    if before is not None:
        left = after is None or before <= after
        markup += _el(
            "circle",
            cx=at(before),
            cy=cy,
            r=6,
            fill=_WHITE,
            stroke=_INK,
            stroke_width=2,
        )
        markup += _backing(
            at(before) + (-11 if left else 11),
            cy + 4.5,
            before_text,
            anchor="end" if left else "start",
        )
        markup += _text(
            at(before) + (-11 if left else 11),
            cy + 4.5,
            before_text,
            size=_SMALL,
            anchor="end" if left else "start",
            fill=_MUTED,
        )
    if after is not None:
        right = before is None or after >= before
        markup += _el("circle", cx=at(after), cy=cy, r=7, fill=_GROUP_FILL)
        markup += _backing(
            at(after) + (11 if right else -11),
            cy + 4.5,
            after_text,
            bold=True,
            anchor="start" if right else "end",
        )
        markup += _text(
            at(after) + (11 if right else -11),
            cy + 4.5,
            after_text,
            size=_SMALL,
            bold=True,
            anchor="start" if right else "end",
        )
    return markup


# Gap bands from far below the school to far above it.
_GAP_FILLS = ("#B34700", "#FBE0C8", "#F2F2F2", "#DCEAF7", "#0B4F8A")


#: The gaps table's least row height, least and most label column and cell widths.
_GAP_ROW = 48.0
_GAP_LEFT = (120.0, 300.0)
#: Width the gaps table may take before it is shrunk on a letter page (48 em).
_GAP_FIT = 760.0
_GAP_COLUMN = (104.0, 180.0)


@dataclass(frozen=True)
class _GapGrid:
    """Geometry and banding of the equity gaps table."""

    prefix: str
    columns: int
    notable: int
    large: int
    #: Width of the row label column, from the labels' measured width
    left: float
    #: Width of each scale's column, from its header words and cell texts
    column: float

    @property
    def width(self) -> float:
        """Give the table's full width: the label column plus one per scale."""
        return self.left + self.column * self.columns

    def fill(self, gap: int | None) -> str:
        """Shade a cell by the band its gap falls in (neutral when unknown)."""
        if gap is None:
            return _GAP_FILLS[2]
        bands = (-self.large, -self.notable + 1, self.notable, self.large)
        return _GAP_FILLS[sum(gap >= edge for edge in bands)]

    def key(self) -> tuple[str, ...]:
        """Name each band with numbers only, so the key needs no translation."""
        n, m = self.notable, self.large
        return (
            f"\u2264 {_MINUS}{m}",
            f"{_MINUS}{m - 1} \u2026 {_MINUS}{n}",
            f"{_MINUS}{n - 1} \u2026 +{n - 1}",
            f"+{n} \u2026 +{m - 1}",
            f"\u2265 +{m}",
        )


def _gap_left(row_labels: Sequence[str], room: float) -> float:
    """Size the label column: labels on one line if the room the scale columns
    leave allows it (at least 160 units), wrapped between words otherwise.

    The column always holds the longest word of any label (up to 300 units), so
    names such as "Unión de Estudiantes Negros" never break inside a word.
    """
    low, high = _GAP_LEFT
    wrap_at = max(160.0, min(room - 12, high))
    widest = max(_text_width(t, _FONT, bold=True) for t in row_labels)
    word = _widest_word(row_labels, _FONT, bold=True)
    return max(low, min(max(min(widest, wrap_at), word), high) + 12)


def _gap_column(headers: Sequence[str], cells: Sequence[str], withheld: str) -> float:
    """Size the scale columns to hold every header word and every cell's text."""
    low, high = _GAP_COLUMN
    needed = max(
        _widest_word(headers, _SMALL, bold=True) + 10,
        max((_text_width(t, _SMALL) for t in cells), default=0.0) + 14,
        _text_width(withheld, _SMALL, bold=True) + 18,
    )
    return max(low, min(needed, high))


# A cell: the figure, its text, the gap to the school and how the gap reads.
_Cell = tuple[int | None, str, int | None, str]


def _gap_row(
    grid: _GapGrid,
    label: str,
    cells: Sequence[_Cell],
    y: float,
    labels: ChartLabels,
    *,
    reference: bool,
) -> tuple[str, float]:
    """Draw one row of the gaps table: its label, then a shaded cell per scale.

    :return: the markup and the row's height (taller when the label wraps)
    """
    lines = _wrap(_clean(label), grid.left - 12, _FONT, bold=True, max_lines=_MAX_LINES)
    height = max(_GAP_ROW, len(lines) * _LINE + 14)
    first = y + height / 2 + 5 - (len(lines) - 1) * _LINE / 2
    markup = "".join(
        _text(0, first + i * _LINE, line, bold=True) for i, line in enumerate(lines)
    )
    middle_y = y + height / 2
    for i, (number, text, gap, gap_text) in enumerate(cells):
        x, w, h = grid.left + grid.column * i + 2, grid.column - 4, height - 4
        if number is None:
            markup += _withheld_bar(x, y + 2, w, h, labels, grid.prefix)
            continue
        fill = _WHITE if reference else grid.fill(gap)
        ink = _WHITE if _contrast(fill, _WHITE) >= 4.5 else _BLACK
        markup += _el(
            "rect",
            x=x,
            y=y + 2,
            width=w,
            height=h,
            fill=fill,
            stroke=_GRID if reference else None,
        )
        middle = x + w / 2
        if reference:
            markup += _text(
                middle, middle_y + 5, text, bold=True, anchor="middle", fill=ink
            )
            continue
        markup += _text(
            middle, middle_y - 2, text, bold=True, anchor="middle", fill=ink
        )
        markup += _text(
            middle,
            middle_y + 15,
            _fit(gap_text, w - 6, _SMALL, False),
            size=_SMALL,
            anchor="middle",
            fill=ink,
            cls="withheld" if gap is None else None,
        )
    return markup, height


def gap_table_chart(
    rows: Sequence[GapRow],
    labels: ChartLabels,
    *,
    columns: Sequence[str],
    school: Sequence[Percent],
    id_prefix: str,
    notable: int = 5,
    large: int = 10,
) -> Svg:
    """Draw the equity gaps table: groups x scales, shaded by the gap to the school.

    Each cell prints the group's % favorable and its gap in points; the shade
    repeats the gap's sign and size (blue above the school, orange below), so
    colour adds emphasis but carries nothing the numbers do not. The label column
    and the scale columns are sized from the measured text (104 to 180 units per
    scale), so labels and headers are drawn whole; rows grow when a label wraps.
    The table is wider than the other charts: on a phone, show its
    :class:`TableData` instead.

    :param rows: one per group
    :param columns: the scales, in the order of each row's cells
    :param school: the whole school's figure per column (the reference row)
    :param id_prefix: unique on the page; prefixes every id in the chart
    :param notable: a gap at least this large (in points) is shaded lightly
    :param large: a gap at least this large is shaded strongly
    :return: the chart and its table
    :raises ValueError: on no rows, a bad id, rows of the wrong length or bad figures
    """
    _check(rows, id_prefix)
    if not columns or len(school) != len(columns):
        raise ValueError("the school row needs one figure per column")
    for row in rows:
        if len(row.cells) != len(columns):
            raise ValueError(
                f"row {row.label!r} has {len(row.cells)} figures "
                f"for {len(columns)} columns"
            )
    if not 0 < notable < large:
        raise ValueError("need 0 < notable < large")
    reference = [_figure(p, labels) for p in school]
    groups: list[list[_Cell]] = []
    for row in rows:
        cells: list[_Cell] = []
        for figure, base, (base_number, _) in zip(
            row.cells, school, reference, strict=True
        ):
            number, text = _figure(figure, labels)
            gap = _difference(number, base_number)
            coded = _is_coded(figure) or _is_coded(base)
            cells.append((number, text, gap, _points(gap, labels, approximate=coded)))
        groups.append(cells)
    column_names = [_clean(c) for c in columns]
    column = _gap_column(
        column_names,
        [t for cells in groups for _, t, _, gap_text in cells for t in (t, gap_text)],
        _clean(labels.withheld),
    )
    row_labels = [_clean(labels.whole_school), *(_clean(r.label) for r in rows)]
    grid = _GapGrid(
        id_prefix,
        len(columns),
        notable,
        large,
        left=_gap_left(row_labels, _GAP_FIT - column * len(columns)),
        column=column,
    )
    headers = [
        _wrap(c, grid.column - 8, _SMALL, bold=True, max_lines=_MAX_LINES)
        for c in column_names
    ]
    y = max(len(lines) for lines in headers) * 16 + 8
    body = ""
    for i, lines in enumerate(headers):
        cx = grid.left + grid.column * i + grid.column / 2
        for j, line in enumerate(lines):
            baseline = y - 8 - (len(lines) - 1 - j) * 16
            body += _text(cx, baseline, line, size=_SMALL, bold=True, anchor="middle")
    markup, height = _gap_row(
        grid,
        labels.whole_school,
        [(n, t, None, "") for n, t in reference],
        y,
        labels,
        reference=True,
    )
    body += markup
    y += height + 2
    body += _el(
        "path",
        d=f"M0,{_number(y)} H{_number(grid.width)}",
        stroke=_INK,
        stroke_width=1.5,
    )
    y += 4
    table_rows = [(_clean(labels.whole_school), *(t for _, t in reference))]
    for row, cells in zip(rows, groups, strict=True):
        markup, height = _gap_row(grid, row.label, cells, y, labels, reference=False)
        body += markup
        y += height
        table_rows.append(
            (
                _clean(row.label),
                *(
                    text if number is None else f"{text} ({gap_text})"
                    for number, text, _, gap_text in cells
                ),
            )
        )
    body += _text(
        0,
        y + 26,
        _fit(_clean(labels.gap), grid.width, _SMALL, True),
        size=_SMALL,
        bold=True,
    )
    key, y = _legend(
        [
            (_box(fill, _GRID), text)
            for fill, text in zip(_GAP_FILLS, grid.key(), strict=True)
        ],
        y + 36,
        grid.width,
    )
    return Svg(
        markup=_root(
            "gaps",
            id_prefix,
            grid.width,
            y,
            labels,
            defs=_withheld_pattern(id_prefix),
            body=body + key,
        ),
        table=TableData(
            caption=_clean(labels.title),
            headers=(_clean(labels.category), *column_names),
            rows=tuple(table_rows),
        ),
    )
