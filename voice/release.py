"""The protected release of a closed wave: the one source every output renders from.

DESIGN invariant 2. A :class:`ProtectedRelease` holds every figure any page, CSV,
JSON, chart, PDF or email shows, already suppressed and coded: counts rounded to 5,
percentages whole and top/bottom coded (:func:`voice.privacy.code_percent`), means to
one decimal. A withheld figure is ``None`` here, whatever the reason, and is shown
with the one marker below in every output, so no two outputs can be differenced.

Pure module: frozen dataclasses and their canonical JSON; no Flask, no database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

from voice.privacy import CodedPercent

#: Bumped whenever a stored release's JSON changes meaning; readers check it.
FORMAT_VERSION = 1
#: The one text shown for every withheld figure, per language.
WITHHELD_TEXT: Mapping[str, str] = MappingProxyType(
    {"en": "Withheld", "es": "Reservado"}
)
#: Why figures are withheld, per language: the explanation offered to every reader.
WITHHELD_EXPLANATION: Mapping[str, str] = MappingProxyType(
    {
        "en": (
            "Withheld to protect students' anonymity: the figure rests on too few "
            "students, or could be worked out from other figures that do."
        ),
        "es": (
            "Reservado para proteger el anonimato de los estudiantes: la cifra "
            "se basa en muy pocos estudiantes, o se podría calcular a partir de "
            "otras cifras que sí lo hacen."
        ),
    }
)
#: CSS class of every withheld figure in HTML.
WITHHELD_CLASS = "withheld"
#: Cell text of every withheld figure in CSV (JSON uses ``null``).
WITHHELD_TOKEN = "withheld"

#: Population kinds, broadest first.
SCHOOL = "school"
GROUP = "group"
DIMENSION = "dimension"
GROUP_DIMENSION = "group_dimension"
#: Measure kinds.
ITEM = "item"
SCALE = "scale"


def figure_key(population: str, measure: str, kind: str) -> str:
    """Name one released figure the way the privacy audit names it.

    ``kind`` is ``n`` (respondents), ``fav`` (% favorable), ``sum`` (a mean, which
    publishes its sum), ``o=<option value>`` (a share); a population's participation
    is ``figure_key(population, "participation", "p")``. Every output labels the
    figures it prints with these names, so each can be checked against the others.
    """
    return f"{population}#{measure}#{kind}"


class ReleaseFormatError(ValueError):
    """A stored release was written in a format this code cannot read."""


@dataclass(frozen=True)
class Label:
    """A text in English and Spanish."""

    en: str
    es: str

    def get(self, lang: str) -> str:
        """Return the text in ``lang``, falling back to English."""
        return self.es if lang == "es" and self.es else self.en


@dataclass(frozen=True)
class Population:
    """One population of the release lattice (a row of every table)."""

    #: Stable across waves: ``school``, ``group:<slug>``, ``dim:<dimension>=<category>``
    #: or ``group:<slug>|dim:<dimension>=<category>``.
    key: str
    #: One of SCHOOL, GROUP, DIMENSION, GROUP_DIMENSION.
    kind: str
    #: What a reader sees, e.g. "Whole school", "BSU", "Grade band: 9th or 10th".
    label: Label
    #: Affinity group slug for GROUP and GROUP_DIMENSION, else None.
    group: str | None = None
    #: Self-identification dimension key for DIMENSION and GROUP_DIMENSION, else None.
    dimension: str | None = None
    #: Category key on ``dimension``, else None.
    category: str | None = None
    #: Respondents, rounded to 5, as text ("35"); None when withheld.
    participation: str | None = None


@dataclass(frozen=True)
class MeasureOption:
    """One answer option of a measure, in display order."""

    #: The stored option value as text ("1".."5" on five-point items, "yes", ...).
    value: str
    label: Label


@dataclass(frozen=True)
class Measure:
    """One closed item or one scale: a column group of every table."""

    #: ``item:<item key>`` or ``scale:<scale key>``.
    key: str
    #: ITEM or SCALE.
    kind: str
    title: Label
    options: tuple[MeasureOption, ...]
    #: Whether "% favorable" applies; when False ``ReleasedMeasure.favorable`` is
    #: always None and means "not applicable", not "withheld".
    has_favorable: bool
    #: Whether a mean applies (five-point items and scales).
    has_mean: bool
    #: For an item, the key of its scale (without prefix), else None.
    scale: str | None = None
    #: For a scale, its item keys (without prefix), in order.
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleasedMeasure:
    """Every figure shown for one measure in one population; None means withheld.

    On an item, percentages are shares of ``n`` respondents and the mean is of the
    raw option values (1..5). On a scale they are pooled over the answers to its
    items, on the positive orientation (reversed items turned round), and ``n`` is
    the respondents who answered at least one of its items.
    """

    #: Respondents behind the figures, rounded to 5, as text; None when withheld.
    n_text: str | None
    #: Share favorable, coded; None when withheld (or not applicable, see Measure).
    favorable: CodedPercent | None
    #: Mean to one decimal as text ("3.7"); None when withheld or not applicable.
    mean: str | None
    #: (option value, coded share or None) in the measure's option order.
    distribution: tuple[tuple[str, CodedPercent | None], ...]
    #: Points of % favorable since the previous wave; None when either end is
    #: withheld or top/bottom coded, or there is no previous wave.
    change: int | None = None

    @property
    def is_withheld(self) -> bool:
        """Say whether the whole measure is withheld for this population."""
        return self.n_text is None


@dataclass(frozen=True)
class Gap:
    """A group's % favorable minus the school's, in points (released figures only)."""

    population: str
    measure: str
    points: int


@dataclass(frozen=True)
class Change:
    """A released change of % favorable since the previous wave, in points."""

    population: str
    measure: str
    points: int


@dataclass(frozen=True)
class WaveInfo:
    """Which wave a release belongs to (staff-side facts; nothing about students)."""

    survey_id: int
    slug: str
    title: str
    wave_label: str
    school: str
    instrument_key: str
    instrument_version: int
    #: ISO 8601 UTC closing time of the wave.
    closed_at: str


@dataclass(frozen=True)
class AuditSummary:
    """The linear-programming audit that cleared the release (DESIGN invariant 3)."""

    passed: bool
    #: Withheld figures (including never-shown remainders) the audit bounded.
    checked: int
    lp_solves: int
    #: Smallest width of an attacker's interval around a withheld figure.
    narrowest_gap: float | None
    #: Suppress-and-audit rounds the slowest block needed.
    rounds: int
    #: Independent blocks protected (then audited jointly once more).
    blocks: int
    #: Candidate figures considered, and how many were withheld, and why.
    figures: int
    withheld_small: int
    withheld_complementary: int


def _coded_to_json(value: CodedPercent | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"value": value.value, "text": value.text, "coded": value.is_coded}


def _coded_from_json(data: Mapping[str, Any] | None) -> CodedPercent | None:
    if data is None:
        return None
    return CodedPercent(data["value"], data["text"], is_coded=data["coded"])


def _label(data: Mapping[str, str]) -> Label:
    return Label(data["en"], data["es"])


@dataclass(frozen=True)
class ProtectedRelease:
    """The immutable, audited figures of one closed wave (DESIGN invariants 2, 3).

    Render from this and nothing else. ``cells`` maps population key -> measure key ->
    :class:`ReleasedMeasure`; use :meth:`cell`.
    """

    wave: WaveInfo
    #: Suppression threshold used.
    k: int
    #: True when students answered through open links, which cannot stop one
    #: student answering twice: reports say so.
    is_open_link: bool
    populations: tuple[Population, ...]
    #: Scales first, then items that belong to no scale, then scale items.
    measures: tuple[Measure, ...]
    cells: Mapping[str, Mapping[str, ReleasedMeasure]]
    audit: AuditSummary
    #: Label of the previous wave the changes are measured from, if any.
    previous_wave: str | None = None
    #: Themes of open-text comments with representative redacted quotes, filled by
    #: the themes engineer: one JSON object per theme, in display order.
    themes: tuple[Mapping[str, Any], ...] = ()
    format_version: int = FORMAT_VERSION

    # -- lookups ---------------------------------------------------------------------

    @cached_property
    def _populations(self) -> Mapping[str, Population]:
        return {p.key: p for p in self.populations}

    @cached_property
    def _measures(self) -> Mapping[str, Measure]:
        return {m.key: m for m in self.measures}

    def population(self, key: str) -> Population:
        """Return the population called ``key`` (KeyError if not in the lattice)."""
        return self._populations[key]

    def measure(self, key: str) -> Measure:
        """Return the measure called ``key`` (KeyError if not released)."""
        return self._measures[key]

    def cell(self, population_key: str, measure_key: str) -> ReleasedMeasure:
        """Return the figures of one measure in one population."""
        return self.cells[population_key][measure_key]

    @property
    def scales(self) -> tuple[Measure, ...]:
        """Return the scale measures in instrument order."""
        return tuple(m for m in self.measures if m.kind == SCALE)

    @property
    def items(self) -> tuple[Measure, ...]:
        """Return the item measures in instrument order."""
        return tuple(m for m in self.measures if m.kind == ITEM)

    def populations_of(self, kind: str) -> tuple[Population, ...]:
        """Return the populations of one kind, in lattice order."""
        return tuple(p for p in self.populations if p.kind == kind)

    def visible_populations(
        self, group_slugs: Iterable[str] | None = None
    ) -> tuple[Population, ...]:
        """Return what one reader may see (DESIGN invariant 5).

        :param group_slugs: None for school-wide roles (everything); otherwise the
            reader's groups, who see those groups' rows plus the whole school as a
            comparison
        """
        if group_slugs is None:
            return self.populations
        mine = frozenset(group_slugs)
        return tuple(p for p in self.populations if p.kind == SCHOOL or p.group in mine)

    # -- summaries -------------------------------------------------------------------

    @cached_property
    def withheld_count(self) -> int:
        """Count withheld figures a reader would see marked (participation included)."""
        count = sum(1 for p in self.populations if p.participation is None)
        for population in self.populations:
            for measure in self.measures:
                cell = self.cell(population.key, measure.key)
                count += cell.n_text is None
                count += measure.has_favorable and cell.favorable is None
                count += measure.has_mean and cell.mean is None
                count += sum(1 for _, share in cell.distribution if share is None)
        return count

    def gaps(self) -> tuple[Gap, ...]:
        """Return each group's % favorable minus the school's, where both are released.

        Coded ends ("<5%", ">95%") give no gap: a difference of coded numbers would be
        made up.
        """
        gaps = []
        for measure in self.measures:
            if not measure.has_favorable:
                continue
            school = self.cell(SCHOOL, measure.key).favorable
            if school is None or school.is_coded or school.value is None:
                continue
            for population in self.populations_of(GROUP):
                group = self.cell(population.key, measure.key).favorable
                if group is None or group.is_coded or group.value is None:
                    continue
                gaps.append(
                    Gap(population.key, measure.key, group.value - school.value)
                )
        return tuple(gaps)

    def biggest_gaps(self, n: int) -> tuple[Gap, ...]:
        """Return the ``n`` widest gaps, widest first (ties in release order)."""
        return tuple(sorted(self.gaps(), key=lambda g: -abs(g.points))[:n])

    def changes(self) -> tuple[Change, ...]:
        """Return every released change since the previous wave."""
        return tuple(
            Change(population.key, measure.key, cell.change)
            for population in self.populations
            for measure in self.measures
            if (cell := self.cell(population.key, measure.key)).change is not None
        )

    def biggest_changes(self, n: int) -> tuple[Change, ...]:
        """Return the ``n`` largest changes in either direction, largest first."""
        return tuple(sorted(self.changes(), key=lambda c: -abs(c.points))[:n])

    def table(self, population_key: str) -> tuple[tuple[Measure, ReleasedMeasure], ...]:
        """Return one population's row of every measure: a dashboard page's data."""
        row = self.cells[population_key]
        return tuple((measure, row[measure.key]) for measure in self.measures)

    # -- storage ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Return the release as plain JSON values (withheld figures are null)."""
        return {
            "format_version": self.format_version,
            "wave": vars(self.wave).copy(),
            "k": self.k,
            "is_open_link": self.is_open_link,
            "previous_wave": self.previous_wave,
            "populations": [
                {**vars(p), "label": vars(p.label).copy()} for p in self.populations
            ],
            "measures": [
                {
                    **vars(m),
                    "title": vars(m.title).copy(),
                    "options": [
                        {"value": o.value, "label": vars(o.label).copy()}
                        for o in m.options
                    ],
                    "items": list(m.items),
                }
                for m in self.measures
            ],
            "cells": {
                population: {
                    measure: {
                        "n": cell.n_text,
                        "favorable": _coded_to_json(cell.favorable),
                        "mean": cell.mean,
                        "distribution": [
                            [value, _coded_to_json(share)]
                            for value, share in cell.distribution
                        ],
                        "change": cell.change,
                    }
                    for measure, cell in row.items()
                }
                for population, row in self.cells.items()
            },
            "audit": vars(self.audit).copy(),
            "themes": [dict(theme) for theme in self.themes],
        }

    def canonical_json(self) -> str:
        """Return the JSON the content hash is taken over (sorted keys, no spaces)."""
        return canonical_json(self.to_json())

    @cached_property
    def sha256(self) -> str:
        """Return the hex SHA-256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProtectedRelease:
        """Rebuild a release from :meth:`to_json` output.

        :raises ReleaseFormatError: if it was written in another format version
        """
        if data.get("format_version") != FORMAT_VERSION:
            raise ReleaseFormatError(
                f"release format {data.get('format_version')!r} is not {FORMAT_VERSION}"
            )
        return cls(
            wave=WaveInfo(**data["wave"]),
            k=data["k"],
            is_open_link=data["is_open_link"],
            previous_wave=data["previous_wave"],
            populations=tuple(
                Population(**{**p, "label": _label(p["label"])})
                for p in data["populations"]
            ),
            measures=tuple(
                Measure(
                    **{
                        **m,
                        "title": _label(m["title"]),
                        "options": tuple(
                            MeasureOption(o["value"], _label(o["label"]))
                            for o in m["options"]
                        ),
                        "items": tuple(m["items"]),
                    }
                )
                for m in data["measures"]
            ),
            cells=MappingProxyType(
                {
                    population: MappingProxyType(
                        {
                            measure: ReleasedMeasure(
                                n_text=cell["n"],
                                favorable=_coded_from_json(cell["favorable"]),
                                mean=cell["mean"],
                                distribution=tuple(
                                    (value, _coded_from_json(share))
                                    for value, share in cell["distribution"]
                                ),
                                change=cell["change"],
                            )
                            for measure, cell in row.items()
                        }
                    )
                    for population, row in data["cells"].items()
                }
            ),
            audit=AuditSummary(**data["audit"]),
            themes=tuple(MappingProxyType(theme) for theme in data["themes"]),
        )


def canonical_json(value: Any) -> str:
    """Serialise JSON deterministically, so equal releases hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
