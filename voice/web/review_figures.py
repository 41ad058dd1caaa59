"""What the review pages draw: the protected release turned into charts and rows.

Every number comes from a :class:`~voice.release.ProtectedRelease`; these helpers only
pick, label and arrange released figures (DESIGN invariant 2). Words are translated
with the reader's gettext, so charts read in the page's language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from voice.charts import (
    ChangeRow,
    ChartLabels,
    ComparisonRow,
    DistributionRow,
    GapRow,
    Svg,
    change_chart,
    distribution_chart,
    favorable_comparison_chart,
    gap_table_chart,
)
from voice.models import AffinityGroup
from voice.privacy import CodedPercent
from voice.release import (
    GROUP,
    SCHOOL,
    WITHHELD_EXPLANATION,
    WITHHELD_TEXT,
    Change,
    Gap,
    Measure,
    Population,
    ProtectedRelease,
    ReleasedMeasure,
    figure_key,
)

#: How many gaps and changes lead a page.
HEADLINES = 5

#: A categorical question's answers: (label, reader's share, school's share).
MeasureOptions = tuple[tuple[str, CodedPercent | None, CodedPercent | None], ...]


@dataclass(frozen=True)
class Headline:
    """One of the biggest gaps or changes, ready to print."""

    population: str
    measure: str
    points: int


@dataclass(frozen=True)
class MeasureView:
    """A measure with its figures for the reader's population and the school."""

    measure: Measure
    title: str
    #: Release key of the reader's population (names its figures on the page).
    mine_key: str
    #: Figures of the reader's population (None when it is not in the lattice).
    mine: ReleasedMeasure | None
    school: ReleasedMeasure
    #: None for a categorical question seen school-wide: its table says it all.
    chart: Svg | None
    #: (option label, reader's share, school's share) in option order.
    options: MeasureOptions
    #: The reader's % favorable minus the school's, in points, as the release gives
    #: it (None: withheld, coded, not a group, or no % favorable).
    gap: int | None = None


@dataclass(frozen=True)
class ScaleView:
    """A scale with its own figures and those of its items."""

    scale: MeasureView
    items: tuple[MeasureView, ...]


def chart_labels(release: ProtectedRelease, lang: str, **fields: str) -> ChartLabels:
    """Return the chart words in ``lang``; ``fields`` set title, description, ..."""
    base = ChartLabels(
        title="",
        description="",
        withheld=WITHHELD_TEXT.get(lang, WITHHELD_TEXT["en"]),
        category=_("Question"),
        your_group=_("Your group"),
        whole_school=_("Whole school"),
        previous=release.previous_wave or "",
        current=release.wave.wave_label,
        gap=_("Gap"),
        change=_("Change"),
        percent=_("{value}%"),
        point=_("{value} point"),
        points=_("{value} points"),
    )
    return replace(base, **fields)


def distribution(
    release: ProtectedRelease,
    measure: Measure,
    rows: list[tuple[str, str]],
    lang: str,
    id_prefix: str,
) -> Svg:
    """Draw one measure's answers for each (label, population key) given."""
    title = measure.title.get(lang)
    chart_rows = []
    for label, key in rows:
        cell = release.cells.get(key, {}).get(measure.key)
        percents = (
            None
            if cell is None or cell.is_withheld
            else tuple(share for _, share in cell.distribution)
        )
        chart_rows.append(DistributionRow(label, percents))
    return distribution_chart(
        chart_rows,
        chart_labels(
            release,
            lang,
            title=title,
            description=_("How students answered, as a share of those who answered."),
            category=_("Population"),
        ),
        options=[option.label.get(lang) for option in measure.options],
        id_prefix=id_prefix,
        ordinal=measure.has_mean,
    ).keyed(
        [
            [figure_key(key, measure.key, f"o={o.value}") for o in measure.options]
            for _label, key in rows
        ]
    )


def _shares(cell: ReleasedMeasure | None) -> dict[str, CodedPercent | None]:
    return dict(cell.distribution) if cell is not None else {}


def _choices(
    release: ProtectedRelease,
    measure: Measure,
    mine: str,
    options: MeasureOptions,
    label: str,
    lang: str,
    id_prefix: str,
) -> Svg:
    """Draw the share choosing each answer of a categorical question, beside the school.

    Stacked bars would mislead here: where students may pick several answers the
    shares add up to more than 100%.
    """
    return favorable_comparison_chart(
        [ComparisonRow(text, mine, school) for text, mine, school in options],
        chart_labels(
            release,
            lang,
            title=measure.title.get(lang),
            description=_(
                "The share of students who chose each answer, in your group and in "
                "the whole school."
            ),
            category=_("Answer"),
            your_group=label,
        ),
        id_prefix=id_prefix,
    ).keyed(
        [
            [
                figure_key(mine, measure.key, f"o={o.value}"),
                figure_key(SCHOOL, measure.key, f"o={o.value}"),
                None,
            ]
            for o in measure.options
        ]
    )


def gap_index(release: ProtectedRelease) -> dict[tuple[str, str], int]:
    """Map (population key, measure key) to the release's own gap in points."""
    return {(g.population, g.measure): g.points for g in release.gaps()}


def measure_view(
    release: ProtectedRelease,
    measure: Measure,
    mine: str,
    lang: str,
    label: str,
    gaps: Mapping[tuple[str, str], int] | None = None,
) -> MeasureView:
    """Return one measure's figures for a population and the school, with a chart.

    :param gaps: from :func:`gap_index`; computed here when not given
    """
    if gaps is None:
        gaps = gap_index(release)
    own = release.cells.get(mine, {}).get(measure.key)
    school = release.cell(SCHOOL, measure.key)
    own_shares, school_shares = _shares(own), _shares(school)
    options = tuple(
        (o.label.get(lang), own_shares.get(o.value), school_shares.get(o.value))
        for o in measure.options
    )
    prefix = "d-" + measure.key.replace(":", "-")
    if measure.has_mean:
        rows = [(label, mine)] if mine != SCHOOL else []
        chart = distribution(
            release, measure, [*rows, (_("Whole school"), SCHOOL)], lang, prefix
        )
    elif mine != SCHOOL:
        chart = _choices(release, measure, mine, options, label, lang, prefix)
    else:
        chart = None
    return MeasureView(
        measure=measure,
        title=measure.title.get(lang),
        mine_key=mine,
        mine=own,
        school=school,
        chart=chart,
        options=options,
        gap=gaps.get((mine, measure.key)),
    )


def scale_views(
    release: ProtectedRelease, mine: str, lang: str, label: str
) -> tuple[list[ScaleView], list[MeasureView]]:
    """Return each scale with its items, and the items that belong to no scale."""
    gaps = gap_index(release)
    item_keys = {m.key for m in release.items}
    scales = [
        ScaleView(
            scale=measure_view(release, scale, mine, lang, label, gaps),
            items=tuple(
                measure_view(
                    release, release.measure(f"item:{key}"), mine, lang, label, gaps
                )
                for key in scale.items
                if f"item:{key}" in item_keys
            ),
        )
        for scale in release.scales
    ]
    loose = [
        measure_view(release, item, mine, lang, label, gaps)
        for item in release.items
        if item.scale is None
    ]
    return scales, loose


def headline_measures(release: ProtectedRelease) -> list[Measure]:
    """Return the measures compared at a glance: scales, or items if none."""
    return [m for m in release.scales if m.has_favorable] or [
        m for m in release.items if m.has_favorable
    ]


def comparison(release: ProtectedRelease, key: str, lang: str) -> Svg | None:
    """Draw a population's % favorable per scale beside the school's."""
    measures = headline_measures(release)
    if not measures or key not in release.cells:
        return None
    return favorable_comparison_chart(
        [
            ComparisonRow(
                m.title.get(lang),
                release.cell(key, m.key).favorable,
                release.cell(SCHOOL, m.key).favorable,
            )
            for m in measures
        ],
        chart_labels(
            release,
            lang,
            title=_("Percent favorable: your group and the whole school"),
            description=_(
                "For each scale, the share of answers that were favorable in your "
                "group, next to the whole school. The gap is in points."
            ),
            category=_("Scale"),
        ),
        id_prefix="compare",
    ).keyed(
        [
            [figure_key(key, m.key, "fav"), figure_key(SCHOOL, m.key, "fav"), None]
            for m in measures
        ]
    )


def change(
    release: ProtectedRelease, previous: ProtectedRelease | None, key: str, lang: str
) -> Svg | None:
    """Draw each scale's move since the previous wave for one population."""
    measures = headline_measures(release)
    if previous is None or not release.previous_wave or key not in release.cells:
        return None
    rows = []
    for m in measures:
        cell = release.cell(key, m.key)
        before = previous.cells.get(key, {}).get(m.key)
        # The release withholds a change when either end is withheld or coded; the
        # chart then shows the earlier end withheld too, so nothing is differenced.
        rows.append(
            ChangeRow(
                m.title.get(lang),
                before.favorable if before and cell.change is not None else None,
                cell.favorable,
            )
        )
    return change_chart(
        rows,
        chart_labels(
            release,
            lang,
            title=_("Change since %(wave)s", wave=release.previous_wave),
            description=_(
                "Percent favorable in the previous wave (hollow dot) and in this "
                "wave (filled dot), for each scale."
            ),
            category=_("Scale"),
        ),
        id_prefix="change",
    ).keyed([[None, figure_key(key, m.key, "fav"), None] for m in measures])


def headlines(
    items: Sequence[Gap | Change],
    release: ProtectedRelease,
    lang: str,
    *,
    named: bool = True,
) -> list[Headline]:
    """Label gaps or changes; ``named`` adds the population (off on a group's page)."""
    return [
        Headline(
            population=release.population(item.population).label.get(lang)
            if named
            else "",
            measure=release.measure(item.measure).title.get(lang),
            points=item.points,
        )
        for item in items
    ]


def largest(
    items: Sequence[Gap | Change], population: str | None
) -> list[Gap | Change]:
    """Return the largest of the release's own gaps or changes, for one population."""
    chosen = [i for i in items if population is None or i.population == population]
    return sorted(chosen, key=lambda i: -abs(i.points))[:HEADLINES]


def group_key(group: AffinityGroup) -> str:
    """Return the release key of an affinity group's population."""
    return f"{GROUP}:{group.slug}"


def is_released(release: ProtectedRelease, key: str) -> bool:
    """Say whether a population's participation, and so its comments, are shown."""
    try:
        return release.population(key).participation is not None
    except KeyError:
        return False


def figure_choices(release: ProtectedRelease, lang: str) -> list[SelectChoice]:
    """Offer the released scales and items a finding may point to."""
    return [SelectChoice("", _("No particular figure"))] + [
        SelectChoice(m.key, m.title.get(lang))
        for m in (*release.scales, *release.items)
    ]


def explanation(lang: str) -> str:
    """Say why figures are withheld, in the words every output uses."""
    return WITHHELD_EXPLANATION.get(lang, WITHHELD_EXPLANATION["en"])


def gap_table(
    release: ProtectedRelease,
    populations: Sequence[Population],
    measures: Sequence[Measure],
    lang: str,
    id_prefix: str,
) -> Svg | None:
    """Draw the equity gaps table for the given populations, or None if empty."""
    if not populations or not measures:
        return None
    return gap_table_chart(
        [
            GapRow(
                p.label.get(lang),
                tuple(release.cell(p.key, m.key).favorable for m in measures),
            )
            for p in populations
        ],
        chart_labels(
            release,
            lang,
            title=_("Equity gaps: percent favorable by group"),
            description=_(
                "Each cell shows a group's percent favorable on a scale and its gap "
                "to the whole school, in points. Darker shading marks wider gaps."
            ),
            category=_("Group"),
        ),
        columns=[m.title.get(lang) for m in measures],
        school=[release.cell(SCHOOL, m.key).favorable for m in measures],
        id_prefix=id_prefix,
    ).keyed(
        [
            [figure_key(p, m.key, "fav") for m in measures]
            for p in (SCHOOL, *(p.key for p in populations))
        ]
    )


def groups_chart(
    release: ProtectedRelease,
    groups: Sequence[Population],
    measure: Measure,
    lang: str,
) -> Svg:
    """Draw every group's % favorable on one scale beside the whole school."""
    return favorable_comparison_chart(
        [
            ComparisonRow(
                p.label.get(lang),
                release.cell(p.key, measure.key).favorable,
                release.cell(SCHOOL, measure.key).favorable,
            )
            for p in groups
        ],
        chart_labels(
            release,
            lang,
            title=measure.title.get(lang),
            description=_(
                "Percent favorable in each group, next to the whole school. The gap "
                "is in points."
            ),
            category=_("Group"),
            your_group=_("Group"),
        ),
        id_prefix="groups-" + measure.key.replace(":", "-"),
    ).keyed(
        [
            [
                figure_key(p.key, measure.key, "fav"),
                figure_key(SCHOOL, measure.key, "fav"),
                None,
            ]
            for p in groups
        ]
    )
