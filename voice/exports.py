"""CSV and JSON downloads of a protected release, for one reader's populations.

Pure module: a :class:`~voice.release.ProtectedRelease` in, text out. Nothing here
computes a figure (DESIGN invariant 2): every value is the release's own coded text,
a withheld one is the token ``withheld`` in CSV and ``null`` in JSON, exactly as the
pages mark it (invariant 3). There are no per-respondent rows, ever.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from voice.privacy import CodedPercent
from voice.release import (
    WITHHELD_EXPLANATION,
    WITHHELD_TOKEN,
    Population,
    ProtectedRelease,
)

#: Column names of the CSV export, one row per figure.
CSV_COLUMNS = (
    "population",
    "population_label",
    "measure",
    "measure_label",
    "figure",
    "value",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(cell: str) -> str:
    """Stop a spreadsheet from reading ``cell`` as a formula, by a leading quote."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _text(value: CodedPercent | str | int | None) -> str:
    if value is None:
        return WITHHELD_TOKEN
    if isinstance(value, CodedPercent):
        return value.text
    return str(value)


def figure_rows(
    release: ProtectedRelease, populations: Iterable[Population], lang: str = "en"
) -> Iterator[tuple[str, ...]]:
    """Yield one CSV row per published or withheld figure, in release order.

    Figures that do not apply (a favorable share on a measure without favorable
    answers, a mean on a choice item, a change with no previous wave) are left out.
    """
    for population in populations:
        label = population.label.get(lang)
        yield (
            population.key,
            label,
            "participation",
            "",
            "n",
            _text(population.participation),
        )
        for measure, cell in release.table(population.key):
            head = (population.key, label, measure.key, measure.title.get(lang))
            yield (*head, "n", _text(cell.n_text))
            if measure.has_favorable:
                yield (*head, "favorable", _text(cell.favorable))
            if measure.has_mean:
                yield (*head, "mean", _text(cell.mean))
            for value, share in cell.distribution:
                yield (*head, f"option:{value}", _text(share))
            if release.previous_wave is not None and measure.has_favorable:
                yield (*head, "change", _text(cell.change))


def to_csv(
    release: ProtectedRelease, populations: Iterable[Population], lang: str = "en"
) -> str:
    """Write the release's figures for ``populations`` as CSV, formulas neutralized."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in figure_rows(release, populations, lang):
        writer.writerow([neutralize(cell) for cell in row])
    return out.getvalue()


def to_json(
    release: ProtectedRelease, populations: Iterable[Population], lang: str = "en"
) -> str:
    """Write the release's figures for ``populations`` as JSON; withheld is ``null``.

    Themes are included only for readers who see the whole lattice, since they are
    not (yet) scoped to populations.
    """
    visible = tuple(populations)
    keys = {p.key for p in visible}
    data: dict[str, Any] = release.to_json()
    data["populations"] = [p for p in data["populations"] if p["key"] in keys]
    data["cells"] = {key: row for key, row in data["cells"].items() if key in keys}
    if len(visible) != len(release.populations):
        data["themes"] = []
    data["sha256"] = release.sha256
    data["withheld"] = {
        "json": None,
        "explanation": WITHHELD_EXPLANATION.get(lang, WITHHELD_EXPLANATION["en"]),
    }
    data["language"] = lang
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)
