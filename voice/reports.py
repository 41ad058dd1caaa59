"""Leadership summaries: a report's content from a release, and its PDF, safely.

:func:`build_report_context` is pure: it takes the wave's protected release and plain
values (the groups' shared findings, the school, staff-side facts about the wave) and
returns a frozen :class:`ReportContext` that the ``templates/report/`` templates
render. Every figure in it is a released one, printed as released (DESIGN invariant
2); the only arithmetic is the response rate, a released participation count over
the number of ballot codes staff printed.

:func:`render_pdf` turns the rendered HTML into a tagged PDF (PDF/UA) in a separate
process with a deadline and a memory cap, so a hostile comment cannot stall or
exhaust the server, and with a URL fetcher that serves the project's bundled fonts
and ``data:`` URLs and refuses everything else: no ``file:``, no network, no
redirects.
"""

from __future__ import annotations

import base64
import multiprocessing
import re
import resource
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from babel.dates import format_date

from voice.charts import (
    ChangeRow,
    ChartLabels,
    ComparisonRow,
    DistributionRow,
    GapRow,
    Svg,
    TableData,
    change_chart,
    distribution_chart,
    favorable_comparison_chart,
    gap_table_chart,
)
from voice.release import (
    DIMENSION,
    GROUP,
    SCHOOL,
    WITHHELD_EXPLANATION,
    WITHHELD_TEXT,
    Change,
    Gap,
    Label,
    Measure,
    Population,
    ProtectedRelease,
    ReleasedMeasure,
    figure_key,
)

#: Scheme of the bundled assets a report may load, e.g. ``voice-asset:fonts/x.ttf``.
ASSET_SCHEME = "voice-asset"
#: The only directory the URL fetcher reads from.
FONTS_DIR = Path(__file__).resolve().parent / "static" / "fonts"
#: Seconds a PDF may take to render before its process is killed.
RENDER_TIMEOUT = 60.0
#: Address space a rendering process may add to what it maps at start, in MiB.
RENDER_MEMORY_MB = 1024
#: How many gaps and changes the executive summary leads with, at most.
HEADLINES = 5
#: Populations side by side in one appendix table (more are split over tables).
APPENDIX_COLUMNS = 6

_ASSET_PATH = re.compile(r"fonts/[A-Za-z0-9][A-Za-z0-9_-]*\.ttf\Z")
_MIB = 1024 * 1024

Translate = Callable[[str], str]


class ReportError(Exception):
    """A report could not be built or rendered; the message is safe to show staff."""


class RenderTimeout(ReportError):
    """Rendering took longer than its deadline and was stopped."""


class AssetRefused(ValueError):
    """The PDF asked for a resource outside the bundled assets (and gets nothing)."""


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolInfo:
    """The school a report is about."""

    name: str
    district: str = ""


@dataclass(frozen=True)
class SurveyMeta:
    """Staff-side facts about the wave that the release does not carry."""

    title: str
    wave_label: str
    #: The day the report is generated (shown on the cover).
    generated_on: date
    #: Ballot codes printed for the report's scope; None for open links.
    invited: int | None = None


@dataclass(frozen=True)
class SharedFinding:
    """A finding or recommendation a group shared with leadership, and the answer."""

    #: Population key of the group (``group:<slug>``).
    group: str
    #: ``"finding"`` or ``"recommendation"``.
    kind: str
    text: str
    #: Who a recommendation is for; empty for findings.
    audience: str = ""
    #: ``LeaderAnswer`` value (``accepted``, ``in_progress``, ``not_now``) or None.
    answer: str | None = None
    answer_note: str = ""


# --- output -------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A chart with the heading and sentence that introduce it."""

    heading: str
    svg: Svg
    note: str = ""


@dataclass(frozen=True)
class ThemeView:
    """One theme of open-text comments, with redacted representative quotes."""

    label: str
    #: Comments in the theme, as released (rounded); None when withheld.
    size: str | None
    quotes: tuple[str, ...]
    #: Whose comments these are, when the report covers several populations.
    population: str | None = None
    #: The theme's tone in the report's language, or None where none is released.
    tone: str | None = None
    #: The theme of the comments too few to make themes of their own.
    is_other: bool = False
    #: False while the theme is labelled by its distinctive words, not by a name.
    is_named: bool = True
    #: True when every quote of the theme was already printed under another theme.
    quotes_above: bool = False


@dataclass(frozen=True)
class ThemeSection:
    """The themes of one population, in display order."""

    #: The population's name, or None for the report's own scope.
    population: str | None
    themes: tuple[ThemeView, ...]


@dataclass(frozen=True)
class SharedView:
    """A shared finding or recommendation, ready to print."""

    group: str
    kind: str
    text: str
    audience: str
    #: The leader's answer in the report's language, or None if not answered yet.
    answer: str | None
    answer_note: str


@dataclass(frozen=True)
class Methodology:
    """What the privacy page states: the threshold and what was withheld and why."""

    k: int
    withheld: int
    withheld_small: int
    withheld_complementary: int
    figures: int
    audit_passed: bool
    is_open_link: bool
    explanation: str


@dataclass(frozen=True)
class ReportContext:
    """Everything a report template shows, in one language, from one release."""

    lang: str
    #: ``"school"`` or the group's population key.
    scope: str
    is_group: bool
    #: The document title (cover heading and PDF title).
    title: str
    #: Whole school, or the group's name.
    scope_label: str
    school: SchoolInfo
    survey_title: str
    wave_label: str
    previous_wave: str | None
    generated_on: str
    #: Respondents in scope, rounded to 5, as released; None when withheld.
    participation: str | None
    #: Share of printed ballot codes used, e.g. "78%"; None when not known.
    response_rate: str | None
    #: Whether the scope's own figures are released at all.
    is_released: bool
    #: (group name, rounded participation or None, its figure key) for each group,
    #: school reports only.
    group_participation: tuple[tuple[str, str | None, str], ...]
    headlines: tuple[str, ...]
    comparison: Figure | None
    change: Figure | None
    scale_figures: tuple[Figure, ...]
    gap_tables: tuple[Figure, ...]
    themes: tuple[ThemeView, ...]
    findings: tuple[SharedView, ...]
    recommendations: tuple[SharedView, ...]
    methodology: Methodology
    appendix: tuple[TableData, ...]
    withheld: str

    @property
    def theme_sections(self) -> tuple[ThemeSection, ...]:
        """Return the themes grouped by population, in the order they come."""
        sections: dict[str | None, list[ThemeView]] = {}
        for theme in self.themes:
            sections.setdefault(theme.population, []).append(theme)
        return tuple(
            ThemeSection(population, tuple(themes))
            for population, themes in sections.items()
        )


# --- building the context -----------------------------------------------------------


def _identity(text: str) -> str:
    return text


def build_report_context(
    release: ProtectedRelease,
    *,
    scope: str,
    lang: str,
    findings: Sequence[SharedFinding],
    school: SchoolInfo,
    survey_meta: SurveyMeta,
    gettext: Translate = _identity,
) -> ReportContext:
    """Lay out one report from the release, in ``lang``, for a school or one group.

    :param scope: ``"school"`` or a group population key such as ``"group:bsu"``
    :param findings: shared findings and recommendations; for a group report only
        that group's are shown
    :param gettext: translates the report's own sentences into ``lang`` (the caller
        passes Flask-Babel's under a forced locale; English by default)
    :raises ReportError: if ``scope`` is not a group of this release
    """
    _ = gettext
    if scope != SCHOOL:
        try:
            population = release.population(scope)
        except KeyError:
            raise ReportError(f"{scope!r} is not a group of this release") from None
        if population.kind != GROUP:
            raise ReportError(f"{scope!r} is not a group of this release")
    else:
        population = release.population(SCHOOL)
    is_group = scope != SCHOOL
    scope_label = population.label.get(lang) if is_group else _("Whole school")
    words = _chart_words(release, lang, _)
    measures = _headline_measures(release)
    groups = release.populations_of(GROUP)
    title = (
        _("%(group)s: %(survey)s, %(wave)s")
        % {
            "group": scope_label,
            "survey": survey_meta.title,
            "wave": release.wave.wave_label,
        }
        if is_group
        else _("%(survey)s, %(wave)s: school summary")
        % {"survey": survey_meta.title, "wave": release.wave.wave_label}
    )
    if is_group:
        comparison = _comparison(release, scope, measures, lang, words, _)
        scale_figures = tuple(
            _distribution(release, m, scope, scope_label, lang, words, _)
            for m in measures
        )
        gap_tables = _gap_tables(
            release,
            (population,),
            (),
            measures,
            lang,
            words,
            _,
            groups_title=_("This group's gap to the whole school"),
        )
    else:
        comparison = None
        scale_figures = tuple(
            _groups_figure(release, groups, m, lang, words, _) for m in measures
        )
        gap_tables = _gap_tables(
            release,
            groups,
            release.populations_of(DIMENSION),
            measures,
            lang,
            words,
            _,
        )
    shared = [f for f in findings if not is_group or f.group == scope]
    return ReportContext(
        lang=lang,
        scope=scope,
        is_group=is_group,
        title=title,
        scope_label=scope_label,
        school=school,
        survey_title=survey_meta.title,
        wave_label=release.wave.wave_label,
        previous_wave=release.previous_wave,
        generated_on=format_date(survey_meta.generated_on, "long", locale=lang),
        participation=population.participation,
        response_rate=_response_rate(population.participation, survey_meta.invited),
        is_released=population.participation is not None,
        group_participation=()
        if is_group
        else tuple(
            (
                g.label.get(lang),
                g.participation,
                figure_key(g.key, "participation", "p"),
            )
            for g in groups
        ),
        headlines=_headlines(release, scope if is_group else None, lang, _),
        comparison=comparison,
        # A withheld group's changes are all withheld: show the school's instead.
        change=_change(
            release,
            scope if population.participation is not None else SCHOOL,
            measures,
            lang,
            words,
            _,
            in_group_report=is_group,
        ),
        scale_figures=scale_figures,
        gap_tables=gap_tables,
        themes=_themes(release, scope, lang, _),
        findings=tuple(
            _shared_view(release, f, lang, _) for f in shared if f.kind == "finding"
        ),
        recommendations=tuple(
            _shared_view(release, f, lang, _)
            for f in shared
            if f.kind == "recommendation"
        ),
        methodology=Methodology(
            k=release.k,
            withheld=release.withheld_count,
            withheld_small=release.audit.withheld_small,
            withheld_complementary=release.audit.withheld_complementary,
            figures=release.audit.figures,
            audit_passed=release.audit.passed,
            is_open_link=release.is_open_link,
            explanation=WITHHELD_EXPLANATION.get(lang, WITHHELD_EXPLANATION["en"]),
        ),
        appendix=_appendix(
            release,
            (population, release.population(SCHOOL))
            if is_group
            else (population, *groups),
            lang,
            _,
        ),
        withheld=words.withheld,
    )


def _chart_words(release: ProtectedRelease, lang: str, _: Translate) -> ChartLabels:
    """Return the words every chart draws, in ``lang``."""
    return ChartLabels(
        title="",
        description="",
        withheld=WITHHELD_TEXT.get(lang, WITHHELD_TEXT["en"]),
        category=_("Scale"),
        your_group=_("This group"),
        whole_school=_("Whole school"),
        previous=release.previous_wave or "",
        current=release.wave.wave_label,
        gap=_("Gap"),
        change=_("Change"),
        percent=_("{value}%"),
        point=_("{value} point"),
        points=_("{value} points"),
    )


def _described(
    draw: Callable[..., Svg], rows: Any, labels: ChartLabels, **options: Any
) -> Svg:
    """Draw a chart whose SVG title, its alternative text in the PDF, has its figures.

    WeasyPrint takes a chart's alternative text from the SVG ``<title>``; a heading
    alone would leave a screen-reader user without the numbers, so the title goes
    on to read out the chart's own table ("Belonging: This group 44%, ...").
    """
    table = draw(rows, labels, **options).table
    spoken = f"{labels.title}. {_table_sentence(table)}"
    return replace(draw(rows, replace(labels, title=spoken), **options), table=table)


def _table_sentence(table: TableData) -> str:
    """Read a chart's table as text: one clause per row, header before each value."""
    clauses = []
    for row in table.rows:
        cells = ", ".join(
            f"{header} {value}"
            for header, value in zip(table.headers[1:], row[1:], strict=False)
            if value
        )
        clauses.append(f"{row[0]}: {cells}" if cells else row[0])
    return "; ".join(clauses) + "."


def _headline_measures(release: ProtectedRelease) -> tuple[Measure, ...]:
    """Return the measures compared at a glance: scales, or items if none."""
    return tuple(m for m in release.scales if m.has_favorable) or tuple(
        m for m in release.items if m.has_favorable
    )


def _chart_id(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_-]", "-", part) for part in parts)


def _comparison(
    release: ProtectedRelease,
    scope: str,
    measures: Sequence[Measure],
    lang: str,
    words: ChartLabels,
    _: Translate,
) -> Figure | None:
    """Draw the group's % favorable on every scale beside the whole school's."""
    if not measures:
        return None
    title = _("Percent favorable: this group and the whole school")
    return Figure(
        heading=title,
        svg=_described(
            favorable_comparison_chart,
            [
                ComparisonRow(
                    m.title.get(lang),
                    release.cell(scope, m.key).favorable,
                    release.cell(SCHOOL, m.key).favorable,
                )
                for m in measures
            ],
            replace(
                words,
                title=title,
                description=_(
                    "For each scale, the share of favorable answers in the group next "
                    "to the whole school. The gap is in points."
                ),
            ),
            id_prefix="compare",
        ).keyed(
            [
                [
                    figure_key(scope, m.key, "fav"),
                    figure_key(SCHOOL, m.key, "fav"),
                    None,
                ]
                for m in measures
            ]
        ),
    )


def _change(
    release: ProtectedRelease,
    scope: str,
    measures: Sequence[Measure],
    lang: str,
    words: ChartLabels,
    _: Translate,
    *,
    in_group_report: bool = False,
) -> Figure | None:
    """Draw each scale's move since the previous wave, from this release's changes.

    The earlier end is this wave's figure minus the released change, so the chart
    shows exactly the released change and withholds both ends where it is withheld.
    A group report that shows the whole school's changes says so in the title.
    """
    if not measures or not release.previous_wave:
        return None
    rows = []
    for m in measures:
        cell = release.cell(scope, m.key)
        now = cell.favorable
        before = None
        if cell.change is not None and now is not None and now.value is not None:
            before = now.value - cell.change
        rows.append(ChangeRow(m.title.get(lang), before, now))
    if in_group_report and scope == SCHOOL:
        title = _("Change since %(wave)s, whole school") % {
            "wave": release.previous_wave
        }
    else:
        title = _("Change since %(wave)s") % {"wave": release.previous_wave}
    return Figure(
        heading=title,
        svg=_described(
            change_chart,
            rows,
            replace(
                words,
                title=title,
                description=_(
                    "Percent favorable in the previous wave (hollow dot) and in this "
                    "wave (filled dot), for each scale."
                ),
            ),
            id_prefix="change",
        ).keyed([[None, figure_key(scope, m.key, "fav"), None] for m in measures]),
    )


def _distribution(
    release: ProtectedRelease,
    measure: Measure,
    scope: str,
    scope_label: str,
    lang: str,
    words: ChartLabels,
    _: Translate,
) -> Figure:
    """Draw how the group and the whole school answered one scale."""
    rows = []
    populations = ((scope_label, scope), (_("Whole school"), SCHOOL))
    for label, key in populations:
        cell = release.cell(key, measure.key)
        rows.append(
            DistributionRow(
                label,
                None
                if cell.is_withheld
                else tuple(share for _value, share in cell.distribution),
            )
        )
    title = measure.title.get(lang)
    return Figure(
        heading=title,
        svg=_described(
            distribution_chart,
            rows,
            replace(
                words,
                title=title,
                description=_(
                    "How students answered, as a share of those who answered."
                ),
                category=_("Population"),
            ),
            options=[option.label.get(lang) for option in measure.options],
            id_prefix=_chart_id("dist", measure.key),
            ordinal=measure.has_mean,
        ).keyed(
            [
                [figure_key(key, measure.key, f"o={o.value}") for o in measure.options]
                for _label, key in populations
            ]
        ),
        note=_favorable_note(release, measure, scope, lang, _),
    )


def _favorable_note(
    release: ProtectedRelease, measure: Measure, scope: str, lang: str, _: Translate
) -> str:
    """Say the scope's and the school's % favorable in one sentence."""
    mine = release.cell(scope, measure.key).favorable
    school = release.cell(SCHOOL, measure.key).favorable
    withheld = WITHHELD_TEXT.get(lang, WITHHELD_TEXT["en"])
    return _("Percent favorable: %(group)s in this group, %(school)s school-wide.") % {
        "group": mine.text if mine is not None else withheld,
        "school": school.text if school is not None else withheld,
    }


def _groups_figure(
    release: ProtectedRelease,
    groups: Sequence[Population],
    measure: Measure,
    lang: str,
    words: ChartLabels,
    _: Translate,
) -> Figure:
    """Draw every group's % favorable on one scale beside the whole school."""
    title = measure.title.get(lang)
    school = release.cell(SCHOOL, measure.key).favorable
    school_key = figure_key(SCHOOL, measure.key, "fav")
    keys = [[figure_key(p.key, measure.key, "fav"), school_key, None] for p in groups]
    return Figure(
        heading=title,
        svg=_described(
            favorable_comparison_chart,
            [
                ComparisonRow(
                    p.label.get(lang),
                    release.cell(p.key, measure.key).favorable,
                    school,
                )
                for p in groups
            ]
            or [ComparisonRow(_("Whole school"), school, school)],
            replace(
                words,
                title=title,
                description=_(
                    "Percent favorable in each group, next to the whole school. The "
                    "gap is in points."
                ),
                category=_("Group"),
                your_group=_("Group"),
            ),
            id_prefix=_chart_id("groups", measure.key),
        ).keyed(keys or [[school_key, school_key, None]]),
        note=_("Whole school: %(value)s favorable.")
        % {"value": school.text if school is not None else words.withheld},
    )


def _gap_tables(
    release: ProtectedRelease,
    groups: Sequence[Population],
    dimensions: Sequence[Population],
    measures: Sequence[Measure],
    lang: str,
    words: ChartLabels,
    _: Translate,
    *,
    groups_title: str | None = None,
) -> tuple[Figure, ...]:
    """Draw the equity gaps tables: affinity groups, then one per self-description.

    One table per dimension keeps each short enough for a page, and lets its rows
    drop the dimension's name ("Grade band: 9th or 10th" reads "9th or 10th").
    """
    if not measures:
        return ()
    sets: list[tuple[str, str, list[tuple[str, Population]]]] = []
    if groups:
        sets.append(
            (
                groups_title or _("Equity gaps by affinity group"),
                "gaps-groups",
                [(p.label.get(lang), p) for p in groups],
            )
        )
    by_dimension: dict[str, list[Population]] = {}
    for population in dimensions:
        by_dimension.setdefault(population.dimension or "", []).append(population)
    for dimension, populations in by_dimension.items():
        name, rows = _dimension_rows(populations, lang)
        sets.append(
            (
                _("Equity gaps by %(dimension)s") % {"dimension": name or dimension},
                _chart_id("gaps", dimension),
                rows,
            )
        )
    tables = []
    for title, id_prefix, rows in sets:
        svg = _described(
            gap_table_chart,
            [
                GapRow(
                    label,
                    tuple(release.cell(p.key, m.key).favorable for m in measures),
                )
                for label, p in rows
            ],
            replace(
                words,
                title=title,
                description=_(
                    "Each cell shows a group's percent favorable on a scale and its "
                    "gap to the whole school, in points. Darker shading marks wider "
                    "gaps."
                ),
                category=_("Group"),
            ),
            columns=[m.title.get(lang) for m in measures],
            school=[release.cell(SCHOOL, m.key).favorable for m in measures],
            id_prefix=id_prefix,
        ).keyed(
            [
                [figure_key(key, m.key, "fav") for m in measures]
                for key in (SCHOOL, *(p.key for _label, p in rows))
            ]
        )
        tables.append(Figure(heading=title, svg=svg))
    return tuple(tables)


def _dimension_rows(
    populations: Sequence[Population], lang: str
) -> tuple[str, list[tuple[str, Population]]]:
    """Split "Dimension: category" labels into the dimension's name and row labels."""
    labels = [p.label.get(lang) for p in populations]
    prefixes = {label.split(": ", 1)[0] for label in labels if ": " in label}
    if len(prefixes) != 1 or not all(": " in label for label in labels):
        return "", list(zip(labels, populations, strict=True))
    (prefix,) = prefixes
    name = prefix[:1].lower() + prefix[1:]
    return name, [
        (label.split(": ", 1)[1], p)
        for label, p in zip(labels, populations, strict=True)
    ]


def _headlines(
    release: ProtectedRelease, scope: str | None, lang: str, _: Translate
) -> tuple[str, ...]:
    """Write the biggest released gaps and changes as plain sentences.

    Up to three gaps, then changes up to :data:`HEADLINES` in all; every number is
    one the release itself states. A school report names the group of each gap and
    gives the school's changes; a group report speaks of "this group" and gives its
    own. A group whose figures are withheld has no gap, and its report leads with
    the whole school's changes instead, as the context the rest of it shows.
    """
    keys = {m.key for m in _headline_measures(release)}
    own = scope is not None and _is_released(release, scope)
    gaps = sorted(
        (
            g
            for g in release.gaps()
            if g.measure in keys and (scope is None or (own and g.population == scope))
        ),
        key=lambda g: -abs(g.points),
    )
    movers = scope if own else SCHOOL
    changes = sorted(
        (c for c in release.changes() if c.measure in keys and c.population == movers),
        key=lambda c: -abs(c.points),
    )
    chosen_changes = changes[: min(len(changes), max(HEADLINES - len(gaps), 2))]
    chosen_gaps = gaps[: HEADLINES - len(chosen_changes)]
    sentences = [
        _gap_sentence(release, gap, lang, _, in_group_report=scope is not None)
        for gap in chosen_gaps
    ]
    sentences += [
        _change_sentence(release, change, lang, _) for change in chosen_changes
    ]
    return tuple(sentences)


def _gap_sentence(
    release: ProtectedRelease,
    gap: Gap,
    lang: str,
    _: Translate,
    *,
    in_group_report: bool,
) -> str:
    """Say one group's gap to the whole school on one measure."""
    values = {
        "group": release.population(gap.population).label.get(lang),
        "measure": release.measure(gap.measure).title.get(lang),
        "points": abs(gap.points),
        "value": _text(release.cell(gap.population, gap.measure).favorable),
        "school": _text(release.cell(SCHOOL, gap.measure).favorable),
    }
    if in_group_report:
        if gap.points < 0:
            sentence = _(
                "%(measure)s: %(value)s favorable in this group, %(points)s points "
                "below the whole school (%(school)s)."
            )
        elif gap.points > 0:
            sentence = _(
                "%(measure)s: %(value)s favorable in this group, %(points)s points "
                "above the whole school (%(school)s)."
            )
        else:
            sentence = _(
                "%(measure)s: %(value)s favorable in this group, the same as the "
                "whole school."
            )
    elif gap.points < 0:
        sentence = _(
            "%(group)s: %(value)s favorable on %(measure)s, %(points)s points "
            "below the whole school (%(school)s)."
        )
    elif gap.points > 0:
        sentence = _(
            "%(group)s: %(value)s favorable on %(measure)s, %(points)s points "
            "above the whole school (%(school)s)."
        )
    else:
        sentence = _(
            "%(group)s: %(value)s favorable on %(measure)s, the same as the "
            "whole school."
        )
    return sentence % values


def _change_sentence(
    release: ProtectedRelease, change: Change, lang: str, _: Translate
) -> str:
    """Say how one measure moved since the previous wave, school-wide or in a group."""
    values = {
        "measure": release.measure(change.measure).title.get(lang),
        "points": abs(change.points),
        "value": _text(release.cell(change.population, change.measure).favorable),
        "wave": release.previous_wave or "",
    }
    if change.population == SCHOOL:
        if change.points > 0:
            sentence = _(
                "%(measure)s rose %(points)s points school-wide since %(wave)s, to "
                "%(value)s favorable."
            )
        elif change.points < 0:
            sentence = _(
                "%(measure)s fell %(points)s points school-wide since %(wave)s, to "
                "%(value)s favorable."
            )
        else:
            sentence = _(
                "%(measure)s held at %(value)s favorable school-wide since %(wave)s."
            )
    elif change.points > 0:
        sentence = _(
            "%(measure)s rose %(points)s points in this group since %(wave)s, to "
            "%(value)s favorable."
        )
    elif change.points < 0:
        sentence = _(
            "%(measure)s fell %(points)s points in this group since %(wave)s, to "
            "%(value)s favorable."
        )
    else:
        sentence = _(
            "%(measure)s held at %(value)s favorable in this group since %(wave)s."
        )
    return sentence % values


def _text(value: Any) -> str:
    return value.text if value is not None else ""


def _response_rate(participation: str | None, invited: int | None) -> str | None:
    """Return released participation over printed codes as a whole percent.

    Both numbers are already public to staff (the count is rounded to 5), so the
    rate reveals nothing new; it is capped at 100% because rounding can overshoot.
    """
    if participation is None or not invited:
        return None
    try:
        count = int(participation)
    except ValueError:
        return None
    return f"{min(100, round(100 * count / invited))}%"


def _themes(
    release: ProtectedRelease, scope: str, lang: str, _: Translate
) -> tuple[ThemeView, ...]:
    """Return the release's themes for the scope: a group report shows its own only.

    The release stores themes as JSON objects (``voice.release_themes``). Read here:
    ``label`` (text, or ``{"en": ..., "es": ...}``), ``size`` (released count text,
    or null), ``quotes`` (redacted texts, or objects with ``text``), ``population``
    (default ``school``), ``sentiment.tone``, ``other``, ``renamed`` and the
    ``seed`` of its first part (a name carried over from the last wave). In a school
    report a quote is printed once: a group's theme does not repeat a quote the
    whole school's themes already showed.
    """
    tones = {
        "positive": _("more positive than negative"),
        "negative": _("more negative than positive"),
        "mixed": _("mixed or neutral"),
    }
    views = []
    printed: set[str] = set()
    for theme in release.themes:
        population = str(theme.get("population") or SCHOOL)
        if scope != SCHOOL and population != scope:
            continue
        if not _is_released(release, population):
            continue  # a withheld group's words are never shown (invariant 3)
        given = [
            str(quote.get("text", "") if isinstance(quote, Mapping) else quote)
            for quote in theme.get("quotes") or ()
        ]
        quotes = [text for text in dict.fromkeys(given) if text and text not in printed]
        printed.update(quotes)
        size = theme.get("size")
        sentiment = theme.get("sentiment")
        parts = theme.get("parts") or ()
        views.append(
            ThemeView(
                label=_localized(theme.get("label", ""), lang),
                size=None if size is None else str(size),
                quotes=tuple(quotes),
                population=(
                    _population_label(release, population, lang)
                    if scope == SCHOOL and population != SCHOOL
                    else None
                ),
                tone=tones.get(sentiment.get("tone"))
                if isinstance(sentiment, Mapping)
                else None,
                is_other=bool(theme.get("other")),
                quotes_above=bool(not quotes and any(given)),
                is_named=bool(
                    theme.get("renamed")
                    or (
                        parts and isinstance(parts[0], Mapping) and parts[0].get("seed")
                    )
                    or "keywords" not in theme
                ),
            )
        )
    return tuple(views)


def _is_released(release: ProtectedRelease, key: str) -> bool:
    """Say whether a population is in the release with its participation shown."""
    try:
        return release.population(key).participation is not None
    except KeyError:
        return False


def _localized(value: Any, lang: str) -> str:
    if isinstance(value, Mapping):
        return Label(str(value.get("en", "")), str(value.get("es", ""))).get(lang)
    return str(value)


def _population_label(release: ProtectedRelease, key: str, lang: str) -> str:
    try:
        return release.population(key).label.get(lang)
    except KeyError:
        return key


def _shared_view(
    release: ProtectedRelease, finding: SharedFinding, lang: str, _: Translate
) -> SharedView:
    answers = {
        "accepted": _("Accepted"),
        "in_progress": _("In progress"),
        "not_now": _("Not now"),
    }
    return SharedView(
        group=_population_label(release, finding.group, lang),
        kind=finding.kind,
        text=finding.text,
        audience=finding.audience,
        answer=answers.get(finding.answer or ""),
        answer_note=finding.answer_note,
    )


def _appendix(
    release: ProtectedRelease,
    populations: Sequence[Population],
    lang: str,
    _: Translate,
) -> tuple[TableData, ...]:
    """Tabulate % favorable on every question: a table per scale, then the rest.

    A question per row and a population per column; when there are more than
    :data:`APPENDIX_COLUMNS` populations they are spread over several tables, each
    repeating the first population (the school, or the group) for comparison.
    """
    withheld = WITHHELD_TEXT.get(lang, WITHHELD_TEXT["en"])
    items = {m.key: m for m in release.items if m.has_favorable}
    sections = [
        (
            scale.title.get(lang),
            [items[f"item:{key}"] for key in scale.items if f"item:{key}" in items],
        )
        for scale in release.scales
    ]
    sections.append(
        (_("Other questions"), [m for m in items.values() if m.scale is None])
    )
    first, rest = populations[0], tuple(populations[1:])
    width = APPENDIX_COLUMNS - 1
    chunks = [rest[i : i + width] for i in range(0, len(rest), width)] or [()]
    tables = []
    for title, measures in sections:
        if not measures:
            continue
        for number, chunk in enumerate(chunks, start=1):
            columns = (first, *chunk)
            caption = title
            if len(chunks) > 1:
                caption = _("%(title)s (%(part)s of %(parts)s)") % {
                    "title": title,
                    "part": number,
                    "parts": len(chunks),
                }
            tables.append(
                TableData(
                    caption=caption,
                    headers=(
                        _("Question"),
                        *(_population_name(p, lang, _) for p in columns),
                    ),
                    rows=tuple(
                        (
                            measure.title.get(lang),
                            *(
                                _favorable_text(
                                    release.cell(p.key, measure.key), withheld
                                )
                                for p in columns
                            ),
                        )
                        for measure in measures
                    ),
                ).keyed(
                    [
                        [figure_key(p.key, measure.key, "fav") for p in columns]
                        for measure in measures
                    ]
                )
            )
    return tuple(tables)


def _population_name(population: Population, lang: str, _: Translate) -> str:
    return _("Whole school") if population.key == SCHOOL else population.label.get(lang)


def _favorable_text(cell: ReleasedMeasure, withheld: str) -> str:
    """Return a released % favorable, or the one withheld marker."""
    return cell.favorable.text if cell.favorable is not None else withheld


# --- rendering ----------------------------------------------------------------------


def fetch_asset(url: str) -> tuple[bytes, str]:
    """Return the bytes and media type of a bundled asset or a ``data:`` URL.

    :raises AssetRefused: for anything else (``file:``, ``http:``, paths out of the
        fonts folder, unknown files): a report never reaches outside the project
    """
    scheme, _sep, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "data":
        return _decode_data_url(url)
    if scheme != ASSET_SCHEME or not _ASSET_PATH.match(rest):
        raise AssetRefused(f"refused to fetch {url[:200]!r}")
    path = (FONTS_DIR.parent / rest).resolve()
    if path.parent != FONTS_DIR or not path.is_file():
        raise AssetRefused(f"no bundled asset {rest!r}")
    return path.read_bytes(), "font/ttf"


def _decode_data_url(url: str) -> tuple[bytes, str]:
    """Decode a ``data:`` URL (RFC 2397) without any URL-opening machinery."""
    header, sep, payload = url[len("data:") :].partition(",")
    if not sep:
        raise AssetRefused("malformed data: URL")
    parts = header.split(";")
    media_type = parts[0].strip() or "text/plain"
    if parts[-1].strip().lower() == "base64":
        try:
            return base64.b64decode(payload, validate=False), media_type
        except ValueError as error:
            raise AssetRefused("malformed base64 in data: URL") from error
    return urllib.parse.unquote_to_bytes(payload), media_type


def _url_fetcher() -> Any:
    """Return a WeasyPrint URL fetcher that only answers :func:`fetch_asset`."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class BundledAssetFetcher(URLFetcher):
        """Serve bundled fonts and ``data:`` URLs; refuse and never follow the rest."""

        def __init__(self) -> None:
            super().__init__(
                timeout=1,
                allowed_protocols=("data", ASSET_SCHEME),
                allow_redirects=False,
            )

        def fetch(self, url: str, headers: Any = None) -> Any:
            body, media_type = fetch_asset(url)
            return URLFetcherResponse(url, body, {"Content-Type": media_type})

    return BundledAssetFetcher()


def _limit_resources(timeout: float, memory_mb: int) -> None:
    """Cap this process's CPU time, and its address space at ``memory_mb`` MiB more.

    The cap is relative to what the process already maps (the interpreter and its
    libraries, whose reservations grow with the machine's core count), so it bounds
    what rendering may add wherever it runs.
    """
    memory = _mapped_bytes() + memory_mb * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(timeout) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _mapped_bytes() -> int:
    """Return this process's current virtual size (Linux), or 0 where unknown."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _render_in_child(
    html: str, out: Connection, timeout: float, memory_mb: int
) -> None:
    """Render ``html`` to PDF bytes and send ``("ok", bytes)`` or ``("error", msg)``."""
    try:
        _limit_resources(timeout, memory_mb)
        out.send(("ok", write_pdf(html)))
    except MemoryError:
        out.send(("error", "rendering ran out of memory"))
    except Exception as error:  # noqa: BLE001 - reported to the parent, not raised
        out.send(("error", f"{type(error).__name__}: {error}"[:500]))
    finally:
        out.close()


def write_pdf(html: str) -> bytes:
    """Render ``html`` to a tagged PDF/UA document in this process (no limits).

    Use :func:`render_pdf` on a server; this is what its child process runs.
    """
    import weasyprint

    document = weasyprint.HTML(string=html, url_fetcher=_url_fetcher())
    return document.write_pdf(
        pdf_variant="pdf/ua-1",
        attachments=[],
        uncompressed_pdf=False,
    )


_context: Any = None


def _process_context() -> Any:
    """Return a fork server that has WeasyPrint loaded, so each render starts fast."""
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["weasyprint", "voice.reports"])
        _context = context
    return _context


def render_pdf(
    html: str,
    *,
    timeout: float = RENDER_TIMEOUT,
    memory_mb: int = RENDER_MEMORY_MB,
) -> bytes:
    """Turn report HTML into PDF bytes in a child process with a deadline and a cap.

    The child is forked from a server that has WeasyPrint loaded; it is killed when
    ``timeout`` seconds pass and cannot map more than ``memory_mb`` MiB beyond what
    it starts with, so hostile content costs at most that.

    :raises RenderTimeout: if rendering did not finish in time
    :raises ReportError: if rendering failed or ran out of memory
    """
    context = _process_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_render_in_child,
        args=(html, sender, timeout, memory_mb),
        daemon=True,
    )
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise RenderTimeout(f"the report took longer than {timeout:g} s to render")
        status, payload = receiver.recv()
    except EOFError:
        raise ReportError("the report renderer stopped unexpectedly") from None
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    if status != "ok":
        raise ReportError(f"the report could not be rendered ({payload})")
    return payload
