"""The figure system of a release: exact counts in, a protected release out.

Pure module (DESIGN layering): :func:`build_release` takes the exact counts SQL
produced for one wave (:class:`WaveCounts`) and the instrument, writes every figure
of the fixed lattice as a linear function of non-negative *microcells*, lets
:func:`voice.privacy.protect` choose what to withhold, audits the whole release
jointly once more, and codes what is left into a :class:`ProtectedRelease`.

**The lattice.** Populations are the whole school, each affinity group, each
self-identification category on its own, and each group x category. Every
respondent is in exactly one group and one category per dimension, so every
population is a union of *cells*: a group ``g`` (written ``g``) or a group within
one category of one dimension (written ``g|d=v``). Every population is enumerated,
an empty one with ``n = 0``, so it is withheld exactly like a small one.

**Microcells.** For an item, ``x[cell, option]`` counts the respondents of the
cell who chose ``option``; ``skip`` counts those who did not answer (or preferred
not to), so the options of a cell add up to its participation. Per group, option
and dimension, the identity ``sum_v x[g|d=v, o] = x[g, o]`` ties the dimension
splits to the group. For a fixed group and option these one-way margins are
exactly the information a full cross-classification over all dimensions would
add (any margins with equal totals extend to a non-negative integer table), so the
attacker modelled here knows no less than one who sees the cross table. Every
published figure is an exact sum of microcells: ``n`` is the sum of the answered
options, an option's count its microcells, % favorable the favorable options'
count, a mean its sum ``sum(value * x)``. Treating a coded percentage or a rounded
count as if the exact count were published is conservative.

A scale is read per respondent, as large surveys such as EDSCLS do: a respondent's
score is the mean of their scored answers to its items (reversed items turned
round), rounded half up to a whole point; the scale's microcells count respondents
per score exactly as an item's count them per option, so its ``n`` is the
respondents who answered at least one of its items and its mean is the mean of the
rounded scores. A multi-choice item counts each option's choosers ``c_o`` and its
respondents ``a``, with slacks ``c_o + m_o = a`` and ``sum_o c_o = a + e`` (every
respondent picked at least one option and no option twice).

**Blocks.** One block per scale, one per item, and one for participation; they
share no microcell, as :func:`voice.privacy.protect` requires, and each is
protected alone. What links them is participation: every item's options and skips
add up to the same population counts. So each measure block is then audited
together with the participation block, its cell totals tied to the participation
microcells by identities; an exposure there withholds the exposed population in
the block (and its participation) and the loop runs again until every audit passes.
Two measure blocks are not audited together: what one item's published counts imply
about a withheld population's size (at least as many as answered) is not used
against another item. That is the residual risk of the decomposition, on top of the
LP relaxation (no integrality) and of the one below.

**Differencing.** For every population ``P`` inside a larger ``T`` of the lattice
(a group in the school, a category in the school, a group x category in its group
and in its category) where both have at least ``k`` respondents, the figures of the
remainder ``T - P`` enter as figures that are never shown: when the remainder has
fewer than ``k`` respondents (0 included) they are withheld as small, so protection
keeps them from being derived by subtracting published figures. (When ``P`` itself
is small it is withheld, and guarding it guards ``T - P`` whenever ``T`` is known.)

What this cannot see: the LP relaxation ignores integrality, and it treats the
answers to different blocks as separate tables tied only through population
counts, although they come from the same students. Both can only make a real
attacker's intervals narrower than the audit's in rare systems.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from voice import privacy
from voice.instruments import (
    FIVE_POINT_VALUES,
    PREFER_NOT,
    Instrument,
    Item,
    Scale,
)
from voice.release import (
    DIMENSION,
    GROUP,
    GROUP_DIMENSION,
    ITEM,
    SCALE,
    SCHOOL,
    AuditSummary,
    Label,
    Measure,
    MeasureOption,
    Population,
    ProtectedRelease,
    ReleasedMeasure,
    WaveInfo,
    figure_key,
)

#: Item types released as measures (open text goes to themes; self-id to populations).
CLOSED_TYPES = frozenset({"agree5", "frequency", "yes_no", "single", "multi"})

_SKIP = "skip"
_POPULATION_WEIGHT = {SCHOOL: 40, GROUP: 30, DIMENSION: 20, GROUP_DIMENSION: 10}
# Within a population, keep the denominators and headline figures before the options:
# withholding an option costs a reader less than losing the whole row.
_FIGURE_WEIGHT = {"p": 9, "n": 8, "answers": 8, "fav": 6, "sum": 5}
_OPTION_WEIGHT = 3
# Figures from which protecting the measures in worker processes pays for starting
# them (a wave of 40 items, 8 groups and 4 dimensions has about 86,000).
_PARALLEL_FIGURES = 20_000
# Added to the priority of published participation within a measure's joint block.
_PARTICIPATION_FIRST = 1000
_SCALE_LABELS = (
    Label("1 (least favorable)", "1 (menos favorable)"),
    Label("2", "2"),
    Label("3", "3"),
    Label("4", "4"),
    Label("5 (most favorable)", "5 (más favorable)"),
)


@dataclass(frozen=True)
class GroupInfo:
    """An affinity group the wave was published to."""

    slug: str
    name: str
    name_es: str = ""


@dataclass(frozen=True)
class WaveCounts:
    """Exact counts of one wave as SQL returned them; never shown to anyone.

    A *cell* is ``(group slug, dimension, category)`` with ``dimension`` and
    ``category`` None for the whole group. Missing keys count 0.
    """

    groups: tuple[GroupInfo, ...]
    #: cell -> respondents.
    participation: Mapping[tuple[str, str | None, str | None], int]
    #: (item key, *cell, option value as text) -> answers; prefer-not excluded.
    answers: Mapping[tuple[str, str, str | None, str | None, str], int]
    #: (item key, *cell) -> distinct respondents who answered (prefer-not excluded);
    #: needed for multi-choice items only (a single-choice item's are its answers).
    respondents: Mapping[tuple[str, str, str | None, str | None], int]
    #: (scale key, *cell, score as text) -> respondents whose scale score, the
    #: mean of their scored answers to its items rounded half up, is that score.
    scale_scores: Mapping[tuple[str, str, str | None, str | None, str], int] = field(
        default_factory=dict
    )


# -- the lattice ------------------------------------------------------------------------


Cell = tuple[str, str | None, str | None]


def _cell_name(cell: Cell) -> str:
    group, dimension, category = cell
    return group if dimension is None else f"{group}|{dimension}={category}"


@dataclass(frozen=True)
class _Lattice:
    """The populations of a wave and the cells each one is the union of."""

    populations: tuple[Population, ...]
    cells: Mapping[str, tuple[Cell, ...]]
    #: (larger, smaller) population keys whose remainder is guarded.
    pairs: tuple[tuple[str, str], ...]
    #: Every cell, group level first within each group.
    all_cells: tuple[Cell, ...]
    #: Per group and dimension, the dimension's cells (for identities).
    splits: tuple[tuple[Cell, tuple[Cell, ...]], ...]


def _lattice(instrument: Instrument, groups: Sequence[GroupInfo]) -> _Lattice:
    """Enumerate every population of the lattice, empty ones included."""
    populations: list[Population] = [
        Population("school", SCHOOL, Label("Whole school", "Toda la escuela"))
    ]
    cells: dict[str, tuple[Cell, ...]] = {
        "school": tuple((g.slug, None, None) for g in groups)
    }
    pairs: list[tuple[str, str]] = []
    all_cells: list[Cell] = []
    splits: list[tuple[Cell, tuple[Cell, ...]]] = []
    for group in groups:
        key = f"group:{group.slug}"
        label = Label(group.name, group.name_es or group.name)
        populations.append(Population(key, GROUP, label, group=group.slug))
        cells[key] = ((group.slug, None, None),)
        pairs.append(("school", key))
        all_cells.append((group.slug, None, None))
        for dimension in instrument.dimensions:
            split = tuple(
                (group.slug, dimension.key, category)
                for category in dimension.category_keys
            )
            all_cells.extend(split)
            splits.append(((group.slug, None, None), split))
    for dimension in instrument.dimensions:
        for category in dimension.categories:
            key = f"dim:{dimension.key}={category.key}"
            label = Label(
                f"{dimension.title.get('en')}: {category.label.get('en')}",
                f"{dimension.title.get('es')}: {category.label.get('es')}",
            )
            populations.append(
                Population(
                    key,
                    DIMENSION,
                    label,
                    dimension=dimension.key,
                    category=category.key,
                )
            )
            cells[key] = tuple((g.slug, dimension.key, category.key) for g in groups)
            pairs.append(("school", key))
    for group in groups:
        for dimension in instrument.dimensions:
            for category in dimension.categories:
                key = f"group:{group.slug}|dim:{dimension.key}={category.key}"
                label = Label(
                    f"{group.name} · {dimension.title.get('en')}: "
                    f"{category.label.get('en')}",
                    f"{group.name_es or group.name} · {dimension.title.get('es')}: "
                    f"{category.label.get('es')}",
                )
                populations.append(
                    Population(
                        key,
                        GROUP_DIMENSION,
                        label,
                        group=group.slug,
                        dimension=dimension.key,
                        category=category.key,
                    )
                )
                cells[key] = ((group.slug, dimension.key, category.key),)
                pairs.append((f"group:{group.slug}", key))
                pairs.append((f"dim:{dimension.key}={category.key}", key))
    return _Lattice(
        tuple(populations),
        MappingProxyType(cells),
        tuple(pairs),
        tuple(all_cells),
        tuple(splits),
    )


# -- measures ---------------------------------------------------------------------------


def _options(item: Item) -> tuple[str, ...]:
    return tuple(str(v) for v in item.values if v != PREFER_NOT)


def measures_of(instrument: Instrument) -> tuple[Measure, ...]:
    """Describe the released measures: scales, then loose items, then scale items."""
    self_id = {
        item.key for page in instrument.pages if page.is_self_id for item in page.items
    }
    scale_of = {key: scale.key for scale in instrument.scales for key in scale.items}
    scales = [
        Measure(
            key=f"scale:{scale.key}",
            kind=SCALE,
            title=Label(scale.title.get("en"), scale.title.get("es")),
            options=tuple(
                MeasureOption(str(v), label)
                for v, label in zip(FIVE_POINT_VALUES, _SCALE_LABELS, strict=True)
            ),
            has_favorable=True,
            has_mean=True,
            items=scale.items,
        )
        for scale in instrument.scales
    ]
    items = [
        Measure(
            key=f"item:{item.key}",
            kind=ITEM,
            title=Label(item.text.get("en"), item.text.get("es")),
            options=tuple(
                MeasureOption(str(o.value), Label(o.text.get("en"), o.text.get("es")))
                for o in item.options
                if o.value != PREFER_NOT
            ),
            has_favorable=bool(item.favorable),
            has_mean=item.is_numeric,
            scale=scale_of.get(item.key),
        )
        for item in instrument.items
        if item.type in CLOSED_TYPES and item.key not in self_id
    ]
    loose = [m for m in items if m.scale is None]
    return (*scales, *loose, *(m for m in items if m.scale is not None))


# -- figures ----------------------------------------------------------------------------

Terms = dict[str, float]


def _add(total: Terms, terms: Mapping[str, float], sign: float = 1.0) -> None:
    for name, coef in terms.items():
        value = total.get(name, 0.0) + sign * coef
        if value:
            total[name] = value
        else:
            total.pop(name, None)


@dataclass
class _Builder:
    """Collects one block's microcells, identities and per-cell figure terms."""

    k: int
    lattice: _Lattice
    counts: WaveCounts
    values: dict[str, int] = field(default_factory=dict)
    identities: list[dict[str, float]] = field(default_factory=list)
    figures: list[privacy.Figure] = field(default_factory=list)
    #: Total microcells of each cell (ties the block to participation).
    totals: dict[Cell, Terms] = field(default_factory=dict)

    def cell_figures(
        self,
        measure: str,
        per_cell: Mapping[Cell, Mapping[str, Terms]],
        n_of: Mapping[Cell, int],
    ) -> None:
        """Add the figures of one measure in every population, and guard remainders.

        :param per_cell: cell -> figure kind -> terms
        :param n_of: cell -> respondents behind the measure (for the ``k`` rule)
        """
        if not per_cell:
            return
        kinds = list(next(iter(per_cell.values())))
        sums: dict[str, dict[str, Terms]] = {}
        ns: dict[str, int] = {}
        for population in self.lattice.populations:
            cells = self.lattice.cells[population.key]
            sums[population.key] = {kind: {} for kind in kinds}
            for cell in cells:
                for kind in kinds:
                    _add(sums[population.key][kind], per_cell[cell][kind])
            ns[population.key] = sum(n_of[cell] for cell in cells)
            weight = _POPULATION_WEIGHT[population.kind]
            for kind in kinds:
                terms = sums[population.key][kind]
                if not terms:
                    continue
                self.figures.append(
                    privacy.Figure(
                        key=figure_key(population.key, measure, kind),
                        terms=terms,
                        n=ns[population.key],
                        priority=weight + _FIGURE_WEIGHT.get(kind, _OPTION_WEIGHT),
                    )
                )
        for larger, smaller in self.lattice.pairs:
            rest = ns[larger] - ns[smaller]
            # A remainder matters only between two publishable populations: if one
            # is withheld, guarding it already guards the remainder.
            if rest >= self.k or ns[smaller] < self.k:
                continue
            for kind in kinds:
                terms = dict(sums[larger][kind])
                _add(terms, sums[smaller][kind], -1.0)
                if terms:
                    self.figures.append(
                        privacy.Figure(
                            key=f"rest~{larger}~{smaller}#{measure}#{kind}",
                            terms=terms,
                            n=rest,
                        )
                    )

    @property
    def cells(self) -> tuple[Cell, ...]:
        """Return every cell of the lattice."""
        return self.lattice.all_cells

    def participation(self, cell: Cell) -> int:
        """Return the respondents of one cell."""
        return self.counts.participation.get(cell, 0)

    def split_identities(self, names: Mapping[Cell, str]) -> None:
        """Tie each group's microcell to its split along every dimension."""
        for whole, split in self.lattice.splits:
            identity = {names[cell]: 1.0 for cell in split}
            identity[names[whole]] = -1.0
            self.identities.append(identity)


def _participation_key(population: str) -> str:
    return figure_key(population, "participation", "p")


def _single_microcells(
    builder: _Builder,
    prefix: str,
    options: Sequence[str],
    count: Callable[[Cell, str], int],
    *,
    favorable: Collection[str] = (),
    numeric: bool = False,
) -> dict[Cell, dict[str, Terms]]:
    """Add the microcells of a measure where each respondent gives at most one value.

    :param count: (cell, option) -> respondents of the cell who gave it
    :return: cell -> figure kind -> terms
    """
    per_cell: dict[Cell, dict[str, Terms]] = {}
    for option in (*options, _SKIP):
        builder.split_identities(
            {cell: f"{prefix}|{_cell_name(cell)}|{option}" for cell in builder.cells}
        )
    for cell in builder.cells:
        name = f"{prefix}|{_cell_name(cell)}"
        answered = 0
        for option in options:
            value = count(cell, option)
            builder.values[f"{name}|{option}"] = value
            answered += value
        builder.values[f"{name}|{_SKIP}"] = builder.participation(cell) - answered
        terms: dict[str, Terms] = {"n": {f"{name}|{o}": 1.0 for o in options}}
        for option in options:
            terms[f"o={option}"] = {f"{name}|{option}": 1.0}
        if favorable:
            terms["fav"] = {f"{name}|{o}": 1.0 for o in options if o in favorable}
        if numeric:
            terms["sum"] = {f"{name}|{o}": float(o) for o in options}
        per_cell[cell] = terms
        builder.totals[cell] = {f"{name}|{o}": 1.0 for o in (*options, _SKIP)}
    return per_cell


def _multi_microcells(
    builder: _Builder, item: Item, counts: WaveCounts, prefix: str
) -> dict[Cell, dict[str, Terms]]:
    """Add one multi-choice item's microcells and the slacks that bound them."""
    options = _options(item)
    families = (
        "a",
        _SKIP,
        "e",
        *(f"c={o}" for o in options),
        *(f"m={o}" for o in options),
    )
    for family in families:
        builder.split_identities(
            {cell: f"{prefix}|{_cell_name(cell)}|{family}" for cell in builder.cells}
        )
    per_cell: dict[Cell, dict[str, Terms]] = {}
    for cell in builder.cells:
        name = f"{prefix}|{_cell_name(cell)}"
        answered = counts.respondents.get((item.key, *cell), 0)
        chosen = {o: counts.answers.get((item.key, *cell, o), 0) for o in options}
        builder.values[f"{name}|a"] = answered
        builder.values[f"{name}|{_SKIP}"] = builder.participation(cell) - answered
        builder.values[f"{name}|e"] = sum(chosen.values()) - answered
        for option, chosen_by in chosen.items():
            builder.values[f"{name}|c={option}"] = chosen_by
            builder.values[f"{name}|m={option}"] = answered - chosen_by
            builder.identities.append(
                {
                    f"{name}|c={option}": 1.0,
                    f"{name}|m={option}": 1.0,
                    f"{name}|a": -1.0,
                }
            )
        identity = {f"{name}|c={o}": 1.0 for o in options}
        identity.update({f"{name}|a": -1.0, f"{name}|e": -1.0})
        builder.identities.append(identity)
        terms: dict[str, Terms] = {"n": {f"{name}|a": 1.0}}
        for option in options:
            terms[f"o={option}"] = {f"{name}|c={option}": 1.0}
        per_cell[cell] = terms
        builder.totals[cell] = {f"{name}|a": 1.0, f"{name}|{_SKIP}": 1.0}
    return per_cell


def _n_of(
    per_cell: Mapping[Cell, Mapping[str, Terms]], values: Mapping[str, int]
) -> dict[Cell, int]:
    """Return the respondents behind each cell's figures (the ``n`` figure's value)."""
    return {
        cell: int(sum(values[name] * coef for name, coef in terms["n"].items()))
        for cell, terms in per_cell.items()
    }


def _item_block(builder: _Builder, item: Item, counts: WaveCounts) -> None:
    """Fill a block with one item's microcells and figures."""
    prefix = f"i:{item.key}"
    if item.type == "multi":
        per_cell = _multi_microcells(builder, item, counts, prefix)
    else:
        per_cell = _single_microcells(
            builder,
            prefix,
            _options(item),
            lambda cell, option: counts.answers.get((item.key, *cell, option), 0),
            favorable={str(v) for v in item.favorable},
            numeric=item.is_numeric,
        )
    builder.cell_figures(f"item:{item.key}", per_cell, _n_of(per_cell, builder.values))


def _scale_block(builder: _Builder, scale: Scale, counts: WaveCounts) -> None:
    """Fill a block with a scale's respondent scores (one rounded score each)."""
    per_cell = _single_microcells(
        builder,
        f"s:{scale.key}",
        tuple(str(v) for v in FIVE_POINT_VALUES),
        lambda cell, score: counts.scale_scores.get((scale.key, *cell, score), 0),
        favorable={str(v) for v in scale.favorable},
        numeric=True,
    )
    builder.cell_figures(
        f"scale:{scale.key}", per_cell, _n_of(per_cell, builder.values)
    )


def _participation_block(builder: _Builder) -> None:
    """Fill the block of respondent counts per population."""
    names = {cell: f"p|{_cell_name(cell)}" for cell in builder.cells}
    builder.split_identities(names)
    for cell, name in names.items():
        builder.values[name] = builder.participation(cell)
        builder.totals[cell] = {name: 1.0}
    per_cell = {cell: {"p": {name: 1.0}} for cell, name in names.items()}
    n_of = {cell: builder.values[name] for cell, name in names.items()}
    builder.cell_figures("participation", per_cell, n_of)


# -- protection -------------------------------------------------------------------------


def _block(builder: _Builder, forced: frozenset[str] = frozenset()) -> privacy.Block:
    """Return the builder's block, with the figures in ``forced`` withheld outright."""
    figures = tuple(
        replace(f, primary=True) if f.key in forced else f for f in builder.figures
    )
    return privacy.Block(
        figures=figures,
        values=builder.values,
        identities=tuple(builder.identities),
    )


@dataclass(frozen=True)
class _Protected:
    """Withheld figure keys with reasons, and the audit that cleared them."""

    withheld: Mapping[str, str]
    audit: AuditSummary


def _protect(
    participation: _Builder,
    measures: Sequence[tuple[str, _Builder]],
    k: int,
    workers: int = 1,
) -> _Protected:
    """Protect participation, then each measure jointly with it; withhold the union.

    Participation is protected on its own first. Each measure block is then
    protected and audited together with the participation block, its cell totals
    tied to the participation microcells, so what published participation says about
    a measure is in its audit: participation already withheld stays withheld, the
    rest is visited first and priced high, so the measure's own figures absorb the
    suppression. A measure may still have to withhold a participation figure; the
    release withholds the union of all of them. That is sound because withholding
    more only widens an attacker's intervals: every measure's audit ran with at least
    as much participation published as the release shows.

    The measures are independent of each other once participation is fixed, so with
    ``workers > 1`` they are protected in that many processes.

    :raises voice.privacy.ProtectionError: if some figure cannot be protected
    """
    first = privacy.protect([_block(participation)], k=k)
    withheld: dict[str, str] = dict(first.withheld)
    audits = [first.audit]
    rounds = first.rounds
    blocks = [
        _measure_block(participation, builder, first.withheld.keys())
        for _, builder in measures
    ]
    for protection in _protect_each(blocks, k, workers):
        withheld.update(protection.withheld)
        audits.append(protection.audit)
        rounds = max(rounds, protection.rounds)
    builders = [participation, *(builder for _, builder in measures)]
    small = {f.key for builder in builders for f in builder.figures if f.n < k}
    reasons = {
        key: privacy.SMALL if key in small else privacy.COMPLEMENTARY
        for key in withheld
    }
    gaps = [a.narrowest_gap for a in audits if a.narrowest_gap is not None]
    summary = privacy.AuditResult(
        passed=all(a.passed for a in audits),
        checked=sum(a.checked for a in audits),
        lp_solves=sum(a.lp_solves for a in audits),
        narrowest_gap=min(gaps) if gaps else None,
        exposed=(),
    )
    figures = sum(len(builder.figures) for builder in builders)
    return _protected(reasons, summary, figures, rounds, len(builders))


def _protect_one(block: privacy.Block, k: int) -> privacy.Protection:
    protection = privacy.protect([block], k=k)
    # A plain dict crosses a process boundary; a mapping proxy cannot be pickled.
    return replace(protection, withheld=dict(protection.withheld))


def _protect_each(
    blocks: Sequence[privacy.Block], k: int, workers: int
) -> Iterable[privacy.Protection]:
    """Protect independent blocks, in ``workers`` fresh processes when worth it.

    Starting a process costs a second or two (an interpreter, NumPy, SciPy), so
    small releases (under :data:`_PARALLEL_FIGURES` figures) stay in this one.

    Worker processes are spawned, not forked: a forked copy of a threaded web
    worker (or of its database connections) is not safe to use.
    """
    size = sum(len(block.figures) for block in blocks)
    if workers <= 1 or len(blocks) < 2 or size < _PARALLEL_FIGURES:
        return [_protect_one(block, k) for block in blocks]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(blocks)), mp_context=context) as pool:
        return list(pool.map(_protect_one, blocks, [k] * len(blocks)))


def _measure_block(
    participation: _Builder, measure: _Builder, withheld: Collection[str]
) -> privacy.Block:
    """Join a measure to participation, whose withheld figures stay withheld.

    Published participation figures go first in the search for complements and are
    priced high in repairs, so a measure withholds one only when nothing else works.
    """
    owned = {f.key for f in participation.figures}

    def adjust(figure: privacy.Figure) -> privacy.Figure:
        if figure.key in withheld:
            return replace(figure, primary=True)
        if figure.key in owned:
            return replace(figure, priority=figure.priority + _PARTICIPATION_FIRST)
        return figure

    return _joint_block(participation, [measure], adjust)


def _protected(
    withheld: Mapping[str, str],
    result: privacy.AuditResult,
    figures: int,
    rounds: int,
    blocks: int,
) -> _Protected:
    """Summarise a finished protection for storage with the release."""
    reasons = list(withheld.values())
    return _Protected(
        MappingProxyType(dict(withheld)),
        AuditSummary(
            passed=result.passed,
            checked=result.checked,
            lp_solves=result.lp_solves,
            narrowest_gap=result.narrowest_gap,
            rounds=rounds,
            blocks=blocks,
            figures=figures,
            withheld_small=reasons.count(privacy.SMALL),
            withheld_complementary=reasons.count(privacy.COMPLEMENTARY),
        ),
    )


def _joint_block(
    participation: _Builder,
    measures: Sequence[_Builder],
    adjust: Callable[[privacy.Figure], privacy.Figure] = lambda figure: figure,
) -> privacy.Block:
    """Join every block into one system, each block's cell totals tied to participation.

    :param adjust: applied to each figure as it is joined (to force or reprice it)
    """
    figures = list(participation.figures)
    values = dict(participation.values)
    identities = list(participation.identities)
    for builder in measures:
        figures.extend(builder.figures)
        values.update(builder.values)
        identities.extend(builder.identities)
        for cell, total in builder.totals.items():
            link = dict(total)
            _add(link, participation.totals[cell], -1.0)
            identities.append(link)
    return privacy.Block(
        figures=tuple(map(adjust, figures)),
        values=values,
        identities=tuple(identities),
    )


# -- coding what is published -------------------------------------------------------------


def _mean_text(total: int, n: int) -> str:
    """Write ``total / n`` to one decimal, halves rounded up, exactly."""
    tenths = (20 * total + n) // (2 * n)
    return f"{tenths // 10}.{tenths % 10}"


def _released(
    population: Population,
    measure: Measure,
    value_of: Mapping[str, int],
    withheld: Mapping[str, str],
    previous: ProtectedRelease | None,
) -> ReleasedMeasure:
    """Code one measure's published figures; a missing denominator withholds all."""
    base = figure_key(population.key, measure.key, "")
    empty = tuple((o.value, None) for o in measure.options)
    if base + "n" in withheld or base + "n" not in value_of:
        return ReleasedMeasure(None, None, None, empty)
    whole = n = value_of[base + "n"]

    def share(kind: str) -> privacy.CodedPercent | None:
        key = base + kind
        if key in withheld:
            return None
        return privacy.code_percent(value_of.get(key, 0), whole)

    favorable = share("fav") if measure.has_favorable else None
    mean = None
    if measure.has_mean and base + "sum" not in withheld:
        mean = _mean_text(value_of[base + "sum"], whole)
    return ReleasedMeasure(
        n_text=str(privacy.round_count(n)),
        favorable=favorable,
        mean=mean,
        distribution=tuple((o.value, share(f"o={o.value}")) for o in measure.options),
        change=_change(population.key, measure, favorable, previous),
    )


def _change(
    population: str,
    measure: Measure,
    favorable: privacy.CodedPercent | None,
    previous: ProtectedRelease | None,
) -> int | None:
    """Subtract the previous wave's released % favorable; None unless both are plain."""
    if previous is None or favorable is None or favorable.is_coded:
        return None
    try:
        before = previous.cell(population, measure.key).favorable
    except KeyError:
        return None
    if (
        before is None
        or before.is_coded
        or before.value is None
        or favorable.value is None
    ):
        return None
    return favorable.value - before.value


def _evaluate(
    figures: Iterable[privacy.Figure], values: Mapping[str, int]
) -> dict[str, int]:
    return {
        f.key: round(sum(values[name] * coef for name, coef in f.terms.items()))
        for f in figures
    }


def _systems(
    instrument: Instrument, counts: WaveCounts, k: int
) -> tuple[_Lattice, _Builder, list[tuple[str, _Builder]]]:
    """Write the wave's figures: the lattice, participation, then one block per measure."""
    lattice = _lattice(instrument, counts.groups)
    participation = _Builder(k, lattice, counts)
    _participation_block(participation)
    measures: list[tuple[str, _Builder]] = []
    for scale in instrument.scales:
        builder = _Builder(k, lattice, counts)
        _scale_block(builder, scale, counts)
        measures.append((f"scale:{scale.key}", builder))
    for measure in measures_of(instrument):
        if measure.kind == ITEM:
            builder = _Builder(k, lattice, counts)
            item = instrument.item(measure.key.removeprefix("item:"))
            _item_block(builder, item, counts)
            measures.append((measure.key, builder))
    return lattice, participation, measures


def joint_system(
    instrument: Instrument, counts: WaveCounts, *, k: int
) -> privacy.Block:
    """Return every figure of a wave as one system, as an attacker would set it up.

    The final audit of :func:`build_release` runs on exactly this block; the privacy
    attack tests solve it against what the outputs publish (:func:`published_keys`).
    """
    _, participation, measures = _systems(instrument, counts, k)
    return _joint_block(participation, [builder for _, builder in measures])


def published_keys(release: ProtectedRelease) -> frozenset[str]:
    """Return the keys of the figures a release shows a value for.

    A shown percentage or mean is counted as publishing its exact count or sum, the
    strongest reading an attacker could make of it.
    """
    keys = set()
    for population in release.populations:
        if population.participation is not None:
            keys.add(_participation_key(population.key))
        for measure in release.measures:
            cell = release.cell(population.key, measure.key)
            base = figure_key(population.key, measure.key, "")
            if cell.n_text is not None:
                keys.add(base + "n")
            if measure.has_favorable and cell.favorable is not None:
                keys.add(base + "fav")
            if cell.mean is not None:
                keys.add(base + "sum")
            keys.update(
                f"{base}o={value}"
                for value, share in cell.distribution
                if share is not None
            )
    return frozenset(keys)


def build_release(
    instrument: Instrument,
    counts: WaveCounts,
    *,
    wave: WaveInfo,
    k: int,
    is_open_link: bool,
    previous: ProtectedRelease | None = None,
    workers: int = 1,
) -> ProtectedRelease:
    """Build, protect, audit and code the release of one wave.

    :param instrument: the wave's instrument snapshot
    :param counts: the wave's exact counts (see :class:`WaveCounts`)
    :param wave: what the release is of
    :param k: the survey's suppression threshold (at least 5)
    :param is_open_link: whether students answered through open links
    :param previous: the release of the previous wave, for changes
    :param workers: processes to protect the measures in (1: this one)
    :raises ValueError: if the wave was published to no group
    :raises voice.privacy.ProtectionError: if no set of withheld figures passes
    """
    if not counts.groups:
        raise ValueError("a wave needs at least one affinity group")
    lattice, participation, measures = _systems(instrument, counts, k)
    protected = _protect(participation, measures, k, workers)
    value_of: dict[str, int] = _evaluate(participation.figures, participation.values)
    for _, builder in measures:
        value_of.update(_evaluate(builder.figures, builder.values))
    withheld = protected.withheld
    populations = tuple(
        replace(
            p,
            participation=None
            if _participation_key(p.key) in withheld
            else str(privacy.round_count(value_of[_participation_key(p.key)])),
        )
        for p in lattice.populations
    )
    released_measures = measures_of(instrument)
    cells = {
        p.key: MappingProxyType(
            {
                m.key: _released(p, m, value_of, withheld, previous)
                for m in released_measures
            }
        )
        for p in lattice.populations
    }
    return ProtectedRelease(
        wave=wave,
        k=k,
        is_open_link=is_open_link,
        populations=populations,
        measures=released_measures,
        cells=MappingProxyType(cells),
        audit=protected.audit,
        previous_wave=previous.wave.wave_label if previous else None,
    )
