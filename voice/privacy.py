"""Small-cell suppression and its proof for every released figure (invariant 3).

A release is a set of *figures*, each an exact linear function of non-negative integer
*microcell* counts (a count per answer option is a sum of microcells; a mean is passed
as its sum ``sum(value * count)``; a percentage as its count). :func:`protect` decides
which figures to withhold, per independent :class:`Block`:

1. **Primary**: every figure resting on fewer than ``k`` respondents is withheld; an
   empty population (``n == 0``) is treated exactly like ``1..k-1``.
2. **Complementary** (the idea of Statistics Norway's GaussSuppression): candidates are
   visited from most to least valuable and published only if, after publishing, no
   withheld figure is a linear combination of what is known. Gaussian elimination
   (modulo a large prime, see :data:`_PRIME`) decides this. Zeros are handled as
   well as linear algebra can: a published zero stands for its microcells
   (non-negative counts summing to zero are each zero), and a withheld figure that
   is not zero must stay undetermined even when every zero microcell is taken as
   known, so that it can move on non-zero counts in both directions.
3. **Audit**: a withheld figure is *safe* when the values an attacker cannot rule out
   (over non-negative counts satisfying every published figure, the block's
   identities and known upper bounds) hold at least two integers. It is proven safe
   by feasible datasets: the true counts are one; LPs (HiGHS, one model kept warm)
   find others; a figure taking values a whole unit apart on two of them is safe,
   since its exact interval contains both. :func:`audit` also bounds every figure
   left unproven by its own max and min LPs, so it names exactly the exposed ones.
4. **Repair**: one LP per unproven figure (after one joint LP for the cheap ones)
   finds the cheapest set of published figures, priced by priority, whose
   withholding lets it move a whole unit; its solution is the dataset that proves
   it. Withholding more only widens intervals, so proven figures stay proven and
   the next audit, handed those datasets, usually needs no LP at all.

Soundness rests on the audit alone: a release passes only when every withheld figure
is proven safe; steps 2 and 4 only choose what to try. The audit uses the LP
relaxation: an attacker who also used integrality could, in rare systems, narrow an
interval further; and LP solutions are trusted to HiGHS's tolerance (about 1e-7).
Cost: most of it is the repair LPs of tiny populations whose answers are mostly zero
(a group of 3 has a zero in almost every option of every cell): a zero can only go
up, so each needs a non-zero complement (see ``bench/privacy_bench.py`` and
``bench/release_bench.py``).

Pure module: plain values in, frozen dataclasses out; no Flask, no database.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SciPy is imported where it is used: student workers never need it
    from scipy import sparse

#: Smallest ``k`` :func:`protect` accepts (DESIGN invariant 3: never below 5).
MIN_K = 5

#: Reason recorded for a figure withheld because it rests on fewer than ``k`` people.
SMALL = "small"
#: Reason recorded for a figure withheld so that another cannot be derived.
COMPLEMENTARY = "complementary"

#: Percentages strictly below this are shown as ``"<5%"``.
BOTTOM_CODE = 5
#: Percentages strictly above this are shown as ``">95%"``.
TOP_CODE = 95

# LP values within this distance of an integer are that integer: HiGHS solves to about
# 1e-7, and the exact bounds of these integer systems are rationals with small
# denominators, so no genuine bound lies this close to an integer without being one.
_SNAP = 1e-6
# Largest denominator accepted in a coefficient, so a form scales to integers.
_MAX_DENOMINATOR = 1_000_000
# Complementary suppression eliminates modulo this prime (2**31 - 1): integers stay
# machine-sized, and a combination that vanishes modulo it but not exactly (so a
# figure wrongly taken as determined, and withheld) has odds of about one in two
# billion per step. Only the choice of complements depends on it; the audit, in
# floating point, decides what is safe.
_PRIME = 2_147_483_647
# Random-objective LPs tried before bounding the remaining figures one by one.
_MAX_SWEEPS = 6
# What moving an unproven figure a unit is worth in the repair's first, joint LP: about
# what withholding two small cells costs (see _cost), so only cheap moves are made
# jointly and the rest are planned one figure at a time. Measured on
# bench/release_bench.py's wave: 500 gave nearly the fewest withheld figures of
# the one-at-a-time plan (32.5% against 32.2%) in three quarters of its time.
_BATCH_REWARD = 500.0
# What moving another unproven figure is worth in a one-figure plan: less than any
# figure costs, so it only breaks ties between equally cheap plans.
_TIE_REWARD = 0.5
# How far an LP's solution may stray from a constraint (HiGHS solves to about 1e-7).
_TOLERANCE = 1e-6


class ProtectionError(ValueError):
    """A block cannot be protected: some figure is known whatever is withheld."""


@dataclass(frozen=True)
class Figure:
    """One candidate published number, as an exact linear function of microcell counts.

    ``primary=True`` forces primary suppression whatever ``n``; ``False`` exempts the
    figure from the ``n < k`` rule (it may still be withheld as a complement); ``None``
    applies the rule.
    """

    key: str
    terms: Mapping[str, float]
    n: int
    priority: int = 0
    primary: bool | None = None


@dataclass(frozen=True)
class Block:
    """An independent part of the release (e.g. one scale and its items), audited alone.

    ``identities`` are linear forms of the microcells that are zero for every possible
    dataset and so known to any reader even though nobody publishes them, e.g. a
    group's count written once through each self-identification dimension
    (``sum_v x[g, race=v] - sum_v x[g, gender=v]``). Leaving a true identity out makes
    the audit unsound; blocks must not share microcells with each other.
    """

    figures: tuple[Figure, ...]
    values: Mapping[str, int]
    upper_bounds: Mapping[str, int] = field(default_factory=dict)
    identities: tuple[Mapping[str, float], ...] = ()

    def __post_init__(self) -> None:
        """Reject a block whose figures cannot be evaluated on its own values."""
        keys = [figure.key for figure in self.figures]
        if len(set(keys)) != len(keys):
            raise ValueError("figure keys must be unique within a block")
        for name, count in self.values.items():
            if count < 0 or int(count) != count:
                raise ValueError(f"microcell {name!r} must be a non-negative integer")
        for name, bound in self.upper_bounds.items():
            if name in self.values and bound < self.values[name]:
                raise ValueError(f"microcell {name!r} exceeds its upper bound")
        for figure in self.figures:
            _check_terms(figure.terms, self.values, figure.key)
            if figure.n < 0:
                raise ValueError(f"figure {figure.key!r} has a negative n")
        for number, identity in enumerate(self.identities):
            _check_terms(identity, self.values, f"identity {number}")
            if _evaluate(identity, self.values) != 0:
                raise ValueError(f"identity {number} does not hold on the values")


@dataclass(frozen=True)
class AuditResult:
    """What an attacker can derive about the withheld figures of a release.

    ``narrowest_gap`` is the smallest proven width of an attacker's interval: exact for
    figures bounded by their own LPs, a lower bound for figures shown safe by two
    feasible datasets. ``None`` when nothing is withheld.
    """

    passed: bool
    checked: int
    lp_solves: int
    narrowest_gap: float | None
    exposed: tuple[str, ...]


@dataclass(frozen=True)
class Protection:
    """The withheld figures of a release, why, and the audit that proves it holds."""

    withheld: Mapping[str, str]
    audit: AuditResult
    rounds: int


@dataclass(frozen=True)
class CodedPercent:
    """A whole-number percentage as shown: ``text`` for people, ``value`` for sorting.

    ``value`` is the number a chart may draw: the rounded percentage, or the coding
    bound (5 or 95) when the text is ``"<5%"`` or ``">95%"``. It is typed ``int | None``
    so a caller can render a withheld figure through the same type; :func:`code_percent`
    never returns ``None``.
    """

    value: int | None
    text: str
    is_coded: bool = False


def round_count(n: int, base: int = 5, *, allow_zero: bool = False) -> int:
    """Round a respondent count to the nearest multiple of ``base`` so none is exact.

    Halves round up (with base 5: 0-2 -> 0, 3-7 -> 5, 8-12 -> 10). By default a result
    of 0 is shown as ``base``: "0" would tell that nobody in a population answered,
    which is itself an exact small count, so 0..7 all read "5". Pass
    ``allow_zero=True`` only where 0, 1 and 2 reading "0" is the honest display, e.g.
    the participation count an admin watches while a wave is open (0, 1 and 2 look
    alike there, and a single submission moves the shown count only across a rounding
    boundary).

    :param n: the exact count (non-negative)
    :param base: the rounding base (positive)
    :param allow_zero: let 0..2 (for base 5) read 0 instead of ``base``
    :raises ValueError: on a negative count or a non-positive base
    """
    if n < 0:
        raise ValueError("a count cannot be negative")
    if base < 1:
        raise ValueError("the rounding base must be positive")
    rounded = (2 * n + base) // (2 * base) * base
    return base if rounded == 0 and not allow_zero else rounded


def code_percent(part: int, whole: int) -> CodedPercent:
    """Show ``part`` of ``whole`` as a whole-number percentage, top and bottom coded.

    A group never reads exactly 0% or 100%: a share below 5% reads ``"<5%"`` and a
    share above 95% reads ``">95%"`` (decided on the exact ratio, before rounding), so
    a display never says that everybody or nobody in a group gave an answer. Shares
    from 5% to 95% round half up to a whole number.

    :param part: respondents with the attribute, ``0 <= part <= whole``
    :param whole: respondents behind the figure (positive; a population of 0 is
        withheld before it reaches display)
    :raises ValueError: when ``whole`` is not positive or ``part`` is out of range
    """
    if whole < 1:
        raise ValueError("a percentage needs a positive whole")
    if not 0 <= part <= whole:
        raise ValueError("part must lie between 0 and whole")
    if 100 * part < BOTTOM_CODE * whole:
        return CodedPercent(BOTTOM_CODE, f"<{BOTTOM_CODE}%", is_coded=True)
    if 100 * part > TOP_CODE * whole:
        return CodedPercent(TOP_CODE, f">{TOP_CODE}%", is_coded=True)
    percent = (200 * part + whole) // (2 * whole)
    return CodedPercent(percent, f"{percent}%")


def protect(blocks: Sequence[Block], *, k: int) -> Protection:
    """Withhold small figures and their complements until an LP audit proves the rest.

    Each block is protected and audited on its own, which is sound because blocks share
    no microcells (checked here).

    :param blocks: the independent parts of one release; keys unique across blocks
    :param k: smallest population that may be published (at least :data:`MIN_K`)
    :return: withheld keys with reasons, the passing audit, and the rounds taken
    :raises ValueError: if ``k < MIN_K`` or blocks share figure keys or microcells
    :raises ProtectionError: if some figure is determined whatever is withheld
    """
    if k < MIN_K:
        raise ValueError(f"k must be at least {MIN_K}")
    _check_independent(blocks)
    withheld: dict[str, str] = {}
    audits: list[AuditResult] = []
    rounds = 0
    for block in blocks:
        block_withheld, block_audit, block_rounds = _protect_block(block, k)
        withheld.update(block_withheld)
        audits.append(block_audit)
        rounds = max(rounds, block_rounds)
    return Protection(MappingProxyType(withheld), _combine(audits), rounds)


def audit(block: Block, withheld: Collection[str]) -> AuditResult:
    """Bound every withheld figure of a block as an attacker with an LP solver would.

    The attacker knows every published figure exactly, the block's identities, that
    counts are non-negative and below the block's upper bounds. A withheld figure is
    safe when the values it can take span at least two integers. Two facts keep this
    fast without giving up soundness:

    * The true counts are one feasible dataset. A few LPs with random objectives (each
      pushing every unresolved withheld figure up or down at random) give more
      feasible datasets; a figure taking values that span two integers across them is
      proven safe, because its exact interval contains theirs. Variables may be capped
      in these LPs: a capped solution is still feasible.
    * Only the figures left unresolved get their own max and min LPs, whose optima are
      the exact bounds (and whose vertices resolve further figures on the way).

    The bounds are those of the LP relaxation: an attacker who also used integrality
    might, in rare systems, narrow an interval further.

    :param block: the figures, true counts, bounds and identities
    :param withheld: keys of the figures not published
    :return: the audit, with every exposed key
    """
    withheld = frozenset(withheld)
    hidden = np.array([f.key in withheld for f in block.figures], dtype=bool)
    return _audit_block(_Compiled.of(block), hidden).result


# -- validation -----------------------------------------------------------------------


def _check_terms(
    terms: Mapping[str, float], values: Mapping[str, int], what: str
) -> None:
    """Reject a linear form that is empty or names an unknown microcell."""
    if not any(terms.values()):
        raise ValueError(f"{what} depends on no microcell")
    if not _integral(terms):
        for coef in terms.values():
            _rational(coef)
    if not terms.keys() <= values.keys():
        unknown = sorted(set(terms) - set(values))
        raise ValueError(f"{what} names unknown microcells {unknown[:3]}")


def _integral(terms: Mapping[str, float]) -> bool:
    """Say whether every coefficient is a whole number (the common, fast case)."""
    return all(float(coef).is_integer() for coef in terms.values())


def _evaluate(terms: Mapping[str, float], values: Mapping[str, int]) -> Fraction:
    """Return the exact value of a linear form on the true counts."""
    if _integral(terms):
        return Fraction(sum(int(coef) * values[name] for name, coef in terms.items()))
    return sum(
        (_rational(coef) * values[name] for name, coef in terms.items()), Fraction(0)
    )


def _rational(coef: float) -> Fraction:
    """Return a coefficient as an exact small rational, so elimination stays exact."""
    exact = Fraction(coef).limit_denominator(_MAX_DENOMINATOR)
    if float(exact) != coef:
        raise ValueError(
            f"coefficient {coef!r} is not a rational with a small denominator"
        )
    return exact


def _check_independent(blocks: Sequence[Block]) -> None:
    """Refuse blocks that share keys or microcells: their audits would not compose."""
    keys: set[str] = set()
    cells: set[str] = set()
    for block in blocks:
        block_keys = {figure.key for figure in block.figures}
        block_cells = {name for figure in block.figures for name in figure.terms}
        block_cells.update(name for identity in block.identities for name in identity)
        if keys & block_keys:
            raise ValueError(
                f"figure keys repeat across blocks: {sorted(keys & block_keys)[:3]}"
            )
        if cells & block_cells:
            raise ValueError(
                f"blocks share microcells: {sorted(cells & block_cells)[:3]}"
            )
        keys |= block_keys
        cells |= block_cells


# -- the block as matrices ------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    """A block in both forms needed: exact integer rows and float sparse matrices."""

    block: Block
    figure_rows: tuple[dict[int, int], ...]
    identity_rows: tuple[dict[int, int], ...]
    figures: sparse.csr_array
    identities: sparse.csr_array
    truth: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, block: Block) -> _Compiled:
        """Index the block's microcells and build its rows once for every round."""
        forms = [figure.terms for figure in block.figures]
        names = sorted(
            {name for terms in (*forms, *block.identities) for name in terms}
        )
        index = {name: column for column, name in enumerate(names)}
        return cls(
            block=block,
            figure_rows=tuple(_integer_row(terms, index) for terms in forms),
            identity_rows=tuple(
                _integer_row(terms, index) for terms in block.identities
            ),
            figures=_matrix(forms, index),
            identities=_matrix(block.identities, index),
            truth=np.array([block.values[name] for name in names], dtype=float),
            upper=np.array([block.upper_bounds.get(name, np.inf) for name in names]),
        )


def _integer_row(
    terms: Mapping[str, float], index: Mapping[str, int]
) -> dict[int, int]:
    """Scale a linear form to integers (scaling keeps its span), modulo :data:`_PRIME`."""
    if _integral(terms):
        return {index[name]: int(coef) % _PRIME for name, coef in terms.items() if coef}
    exact = {index[name]: _rational(coef) for name, coef in terms.items() if coef}
    scale = math.lcm(*(coef.denominator for coef in exact.values()))
    return {column: int(coef * scale) % _PRIME for column, coef in exact.items()}


def _matrix(
    forms: Sequence[Mapping[str, float]], index: Mapping[str, int]
) -> sparse.csr_array:
    """Stack linear forms as the rows of a sparse matrix over the block's microcells."""
    from scipy import sparse

    rows, columns, data = [], [], []
    for row, terms in enumerate(forms):
        for name, coef in terms.items():
            rows.append(row)
            columns.append(index[name])
            data.append(float(coef))
    shape = (len(forms), len(index))
    return sparse.csr_array((data, (rows, columns)), shape=shape)


# -- complementary suppression by Gaussian elimination ----------------------------------


def _eliminate(row: dict[int, int], pivot: int, by: dict[int, int]) -> dict[int, int]:
    """Cancel ``pivot`` from ``row`` with ``by`` (whose pivot entry is 1), mod the prime."""
    take = row[pivot]
    out = dict(row)
    for j, c in by.items():
        value = (out.get(j, 0) - take * c) % _PRIME
        if value:
            out[j] = value
        else:
            out.pop(j, None)
    return out


@dataclass(frozen=True)
class _Change:
    """Rows about to become known and the withheld residues they would shrink."""

    rows: list[tuple[int, dict[int, int]]]
    residues: dict[int, dict[int, int]]


class _Span:
    """The row space of what is known, and each withheld figure's residue modulo it.

    Rows are kept in forward echelon form: row ``i`` has a pivot absent from every row
    added before it. A vector's residue (what is left after cancelling every pivot) is
    then unique, so a withheld figure is a linear combination of known rows exactly
    when its residue is empty.
    """

    def __init__(self) -> None:
        """Start from an empty space: nothing known, nothing withheld."""
        self._rows: list[tuple[int, dict[int, int]]] = []
        self._position: dict[int, int] = {}
        self._residue: dict[int, dict[int, int]] = {}
        self._holders: dict[int, set[int]] = {}

    def reduce(self, row: dict[int, int]) -> dict[int, int]:
        """Return the residue of ``row``: zero on every pivot, equal modulo the span."""
        out = dict(row)
        queue = [self._position[j] for j in out if j in self._position]
        heapq.heapify(queue)
        while queue:
            pivot, by = self._rows[heapq.heappop(queue)]
            if pivot not in out:
                continue
            out = _eliminate(out, pivot, by)
            # Only ``by`` brings new entries, and its pivots all come later in order.
            for j in by:
                if j in out and j in self._position:
                    heapq.heappush(queue, self._position[j])
        return out

    def withhold(self, figure: int, row: dict[int, int]) -> bool:
        """Track a withheld figure; False if the known rows already determine it."""
        residue = self.reduce(row)
        if not residue:
            return False
        self._residue[figure] = residue
        for j in residue:
            self._holders.setdefault(j, set()).add(figure)
        return True

    def attempt(self, rows: Iterable[dict[int, int]]) -> _Change | None:
        """Plan making ``rows`` known; None if that determines a withheld figure."""
        fresh: list[tuple[int, dict[int, int]]] = []
        for row in rows:
            residue = self.reduce(row)
            for pivot, by in fresh:
                if pivot in residue:
                    residue = _eliminate(residue, pivot, by)
            if residue:
                pivot = self._choose_pivot(residue)
                scale = pow(residue[pivot], -1, _PRIME)
                residue = {j: c * scale % _PRIME for j, c in residue.items()}
                fresh.append((pivot, residue))
        changed: dict[int, dict[int, int]] = {}
        for pivot, by in fresh:
            holders = set(self._holders.get(pivot, ()))
            holders.update(w for w, residue in changed.items() if pivot in residue)
            for w in holders:
                residue = changed.get(w, self._residue[w])
                if pivot not in residue:
                    continue
                residue = _eliminate(residue, pivot, by)
                if not residue:
                    return None
                changed[w] = residue
        return _Change(fresh, changed)

    def commit(self, change: _Change) -> None:
        """Apply a planned change: its rows become known, residues shrink."""
        for pivot, by in change.rows:
            self._position[pivot] = len(self._rows)
            self._rows.append((pivot, by))
        for w, residue in change.residues.items():
            old = self._residue[w]
            for j in old.keys() - residue.keys():
                self._holders[j].discard(w)
            for j in residue.keys() - old.keys():
                self._holders.setdefault(j, set()).add(w)
            self._residue[w] = residue

    def _choose_pivot(self, residue: dict[int, int]) -> int:
        """Pick the pivot in fewest withheld residues (only speed depends on it)."""
        return min(residue, key=lambda j: (len(self._holders.get(j, ())), j))


def _complementary(compiled: _Compiled, forced: Mapping[str, str]) -> dict[str, str]:
    """Withhold ``forced`` and whichever candidates would let a withheld one be derived.

    Candidates are visited from most to least valuable (priority, then population, then
    value), so totals are published and small breakdowns absorb the suppression.

    Zeros need care, because non-negative counts summing to zero are each zero. Two
    spans are kept. In the first, a published zero with positive coefficients enters
    as its microcells; it protects the withheld figures that are zero, which can only
    move up. In the second, every microcell that is zero is treated as known; it
    protects the other withheld figures, so that they can move both ways on non-zero
    counts alone and a sum of withheld zeros never stands in as their complement. What
    remains (zeros pinned by combinations of published figures) is the LP audit's.

    :raises ProtectionError: if identities alone determine a forced figure
    """
    block = compiled.block
    positive = compiled.truth > 0
    exact, strict = _Span(), _Span()

    def stripped(row: dict[int, int]) -> dict[int, int]:
        return {j: c for j, c in row.items() if positive[j]}

    def withhold(number: int) -> bool:
        row = compiled.figure_rows[number]
        if any(positive[j] for j in row) and strict.withhold(number, stripped(row)):
            return True
        return exact.withhold(number, row)

    exact.commit(_must(exact.attempt(compiled.identity_rows)))
    strict.commit(_must(strict.attempt(map(stripped, compiled.identity_rows))))
    withheld = dict(forced)
    order: list[int] = []
    for number, figure in enumerate(block.figures):
        if figure.key not in forced:
            order.append(number)
        elif not withhold(number):
            raise ProtectionError(
                f"figure {figure.key!r} is known whatever is withheld"
            )
    # Within a population, smaller counts go first so the count left to absorb the
    # suppression is the largest: its withholding leaves the attacker the most room.
    value = compiled.figures @ compiled.truth
    order.sort(
        key=lambda i: (-block.figures[i].priority, -block.figures[i].n, value[i], i)
    )
    for number in order:
        row = compiled.figure_rows[number]
        zero = not any(positive[j] for j in row)
        pinned = zero and all(c > 0 for c in row.values())
        plain = exact.attempt([{j: 1} for j in row] if pinned else [row])
        strong = strict.attempt([] if zero else [stripped(row)])
        if plain is not None and strong is not None:
            exact.commit(plain)
            strict.commit(strong)
        else:
            withhold(number)
            withheld[block.figures[number].key] = COMPLEMENTARY
    return withheld


def _must(change: _Change | None) -> _Change:
    """Return a change that cannot fail (nothing is withheld yet)."""
    assert change is not None
    return change


# -- linear programs: HiGHS kept warm between solves -----------------------------------

#: Status of an LP as the audit reads it.
_OPTIMAL, _UNBOUNDED, _INFEASIBLE = "optimal", "unbounded", "infeasible"


@dataclass(frozen=True)
class _Solution:
    """The outcome of one LP: its status, optimal point and objective value."""

    status: str
    x: np.ndarray | None = None
    value: float = math.nan


class _LP:
    """One LP ``min cost @ x`` over ``row_lower <= A x <= row_upper``, ``lower <= x <= upper``.

    The model is handed to HiGHS once; each :meth:`solve` changes only costs or
    bounds, so HiGHS starts from the previous optimal basis (a hot start) and usually
    needs a few dozen pivots instead of a full solve. SciPy ships HiGHS with its
    Python bindings (``scipy.optimize._highspy``, SciPy >= 1.15); where they are
    missing each solve goes through ``scipy.optimize.linprog`` (the same solver,
    cold every time).
    """

    def __init__(
        self,
        matrix,
        row_lower: np.ndarray,
        row_upper: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
    ) -> None:
        """Build the model; ``matrix`` is any SciPy sparse matrix."""
        self.matrix = matrix.tocsc()
        self.row_lower = np.array(row_lower, dtype=float)
        self.row_upper = np.array(row_upper, dtype=float)
        self.lower = np.array(lower, dtype=float)
        self.upper = np.array(upper, dtype=float)
        self.cost = np.zeros(self.matrix.shape[1])
        self.solves = 0
        self._highs = _highs_model(self.matrix, row_lower, row_upper, lower, upper)

    def solve(self, cost: np.ndarray | None = None) -> _Solution:
        """Minimise ``cost @ x`` (default: the last costs given).

        A HiGHS answer other than optimal or unbounded is checked once more from a
        cold start, so a hot start gone wrong never passes for infeasibility.

        :raises ProtectionError: if the solver fails outright
        """
        self.solves += 1
        if cost is not None:
            self.cost = np.asarray(cost, dtype=float)
            if self._highs is not None:
                columns = np.arange(self.cost.size, dtype=np.int32)
                self._highs.changeColsCost(self.cost.size, columns, self.cost)
        if self._highs is None:
            return self._solve_linprog()
        solution = self._solve_highs()
        if solution is None:
            self._highs.clearSolver()
            solution = self._solve_highs()
        return solution if solution is not None else self._solve_linprog()

    def forget_basis(self) -> None:
        """Make the next solve start cold (with HiGHS's presolve)."""
        if self._highs is not None:
            self._highs.clearSolver()

    def change_rows(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray):
        """Change the bounds of some rows."""
        self.row_lower[rows], self.row_upper[rows] = lower, upper
        if self._highs is not None:
            for row in np.asarray(rows).tolist():
                self._highs.changeRowBounds(
                    row,
                    float(np.clip(self.row_lower[row], -_INF, _INF)),
                    float(np.clip(self.row_upper[row], -_INF, _INF)),
                )

    def change_bounds(self, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray):
        """Change the bounds of some columns."""
        self.lower[columns], self.upper[columns] = lower, upper
        if self._highs is not None:
            self._highs.changeColsBounds(
                len(columns),
                np.asarray(columns, dtype=np.int32),
                np.clip(self.lower[columns], -_INF, _INF),
                np.clip(self.upper[columns], -_INF, _INF),
            )

    def change_costs(self, columns: np.ndarray, cost: np.ndarray) -> None:
        """Change the costs of some columns."""
        self.cost = self.cost.copy()
        self.cost[columns] = cost
        if self._highs is not None:
            self._highs.changeColsCost(
                len(columns),
                np.asarray(columns, dtype=np.int32),
                np.asarray(self.cost[columns], dtype=float),
            )

    def _solve_highs(self) -> _Solution | None:
        from scipy.optimize._highspy import _core

        highs = self._highs
        highs.run()
        status = highs.getModelStatus()
        if status == _core.HighsModelStatus.kOptimal:
            x = np.array(highs.getSolution().col_value)
            return _Solution(_OPTIMAL, x, float(self.cost @ x))
        if status == _core.HighsModelStatus.kUnbounded:
            return _Solution(_UNBOUNDED)
        if status == _core.HighsModelStatus.kInfeasible:
            return _Solution(_INFEASIBLE)
        return None

    def _solve_linprog(self) -> _Solution:
        from scipy import sparse
        from scipy.optimize import linprog

        matrix = self.matrix.tocsr()
        equal = self.row_lower == self.row_upper
        upper_rows = ~equal & np.isfinite(self.row_upper)
        lower_rows = ~equal & np.isfinite(self.row_lower)
        a_ub = sparse.vstack([matrix[upper_rows], -matrix[lower_rows]]).tocsr()
        b_ub = np.concatenate([self.row_upper[upper_rows], -self.row_lower[lower_rows]])
        bounds = [
            (None if math.isinf(lo) else lo, None if math.isinf(up) else up)
            for lo, up in zip(self.lower, self.upper, strict=True)
        ]
        result = linprog(
            self.cost,
            A_ub=a_ub if a_ub.shape[0] else None,
            b_ub=b_ub if a_ub.shape[0] else None,
            A_eq=matrix[equal] if equal.any() else None,
            b_eq=self.row_lower[equal] if equal.any() else None,
            bounds=bounds,
            method="highs",
        )
        if result.status == 0:
            return _Solution(_OPTIMAL, result.x, float(result.fun))
        if result.status == 2:
            return _Solution(_INFEASIBLE)
        if result.status == 3:
            return _Solution(_UNBOUNDED)
        raise ProtectionError(f"an audit LP failed: {result.message}")


_INF = 1e30  # HiGHS reads anything at least this large as infinite


def _highs_model(matrix, row_lower, row_upper, lower, upper):
    """Return a quiet HiGHS instance holding the model, or None without the bindings."""
    try:
        from scipy.optimize._highspy import _core
    except ImportError:  # SciPy < 1.15: every solve goes through linprog
        return None
    lp = _core.HighsLp()
    rows, columns = matrix.shape
    lp.num_col_, lp.num_row_ = columns, rows
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = columns, rows
    lp.a_matrix_.format_ = _core.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    lp.col_cost_ = np.zeros(columns)
    lp.col_lower_ = np.clip(np.asarray(lower, dtype=float), -_INF, _INF)
    lp.col_upper_ = np.clip(np.asarray(upper, dtype=float), -_INF, _INF)
    lp.row_lower_ = np.clip(np.asarray(row_lower, dtype=float), -_INF, _INF)
    lp.row_upper_ = np.clip(np.asarray(row_upper, dtype=float), -_INF, _INF)
    highs = _core._Highs()
    highs.setOptionValue("output_flag", False)
    if highs.passModel(lp) == _core.HighsStatus.kError:
        return None
    return highs


# -- the audit: what an attacker with an LP solver can derive --------------------------


@dataclass(frozen=True)
class _Presolved:
    """Microcells an attacker pins without an LP."""

    fixed: np.ndarray

    @classmethod
    def of(cls, known, truth: np.ndarray, upper: np.ndarray) -> _Presolved:
        """Pin microcells by the two rules any attacker applies first, to a fixpoint.

        A row with one unknown left determines it. A row whose unknowns all sit at the
        same end of their box (its value is the least or greatest the box allows: a
        published zero, a count equal to its known maximum) determines them all. A
        pinned microcell's value is its true value, since the truth is feasible.
        """
        by_column = known.tocsc()
        fixed = np.zeros(known.shape[1], dtype=bool)
        queue = list(range(known.shape[0]))
        queued = np.ones(known.shape[0], dtype=bool)
        while queue:
            row = queue.pop()
            queued[row] = False
            span = slice(known.indptr[row], known.indptr[row + 1])
            columns, coefs = known.indices[span], known.data[span]
            unknown = ~fixed[columns]
            columns, coefs = columns[unknown], coefs[unknown]
            if not columns.size:
                continue
            if columns.size > 1:
                value, top = truth[columns], upper[columns]
                at_low = np.where(coefs > 0, value == 0, value == top)
                at_high = np.where(coefs > 0, value == top, value == 0)
                if not (at_low.all() or at_high.all()):
                    continue
            fixed[columns] = True
            for column in columns:
                touching = by_column.indices[
                    by_column.indptr[column] : by_column.indptr[column + 1]
                ]
                fresh = touching[~queued[touching]]
                queued[fresh] = True
                queue.extend(fresh.tolist())
        return cls(fixed)


def _row_min(matrix) -> np.ndarray:
    """Return each row's smallest stored coefficient (0 for an empty row)."""
    return np.array(
        [
            matrix.data[a:b].min() if b > a else 0.0
            for a, b in itertools.pairwise(matrix.indptr)
        ]
    )


def _snap(values: np.ndarray) -> np.ndarray:
    """Round LP values lying within solver tolerance of an integer to that integer."""
    with np.errstate(invalid="ignore"):
        nearest = np.round(values)
        return np.where(np.abs(values - nearest) <= _SNAP, nearest, values)


def _safe(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Say which intervals hold at least two integers (so also span at least 1)."""
    with np.errstate(invalid="ignore"):
        return np.floor(_snap(high)) - np.ceil(_snap(low)) >= 1


@dataclass(frozen=True)
class _Audit:
    """An audit with what the repair needs: who is exposed, and the datasets found."""

    result: AuditResult
    #: Figure numbers of the exposed figures, and for each whether it has more room
    #: upward than downward (a zero of non-negative counts can only go up).
    exposed: np.ndarray
    upward: np.ndarray
    #: Feasible datasets (every microcell) that proved some figure safe.
    datasets: tuple[np.ndarray, ...]


class _Bounds:
    """What the audit knows so far about each withheld figure's range."""

    def __init__(self, forms, truth: np.ndarray) -> None:
        """Start from the true counts: each figure's interval is its true value."""
        self.forms = forms
        self.base = forms @ truth
        self.low, self.high = self.base.copy(), self.base.copy()
        self.kept: list[np.ndarray] = []

    def safe(self) -> np.ndarray:
        """Say which figures are proven safe."""
        return _safe(self.low, self.high)

    def learn(self, dataset: np.ndarray) -> None:
        """Widen every interval to the figure's value on a feasible dataset."""
        before = self.safe()
        values = self.forms @ dataset
        np.minimum(self.low, values, out=self.low)
        np.maximum(self.high, values, out=self.high)
        if (self.safe() & ~before).any():
            self.kept.append(dataset)


def _feasible(dataset: np.ndarray, known, rhs: np.ndarray, upper: np.ndarray) -> bool:
    """Say whether a dataset satisfies what the attacker knows (to LP tolerance)."""
    if dataset.min() < -_TOLERANCE or (dataset > upper + _TOLERANCE).any():
        return False
    gap = np.abs(known @ dataset - rhs)
    return bool((gap <= _TOLERANCE * (1.0 + np.abs(rhs))).all())


def _audit_block(
    compiled: _Compiled,
    hidden: np.ndarray,
    hints: Iterable[np.ndarray] = (),
    *,
    exact: bool = True,
) -> _Audit:
    """Bound every withheld figure of a block as an attacker with an LP solver would.

    Proof of safety comes from feasible datasets: the true counts are one, and a
    withheld figure that takes values a whole unit apart on two feasible datasets
    cannot be pinned (its exact interval contains both). ``hints`` (datasets from
    earlier rounds, e.g. the repair's) are checked against the published equalities
    and used first; then a few LPs with random objectives (one HiGHS model, hot
    started) find more; only the figures left get their own max and min LPs, whose
    optima are the exact bounds. Microcells pinned by presolve are constants to the
    LPs, which then run over the rest only: the same bounds on a smaller problem.

    With ``exact=False`` the max and min LPs are skipped: every figure the datasets
    do not prove safe is reported as exposed, which is what :func:`_protect_block`
    wants (its repair moves a figure that was safe after all at no cost), and a
    passing result is still a proof.
    """
    from scipy import sparse

    block = compiled.block
    numbers = np.flatnonzero(hidden)
    if not numbers.size:
        empty = np.zeros(0, dtype=int)
        return _Audit(AuditResult(True, 0, 0, None, ()), empty, empty.astype(bool), ())
    published = np.flatnonzero(~hidden)
    known = sparse.vstack([compiled.figures[published], compiled.identities]).tocsr()
    known.eliminate_zeros()
    truth, upper = compiled.truth, compiled.upper
    forms = compiled.figures[numbers].tocsr()
    bounds = _Bounds(forms, truth)
    rhs_all = known @ truth
    for dataset in hints:
        if _feasible(dataset, known, rhs_all, upper):
            bounds.learn(dataset)

    pinned = _Presolved.of(known, truth, upper)
    free = np.flatnonzero(~pinned.fixed)
    free_forms = forms[:, free].tocsr()
    moving = np.diff(free_forms.indptr) > 0
    floored = (bounds.base == 0) & (_row_min(forms) >= 0)
    solves = 0
    if (~bounds.safe() & moving).any():
        solves = _bound_by_lp(
            known, truth, upper, free, free_forms, floored, bounds, exact=exact
        )

    safe = bounds.safe()
    exposed = np.flatnonzero(~safe)
    room_up = bounds.high[exposed] - bounds.base[exposed]
    room_down = bounds.base[exposed] - bounds.low[exposed]
    upward = floored[exposed] | (room_up >= room_down)
    gaps = _snap(bounds.high) - _snap(bounds.low)
    result = AuditResult(
        passed=not exposed.size,
        checked=int(numbers.size),
        lp_solves=solves,
        narrowest_gap=float(gaps.min()),
        exposed=tuple(block.figures[numbers[i]].key for i in exposed),
    )
    return _Audit(result, numbers[exposed], upward, tuple(bounds.kept))


def _bound_by_lp(
    known,
    truth: np.ndarray,
    upper: np.ndarray,
    free: np.ndarray,
    free_forms,
    floored: np.ndarray,
    bounds: _Bounds,
    *,
    exact: bool = True,
) -> int:
    """Prove figures safe with LPs over the free microcells; return the LPs solved.

    Variables are capped at a generous distance from the truth so every LP has an
    optimum (a capped optimum is still a feasible dataset). A max or min LP whose
    optimum touches no cap is exact; one that does is solved again without caps.
    """
    rows = np.flatnonzero(np.diff((known[:, free] != 0).tocsr().indptr))
    matrix = known[rows][:, free].tocsr()
    rhs = matrix @ truth[free]
    room = 1.0 + (float(np.abs(rhs).max()) if rhs.size else 0.0)
    cap = np.minimum(upper[free], truth[free] + room)
    zeros = np.zeros(free.size)
    capped = _LP(matrix, rhs, rhs, zeros, cap)
    uncapped: _LP | None = None
    moving = np.diff(free_forms.indptr) > 0

    def lift(x: np.ndarray) -> np.ndarray:
        dataset = truth.copy()
        dataset[free] = np.maximum(x, 0.0)
        return dataset

    # Random objectives: each pushes every unresolved figure up or down, weighted so
    # that no figure dominates by the size of its coefficients.
    weight = 1.0 / np.maximum(abs(free_forms).sum(axis=1), 1.0)
    rng = np.random.default_rng(0)
    for sweep in range(_MAX_SWEEPS):
        pending = np.flatnonzero(~bounds.safe() & moving)
        if not pending.size:
            break
        side = (
            (1.0, -1.0)[sweep] if sweep < 2 else rng.choice((-1.0, 1.0), pending.size)
        )
        directions = np.where(floored[pending], 1.0, side) * weight[pending]
        solution = capped.solve(-(free_forms[pending].T @ directions))
        if solution.status == _OPTIMAL:
            bounds.learn(lift(solution.x))
        still = np.count_nonzero(~bounds.safe() & moving)
        if sweep >= 1 and pending.size - still < max(1, pending.size // 10):
            break
    if not exact:
        return capped.solves

    for row in np.flatnonzero(~bounds.safe() & moving):
        form = free_forms[[row]].toarray().ravel()
        for sign in (1.0, -1.0):
            if bounds.safe()[row] or (sign < 0 and floored[row]):
                break
            solution = capped.solve(-sign * form)
            if solution.status == _OPTIMAL:
                bounds.learn(lift(solution.x))
                at_cap = (solution.x >= cap - _TOLERANCE) & (cap < upper[free])
                if bounds.safe()[row] or not (at_cap & (form != 0)).any():
                    continue
            if uncapped is None:
                uncapped = _LP(matrix, rhs, rhs, zeros, upper[free])
            solution = uncapped.solve(-sign * form)
            if solution.status == _UNBOUNDED:
                if sign > 0:
                    bounds.high[row] = math.inf
                else:
                    bounds.low[row] = -math.inf
            elif solution.status == _OPTIMAL:
                bounds.learn(lift(solution.x))
            else:
                raise ProtectionError("the audit LP failed")
    return capped.solves + (uncapped.solves if uncapped is not None else 0)


# -- repair: withhold the cheapest figures that free an exposed one ---------------------


def _cost(figure: Figure) -> float:
    """Return what withholding one unit of a figure costs a reader.

    Squared priority, so that a total is given up only when many small figures would
    have to go instead.
    """
    return (1.0 + max(figure.priority, 0)) ** 2


def _repair(
    compiled: _Compiled, hidden: np.ndarray, found: _Audit
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Choose published figures to withhold so that every unproven figure can move.

    One LP, kept warm, over counts ``y >= 0`` (below known bounds) that keep every
    identity; each published figure ``f`` may differ from its true value by slacks
    ``s+ - s-`` priced at :func:`_cost`; each unproven figure ``w`` has a column
    ``z_w <= 1`` with ``side_w * (w(y) - w(truth)) >= z_w`` (``side_w`` its roomier
    direction). Withholding the figures whose slack a solution ``y`` uses leaves ``y``
    feasible, which proves safe every unproven figure that ``y`` moves by a unit;
    withheld figures then cost nothing to move.

    First one joint LP rewards each unit of ``z`` with :data:`_BATCH_REWARD`, so the
    figures that are cheap to free are freed together. Then each figure still
    unproven in turn gets ``z_w = 1`` (or, if that is infeasible, a move of a unit the
    other way) and the cheapest such ``y``. A figure that cannot move a unit either
    way however much is withheld is determined by the identities and bounds alone.

    :return: figure numbers to withhold, datasets proving the moves, LPs solved
    :raises ProtectionError: if some unproven figure cannot be freed
    """
    from scipy import sparse

    figures, identities, truth = compiled.figures, compiled.identities, compiled.truth
    published = np.flatnonzero(~hidden)
    targets = found.exposed
    cells, count, width = truth.size, published.size, targets.size
    sides = np.where(found.upward, 1.0, -1.0)
    goals = sparse.diags_array(sides) @ figures[targets]
    eye = sparse.eye_array(count, format="csr")
    matrix = sparse.block_array(
        [
            [identities, None, None, None],
            [figures[published], -eye, eye, None],
            [goals, None, None, -sparse.eye_array(width)],
        ],
        format="csc",
    )
    fixed = np.concatenate([identities @ truth, figures[published] @ truth])
    base = goals @ truth
    slack_end = cells + 2 * count
    lp = _LP(
        matrix,
        np.concatenate([fixed, base]),
        np.concatenate([fixed, np.full(width, np.inf)]),
        np.concatenate([np.zeros(slack_end), np.full(width, -np.inf)]),
        np.concatenate([compiled.upper, np.full(2 * count, np.inf), np.ones(width)]),
    )
    prices = np.array([_cost(compiled.block.figures[i]) for i in published])
    lp.change_costs(
        np.arange(cells, cells + 2 * count + width),
        np.concatenate([np.tile(prices, 2), np.full(width, -_BATCH_REWARD)]),
    )
    first_row = identities.shape[0] + count
    unproven = np.ones(width, dtype=bool)
    released = np.zeros(count, dtype=bool)
    datasets: list[np.ndarray] = []

    def take(x: np.ndarray) -> None:
        moved = x[cells : cells + count] + x[cells + count : slack_end]
        fresh = np.flatnonzero((moved > _TOLERANCE) & ~released)
        if fresh.size:
            released[fresh] = True
            columns = np.concatenate([cells + fresh, cells + count + fresh])
            lp.change_costs(columns, np.zeros(columns.size))
        dataset = np.maximum(x[:cells], 0.0)
        datasets.append(dataset)
        values = goals @ dataset
        unproven[_safe(np.minimum(base, values), np.maximum(base, values))] = False

    batch = lp.solve()
    if batch.status == _OPTIMAL:
        take(batch.x)
    # From now on z only breaks ties: among the cheapest moves of one target, prefer
    # one that moves other unproven targets its way too.
    ends = np.arange(slack_end, slack_end + width)
    lp.change_costs(ends, np.full(width, -_TIE_REWARD))
    for target in range(width):
        if not unproven[target]:
            continue
        row = np.array([first_row + target])
        end = ends[target : target + 1]
        lp.change_bounds(end, np.ones(1), np.ones(1))
        solution = lp.solve()
        lp.change_bounds(end, np.full(1, -np.inf), np.ones(1))
        if solution.status != _OPTIMAL:
            lp.change_bounds(end, np.zeros(1), np.zeros(1))
            lp.change_rows(row, -np.inf, base[target] - 1.0)
            solution = lp.solve()
            lp.change_rows(row, base[target], np.inf)
            lp.change_bounds(end, np.full(1, -np.inf), np.ones(1))
        if solution.status != _OPTIMAL:
            key = compiled.block.figures[targets[target]].key
            raise ProtectionError(f"figure {key!r} is known whatever is withheld")
        take(solution.x)
    return published[released], datasets, lp.solves


def _protect_block(block: Block, k: int) -> tuple[dict[str, str], AuditResult, int]:
    """Suppress, audit, and withhold what frees each unproven figure until all are proven.

    Each round audits with feasible datasets only (``exact=False``): a figure they do
    not prove safe goes to :func:`_repair`, whose datasets move it by a whole unit,
    withholding what they must. Withholding more only widens the attacker's
    intervals, so a figure proven safe stays safe; the datasets that proved it are
    handed to the next audit, which checks them against the smaller set of published
    equalities. The loop ends when one audit proves every withheld figure safe.
    """
    compiled = _Compiled.of(block)
    forced = {
        figure.key: SMALL
        for figure in block.figures
        if figure.primary or (figure.primary is None and figure.n < k)
    }
    withheld = _complementary(compiled, forced)
    hidden = np.array([f.key in withheld for f in block.figures], dtype=bool)
    hints: list[np.ndarray] = []
    solves = rounds = 0
    unproven: tuple[str, ...] = ()
    while True:
        rounds += 1
        found = _audit_block(compiled, hidden, hints, exact=False)
        solves += found.result.lp_solves
        if found.result.passed:
            return withheld, replace(found.result, lp_solves=solves), rounds
        if found.result.exposed == unproven:
            raise ProtectionError(
                f"the audit cannot prove {unproven[:3]} safe after repairing them"
            )
        unproven = found.result.exposed
        release, datasets, used = _repair(compiled, hidden, found)
        solves += used
        hints = [*found.datasets, *datasets]
        for number in release:
            withheld[block.figures[number].key] = COMPLEMENTARY
        hidden[release] = True


def _combine(audits: Sequence[AuditResult]) -> AuditResult:
    """Merge the audits of independent blocks into the release's audit."""
    gaps = [a.narrowest_gap for a in audits if a.narrowest_gap is not None]
    return AuditResult(
        passed=all(a.passed for a in audits),
        checked=sum(a.checked for a in audits),
        lp_solves=sum(a.lp_solves for a in audits),
        narrowest_gap=min(gaps) if gaps else None,
        exposed=tuple(key for a in audits for key in a.exposed),
    )
