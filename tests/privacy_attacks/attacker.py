"""The attacker of the privacy tests: read what an output publishes, then solve for it.

Each export format has a parser that turns a served payload into the figure keys it
shows a value for (``FORMATS``); pages are read through the ``data-figure`` names
they print (:func:`html_figures`). The
attacker then assumes the strongest reading of every shown value (a percentage or a
rounded count reveals its exact count) and bounds withheld figures by linear
programming over everything shown, non-negativity and the structural identities.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from html.parser import HTMLParser

import numpy as np
from pypdf import PdfReader
from scipy import sparse
from scipy.optimize import linprog

from voice.charts import TableData
from voice.privacy import Block
from voice.release import WITHHELD_CLASS, WITHHELD_TOKEN

_FIGURE = {"n": "n", "favorable": "fav", "mean": "sum"}


def csv_figures(text: str) -> dict[str, str | None]:
    """Map each figure of a served CSV to its text, or None where withheld."""
    shown: dict[str, str | None] = {}
    for row in csv.DictReader(io.StringIO(text)):
        value = None if row["value"] == WITHHELD_TOKEN else row["value"]
        if row["measure"] == "participation":
            shown[f"{row['population']}#participation#p"] = value
            continue
        figure = row["figure"]
        if figure == "change":
            continue  # a difference of two waves' released figures
        kind = f"o={figure[7:]}" if figure.startswith("option:") else _FIGURE[figure]
        shown[f"{row['population']}#{row['measure']}#{kind}"] = value
    return shown


def json_figures(text: str) -> dict[str, str | None]:
    """Map each figure of a served JSON export to its text, or None where withheld."""
    data = json.loads(text)
    shown: dict[str, str | None] = {}
    measures = {m["key"]: m for m in data["measures"]}
    for population in data["populations"]:
        shown[f"{population['key']}#participation#p"] = population["participation"]
    for population, row in data["cells"].items():
        for measure, cell in row.items():
            base = f"{population}#{measure}#"
            shown[base + "n"] = cell["n"]
            if measures[measure]["has_favorable"]:
                favorable = cell["favorable"]
                shown[base + "fav"] = favorable["text"] if favorable else None
            if measures[measure]["has_mean"]:
                shown[base + "sum"] = cell["mean"]
            for value, share in cell["distribution"]:
                shown[f"{base}o={value}"] = share["text"] if share else None
    return shown


class _LabelledFigures(HTMLParser):
    """Collect the text of every element a page labels with ``data-figure``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.figures: list[tuple[str, bool, str]] = []
        #: Open labelled elements: [key, withheld, text parts, depth]
        self._open: list[list] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for element in self._open:
            element[3] += 1
        named = dict(attrs)
        if "data-figure" in named:
            withheld = WITHHELD_CLASS in (named.get("class") or "").split()
            self._open.append([named["data-figure"], withheld, [], 0])

    def handle_endtag(self, tag: str) -> None:
        for element in list(self._open):
            if element[3] == 0:
                self._open.remove(element)
                key, withheld, parts, _ = element
                self.figures.append((key, withheld, " ".join("".join(parts).split())))
            else:
                element[3] -= 1

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element[2].append(data)


def html_figures(text: str) -> dict[str, str | None]:
    """Map each figure a page labels (``data-figure``) to its text, None if withheld.

    A cell of the equity gaps table reads "37% (+5 points)": the figure is the text
    before the gap. A figure printed twice (a chart's table and the key figures)
    must read the same both times.
    """
    parser = _LabelledFigures()
    parser.feed(text)
    parser.close()
    shown: dict[str, str | None] = {}
    for key, withheld, content in parser.figures:
        value = None if withheld else content.split(" (", 1)[0]
        if key in shown:
            assert shown[key] == value, (key, shown[key], value)
        shown[key] = value
    return shown


def table_figures(tables: Iterable[TableData], withheld: str) -> dict[str, str | None]:
    """Map each identified cell of charts' tables to its text, or None where withheld.

    A report's charts print their tables' cells; the same "figure (gap)" rule as in
    :func:`html_figures` applies.
    """
    shown: dict[str, str | None] = {}
    for table in tables:
        for row in table.cells():
            for text, key in row:
                if key is not None:
                    value = None if text == withheld else text.split(" (", 1)[0]
                    assert shown.setdefault(key, value) == value, key
    return shown


class _PrintedText(HTMLParser):
    """Collect the text a page prints, SVG text included, without what it only names."""

    _UNPRINTED = frozenset({"head", "style", "script", "title", "desc"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in self._UNPRINTED

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in self._UNPRINTED

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def figure_tokens(text: str, withheld: str) -> Counter[str]:
    """Count what reads as a figure in printed text: percentages, means, the marker."""
    pattern = rf"[<>]?\d+%|\b\d+\.\d+\b|{re.escape(withheld)}"
    return Counter(re.findall(pattern, " ".join(text.split())))


def printed_text(html: str) -> str:
    """Return the text an HTML document prints (what a PDF made from it reads)."""
    parser = _PrintedText()
    parser.feed(html)
    parser.close()
    return " ".join(parser.parts)


def pdf_text(pdf: bytes) -> str:
    """Return the text of every page of a PDF."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


#: Output format -> parser from payload text to {figure key: shown text or None}.
FORMATS: dict[str, Callable[[str], dict[str, str | None]]] = {
    "csv": csv_figures,
    "json": json_figures,
}


def shown_keys(figures: Mapping[str, str | None]) -> set[str]:
    """Return the keys of the figures shown with a value."""
    return {key for key, value in figures.items() if value is not None}


def bounds(
    system: Block,
    published: Collection[str],
    targets: Collection[str],
    *,
    sweeps: int = 6,
) -> dict[str, tuple[float, float]]:
    """Bound target figures as tightly as linear programming allows.

    First a few random objectives give feasible datasets; a target taking values a
    whole unit apart across them is shown not to be determined (its true interval is
    wider still). Every other target is bounded exactly by its own min and max LP.

    :param system: every figure of the wave with the true microcell counts
    :param published: keys of the figures the attacker reads exactly
    :param targets: keys of the withheld figures to bound
    :return: key -> (low, high): exact bounds, or values proven reachable
    """
    names = sorted(system.values)
    column = {name: j for j, name in enumerate(names)}
    truth = np.array([system.values[name] for name in names], dtype=float)
    forms = {f.key: f.terms for f in system.figures}

    def matrix(rows: list[Mapping[str, float]]) -> sparse.csr_array:
        data, indices, pointers = [], [], [0]
        for terms in rows:
            for name, coef in terms.items():
                indices.append(column[name])
                data.append(coef)
            pointers.append(len(indices))
        shape = (len(rows), len(names))
        return sparse.csr_array((data, indices, pointers), shape=shape)

    known = matrix(
        [forms[k] for k in published if k in forms] + list(system.identities)
    )
    rhs = known @ truth
    keys = list(targets)
    goals = matrix([forms[key] for key in keys])
    low = goals @ truth
    high = low.copy()

    def solve(objective: np.ndarray):
        return linprog(
            objective, A_eq=known, b_eq=rhs, bounds=(0, None), method="highs"
        )

    rng = np.random.default_rng(0)
    for _ in range(sweeps):
        direction = goals.T @ rng.choice((-1.0, 1.0), size=len(keys))
        for sign in (1.0, -1.0):
            result = solve(sign * direction)
            if result.status == 0:
                values = goals @ result.x
                np.minimum(low, values, out=low)
                np.maximum(high, values, out=high)
    for row in range(len(keys)):
        if high[row] - low[row] >= 1 - 1e-6:
            continue
        objective = goals[[row]].toarray().ravel()
        for sign in (1.0, -1.0):
            result = solve(sign * objective)
            if result.status == 3:
                value = -sign * np.inf
            else:
                assert result.status == 0, result.message
                value = sign * result.fun
            if sign > 0:
                low[row] = min(low[row], value)
            else:
                high[row] = max(high[row], value)
    return {key: (float(low[i]), float(high[i])) for i, key in enumerate(keys)}


def exact(low: float, high: float) -> bool:
    """Say whether an interval holds fewer than two integers (the value is known)."""
    return np.floor(high + 1e-6) - np.ceil(low - 1e-6) < 1
