"""Small-cell suppression and its proof for every released figure (invariant 3).

A release is a set of *figures*, each an exact linear function of non-negative integer
*microcell* counts (a count per answer option is a sum of microcells; a mean is passed
as its sum ``sum(value * count)``; a percentage as its count). :func:`protect` decides
which figures to withhold, per independent :class:`Block`:

1. **Primary**: every figure resting on fewer than ``k`` respondents is withheld; an
   empty population (``n == 0``) is treated exactly like ``1..k-1``.
2. **Complementary** (the idea of Statistics Norway's GaussSuppression): candidates are
   visited from most to least valuable and published only if, after publishing, no
   withheld figure is a linear combination of what is known. Exact integer Gaussian
   elimination decides this. Zeros are handled as well as linear algebra can: a
   published zero stands for its microcells (non-negative counts summing to zero are
   each zero), and a withheld figure that is not zero must stay undetermined even
   when every zero microcell is taken as known, so that it can move on non-zero
   counts in both directions.
3. **Audit**: linear programming over the published equalities, the block's
   identities, non-negativity and known upper bounds gives the tightest interval an
   attacker can derive for each withheld figure. A figure is *exposed* when that
   interval holds fewer than two integers (so also when it is narrower than 1).
4. **Repair**: for each exposed figure the least valuable published figure that binds
   its bound is withheld too, everything withheld so far is kept, and steps 2-3 run
   again. Withholding more only widens intervals, so the loop ends.

Soundness rests on the audit alone; steps 2 and 4 only choose what to try. The audit
uses the LP relaxation: an attacker who also used integrality could, in rare systems,
narrow an interval further. Cost: most of it is the LPs of figures that are exposed
and must be repaired; tiny populations whose answers are mostly zero (a group of 3
has a zero in almost every option of every cell) are the expensive case, because
each such zero needs a non-zero complement (see ``bench/privacy_bench.py``).

Pure module: plain values in, frozen dataclasses out; no Flask, no database.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType

import numpy as np
from scipy import sparse
from scipy.optimize import OptimizeResult, linprog

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
# Largest denominator accepted in a coefficient, so elimination can stay exact.
_MAX_DENOMINATOR = 1_000_000
# Nudging LPs tried before bounding the remaining figures one by one.
_MAX_SWEEPS = 6


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
    result, _ = _audit_block(block, frozenset(withheld))
    return result


# -- validation -----------------------------------------------------------------------


def _check_terms(
    terms: Mapping[str, float], values: Mapping[str, int], what: str
) -> None:
    """Reject a linear form that is empty or names an unknown microcell."""
    if not any(terms.values()):
        raise ValueError(f"{what} depends on no microcell")
    for coef in terms.values():
        _rational(coef)
    unknown = sorted(set(terms) - set(values))
    if unknown:
        raise ValueError(f"{what} names unknown microcells {unknown[:3]}")


def _evaluate(terms: Mapping[str, float], values: Mapping[str, int]) -> Fraction:
    """Return the exact value of a linear form on the true counts."""
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
    """Scale a linear form to coprime integers; scaling keeps its span unchanged."""
    exact = {index[name]: _rational(coef) for name, coef in terms.items() if coef}
    scale = math.lcm(*(coef.denominator for coef in exact.values()))
    return _primitive({column: int(coef * scale) for column, coef in exact.items()})


def _matrix(
    forms: Sequence[Mapping[str, float]], index: Mapping[str, int]
) -> sparse.csr_array:
    """Stack linear forms as the rows of a sparse matrix over the block's microcells."""
    rows, columns, data = [], [], []
    for row, terms in enumerate(forms):
        for name, coef in terms.items():
            rows.append(row)
            columns.append(index[name])
            data.append(float(coef))
    shape = (len(forms), len(index))
    return sparse.csr_array((data, (rows, columns)), shape=shape)


# -- complementary suppression by exact Gaussian elimination ---------------------------


def _primitive(row: dict[int, int]) -> dict[int, int]:
    """Divide an integer row by the gcd of its entries, keeping the numbers small."""
    divisor = math.gcd(*row.values()) if row else 1
    return row if divisor == 1 else {j: c // divisor for j, c in row.items()}


def _eliminate(row: dict[int, int], pivot: int, by: dict[int, int]) -> dict[int, int]:
    """Cancel ``pivot`` from ``row`` with ``by``, fraction-free, to stay exact."""
    a, p = row[pivot], by[pivot]
    divisor = math.gcd(a, p)
    keep, take = p // divisor, a // divisor
    out = {j: keep * c for j, c in row.items()} if keep != 1 else dict(row)
    for j, c in by.items():
        value = out.get(j, 0) - take * c
        if value:
            out[j] = value
        else:
            out.pop(j, None)
    return _primitive(out)


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
                fresh.append((self._choose_pivot(residue), residue))
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
        return min(
            residue, key=lambda j: (len(self._holders.get(j, ())), abs(residue[j]), j)
        )


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


# -- the audit: what an attacker with an LP solver can derive --------------------------


class _Attacker:
    """LPs over the published equalities, non-negativity and known upper bounds."""

    def __init__(self, known: sparse.csr_array, truth: np.ndarray, upper: np.ndarray):
        """Fix the attacker's knowledge: ``known @ x == known @ truth``, ``0 <= x``."""
        self.known = known if known.shape[0] else None
        self.truth = truth
        self.rhs = known @ truth if known.shape[0] else None
        self.exact = [(0.0, None if math.isinf(u) else u) for u in upper]
        # Any cap keeps a solution feasible; a generous one lets figures move far.
        room = 1.0 + float(np.abs(self.rhs).max()) if self.rhs is not None else 1.0
        self.capped = [
            (0.0, min(u, t + room)) for u, t in zip(upper, truth, strict=True)
        ]
        self.solves = 0

    def nudge(
        self, forms: sparse.csr_array, directions: np.ndarray
    ) -> np.ndarray | None:
        """Return a feasible dataset moving as many forms as possible by one each.

        Maximises ``sum_w min(1, d_w * (f_w(x) - f_w(truth)))`` with one capped
        variable ``t_w`` per form, so no single form is pushed far at the others'
        expense (a plain linear objective would). None if HiGHS fails.
        """
        count = forms.shape[0]
        moved = sparse.hstack(
            [-(sparse.diags_array(directions) @ forms), sparse.eye_array(count)]
        ).tocsr()
        known = self.known
        if known is not None:
            known = sparse.hstack(
                [known, sparse.csr_array((known.shape[0], count))]
            ).tocsr()
        objective = np.concatenate([np.zeros(forms.shape[1]), -np.ones(count)])
        self.solves += 1
        result = linprog(
            objective,
            A_ub=moved,
            b_ub=-directions * (forms @ self.truth),
            A_eq=known,
            b_eq=self.rhs,
            bounds=self.capped + [(None, 1.0)] * count,
            method="highs",
        )
        return result.x[: forms.shape[1]] if result.status == 0 else None

    def extreme(
        self, form: np.ndarray, sign: float
    ) -> tuple[float, np.ndarray | None, np.ndarray]:
        """Return the attacker's max (``sign=1``) or min (``-1``) of a linear form.

        Also returns the optimal dataset and the equalities' duals (which of them bind
        the bound); an unbounded form gives ``sign * inf``.

        :raises ProtectionError: if HiGHS establishes neither optimum nor unboundedness
        """
        result = self._solve(-sign * form, self.exact)
        if result.status == 3:
            return sign * math.inf, None, np.zeros(0)
        if result.status != 0:
            raise ProtectionError(f"the audit LP failed: {result.message}")
        duals = result.eqlin.marginals if self.known is not None else np.zeros(0)
        return sign * -result.fun, result.x, np.asarray(duals)

    def _solve(
        self, objective: np.ndarray, bounds: list[tuple[float, float | None]]
    ) -> OptimizeResult:
        """Run HiGHS once; every audit LP goes through here so solves are counted."""
        self.solves += 1
        return linprog(
            objective, A_eq=self.known, b_eq=self.rhs, bounds=bounds, method="highs"
        )


@dataclass(frozen=True)
class _Presolved:
    """Microcells an attacker pins without an LP, and the rows that pin them."""

    fixed: np.ndarray
    fixed_by: np.ndarray

    @classmethod
    def of(
        cls, known: sparse.csr_array, truth: np.ndarray, upper: np.ndarray
    ) -> _Presolved:
        """Pin microcells by the two rules any attacker applies first, to a fixpoint.

        A row with one unknown left determines it. A row whose unknowns all sit at the
        same end of their box (its value is the least or greatest the box allows: a
        published zero, a count equal to its known maximum) determines them all. A
        pinned microcell's value is its true value, since the truth is feasible.
        """
        by_column = known.tocsc()
        fixed = np.zeros(known.shape[1], dtype=bool)
        fixed_by = np.full(known.shape[1], -1)
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
            fixed_by[columns] = row
            for column in columns:
                touching = by_column.indices[
                    by_column.indptr[column] : by_column.indptr[column + 1]
                ]
                fresh = touching[~queued[touching]]
                queued[fresh] = True
                queue.extend(fresh.tolist())
        return cls(fixed, fixed_by)

    def ancestry(self, columns: Iterable[int], known: sparse.csr_array) -> set[int]:
        """Return every row that took part in pinning ``columns``."""
        rows: set[int] = set()
        stack = [c for c in columns if self.fixed[c]]
        while stack:
            row = int(self.fixed_by[stack.pop()])
            if row in rows:
                continue
            rows.add(row)
            span = slice(known.indptr[row], known.indptr[row + 1])
            stack.extend(int(c) for c in known.indices[span] if self.fixed[c])
        return rows


def _row_min(matrix: sparse.csr_array) -> np.ndarray:
    """Return each row's smallest stored coefficient."""
    return np.array(
        [matrix.data[a:b].min() for a, b in itertools.pairwise(matrix.indptr)]
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


def _audit_block(
    block: Block, withheld: frozenset[str], compiled: _Compiled | None = None
) -> tuple[AuditResult, dict[str, frozenset[int]]]:
    """Audit one block; also name, per exposed key, the published figures binding it.

    Microcells pinned by presolve are constants to the LPs, which then run over the
    rest only: the same bounds, on a much smaller problem.
    """
    compiled = compiled or _Compiled.of(block)
    hidden = np.array([f.key in withheld for f in block.figures], dtype=bool)
    if not hidden.any():
        return AuditResult(True, 0, 0, None, ()), {}
    published = np.flatnonzero(~hidden)
    known = sparse.vstack([compiled.figures[published], compiled.identities]).tocsr()
    known.eliminate_zeros()
    truth, upper = compiled.truth, compiled.upper
    pinned = _Presolved.of(known, truth, upper)
    free = np.flatnonzero(~pinned.fixed)
    rows = np.flatnonzero(np.diff((known[:, free] != 0).tocsr().indptr))
    attacker = _Attacker(known[rows][:, free], truth[free], upper[free])
    forms = compiled.figures[np.flatnonzero(hidden)]
    free_forms = forms[:, free].tocsr()
    base = forms @ truth
    low, high = base.copy(), base.copy()
    moving = np.diff(free_forms.indptr) > 0
    floored = (base == 0) & (_row_min(forms) >= 0)

    def learn(dataset: np.ndarray | None) -> None:
        if dataset is not None:
            values = base + free_forms @ (dataset - truth[free])
            np.minimum(low, values, out=low)
            np.maximum(high, values, out=high)

    rng = np.random.default_rng(0)
    for sweep in range(_MAX_SWEEPS):
        pending = np.flatnonzero(~_safe(low, high) & moving)
        if not pending.size:
            break
        # Up, then down, then at random; a zero of non-negative counts only goes up.
        side = (
            (1.0, -1.0)[sweep] if sweep < 2 else rng.choice((-1.0, 1.0), pending.size)
        )
        directions = np.where(floored[pending], 1.0, side)
        learn(attacker.nudge(free_forms[pending], directions))
        still = np.count_nonzero(~_safe(low, high) & moving)
        if sweep >= 1 and pending.size - still < max(1, pending.size // 10):
            break

    binding: dict[str, frozenset[int]] = {}
    keys = [f.key for f, h in zip(block.figures, hidden, strict=True) if h]
    for row in np.flatnonzero(~_safe(low, high)):
        support = forms.indices[forms.indptr[row] : forms.indptr[row + 1]]
        culprits = pinned.ancestry(support, known)
        if moving[row]:
            form = free_forms[[row]].toarray().ravel()
            offset = base[row] - form @ truth[free]
            for sign in (1.0, -1.0):
                if _safe(low[row : row + 1], high[row : row + 1])[0] or (
                    sign < 0 and floored[row]
                ):
                    break
                bound, dataset, duals = attacker.extreme(form, sign)
                learn(dataset)
                if sign > 0:
                    high[row] = offset + bound
                else:
                    low[row] = offset + bound
                binds = np.flatnonzero(np.abs(duals) > 1e-9)
                culprits.update(int(rows[i]) for i in binds)
        if not _safe(low[row : row + 1], high[row : row + 1])[0]:
            figures = {int(published[i]) for i in culprits if i < published.size}
            binding[keys[row]] = frozenset(figures)
    gaps = _snap(high) - _snap(low)
    result = AuditResult(
        passed=not binding,
        checked=len(keys),
        lp_solves=attacker.solves,
        narrowest_gap=float(gaps.min()),
        exposed=tuple(binding),
    )
    return result, binding


def _protect_block(block: Block, k: int) -> tuple[dict[str, str], AuditResult, int]:
    """Suppress, audit, and withhold what binds each exposure until the audit passes."""
    compiled = _Compiled.of(block)
    forced = {
        figure.key: SMALL
        for figure in block.figures
        if figure.primary or (figure.primary is None and figure.n < k)
    }
    rounds = 0
    while True:
        rounds += 1
        withheld = _complementary(compiled, forced)
        result, binding = _audit_block(block, frozenset(withheld), compiled)
        if result.passed:
            return withheld, result, rounds
        # Keep every complement chosen so far: withholding more only widens the
        # attacker's intervals, so exposures fixed stay fixed and the loop converges.
        forced = withheld
        for key, culprits in binding.items():
            if not culprits:
                raise ProtectionError(f"figure {key!r} is known whatever is withheld")
            # Give up the least valuable figure that pins the exposed one, preferring
            # a non-zero one: withholding a zero cannot free a pinned zero.
            cheapest = min(
                culprits,
                key=lambda i: (
                    not compiled.truth[list(compiled.figure_rows[i])].any(),
                    block.figures[i].priority,
                    block.figures[i].n,
                    i,
                ),
            )
            forced[block.figures[cheapest].key] = COMPLEMENTARY


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
