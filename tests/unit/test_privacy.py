"""Suppression, its LP audit and the coding rules, tested as attacks on plain tables."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import numpy as np
import pytest
from scipy.optimize import linprog

from voice.privacy import (
    COMPLEMENTARY,
    MIN_K,
    SMALL,
    Block,
    Figure,
    ProtectionError,
    audit,
    code_percent,
    protect,
    round_count,
)

OPTIONS = ("agree", "neutral", "disagree")


def attacker_bounds(block: Block, withheld: Collection[str]) -> dict[str, tuple]:
    """Bound every withheld figure with plain LPs over everything published.

    Written independently of voice.privacy: one min and one max LP per figure.
    """
    names = sorted(block.values)
    column = {name: i for i, name in enumerate(names)}

    def dense(terms: Mapping[str, float]) -> np.ndarray:
        row = np.zeros(len(names))
        for name, coef in terms.items():
            row[column[name]] = coef
        return row

    truth = np.array([block.values[name] for name in names], dtype=float)
    known = [dense(f.terms) for f in block.figures if f.key not in withheld]
    known += [dense(identity) for identity in block.identities]
    a_eq = np.array(known) if known else None
    b_eq = a_eq @ truth if known else None
    bounds = [(0, block.upper_bounds.get(name)) for name in names]
    found = {}
    for figure in block.figures:
        if figure.key not in withheld:
            continue
        form = dense(figure.terms)
        ends = []
        for sign in (1, -1):
            result = linprog(sign * form, A_eq=a_eq, b_eq=b_eq, bounds=bounds)
            ends.append(sign * result.fun if result.status == 0 else -sign * math.inf)
        found[figure.key] = tuple(ends)
    return found


def exposed_by_attack(block: Block, withheld: Collection[str]) -> list[str]:
    """Return withheld keys whose attacker interval holds fewer than two integers."""
    exposed = []
    for key, (low, high) in attacker_bounds(block, withheld).items():
        if (
            high - low < math.inf
            and math.floor(high + 1e-6) - math.ceil(low - 1e-6) < 1
        ):
            exposed.append(key)
    return exposed


def breakdown(
    groups: Mapping[str, Mapping[str, int]], *, total_priority: int = 2
) -> Block:
    """Build a school-by-group table: n and a count per option, for each population."""
    values = {f"{g}|{o}": c for g, counts in groups.items() for o, c in counts.items()}
    figures = []
    populations = {"school": list(groups), **{g: [g] for g in groups}}
    for name, members in populations.items():
        n = sum(values[f"{g}|{o}"] for g in members for o in OPTIONS)
        priority = total_priority if name == "school" else 0
        cells = {f"{g}|{o}": 1.0 for g in members for o in OPTIONS}
        figures.append(Figure(f"{name}|n", cells, n=n, priority=priority + 1))
        for o in OPTIONS:
            terms = {f"{g}|{o}": 1.0 for g in members}
            figures.append(Figure(f"{name}|{o}", terms, n=n, priority=priority))
    return Block(tuple(figures), values)


def spread(n: int) -> dict[str, int]:
    """Split ``n`` respondents over the options as evenly as possible."""
    return {o: n // 3 + (i < n % 3) for i, o in enumerate(OPTIONS)}


@pytest.mark.parametrize(("n", "withheld"), [(9, True), (10, False), (11, False)])
def test_figure_is_withheld_exactly_below_k(n, withheld):
    block = breakdown({"a": spread(n), "b": spread(40), "c": spread(40)})
    protection = protect([block], k=10)
    assert ("a|n" in protection.withheld) is withheld
    assert (protection.withheld.get("a|n") == SMALL) is withheld


@pytest.mark.parametrize("k", [MIN_K, 7, 12])
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_threshold_holds_for_every_k(k, offset):
    block = breakdown({"a": spread(k + offset), "b": spread(50), "c": spread(60)})
    protection = protect([block], k=k)
    assert ("a|agree" in protection.withheld) is (offset < 0)


def test_empty_population_is_withheld_like_a_small_one():
    block = breakdown({"a": spread(0), "b": spread(30), "c": spread(30)})
    protection = protect([block], k=10)
    assert {protection.withheld[f"a|{o}"] for o in OPTIONS} == {SMALL}
    assert protection.withheld["a|n"] == SMALL


@pytest.mark.parametrize("k", [MIN_K - 1, 0, -3])
def test_k_below_minimum_is_refused(k):
    with pytest.raises(ValueError, match="at least"):
        protect([breakdown({"a": spread(20), "b": spread(20)})], k=k)


def test_total_minus_parts_does_not_reveal_a_small_group():
    block = breakdown({"a": spread(30), "b": spread(12), "c": spread(7)})
    protection = protect([block], k=10)
    assert protection.audit.passed
    assert "school|n" not in protection.withheld
    assert any(protection.withheld.get(f"{g}|n") == COMPLEMENTARY for g in ("a", "b"))
    assert exposed_by_attack(block, protection.withheld) == []


def test_only_suppressing_the_small_cell_is_caught_by_the_audit():
    block = breakdown({"a": spread(30), "b": spread(12), "c": spread(7)})
    small = {key for key in (f.key for f in block.figures) if key.startswith("c|")}
    result = audit(block, small)
    assert not result.passed
    assert set(result.exposed) == small
    assert result.narrowest_gap == 0


def test_complement_mean_does_not_reveal_a_small_group():
    # Parent and its other part are published with means (sum and n): the small
    # group's mean would be (n_p * m_p - n_o * m_o) / (n_p - n_o).
    values = {"g|1": 2, "g|5": 1, "rest|1": 10, "rest|5": 20}
    populations = {"school": ("g", "rest"), "g": ("g",), "rest": ("rest",)}
    figures = []
    for name, members in populations.items():
        n = sum(values[f"{m}|{o}"] for m in members for o in (1, 5))
        count = {f"{m}|{o}": 1.0 for m in members for o in (1, 5)}
        total = {f"{m}|{o}": float(o) for m in members for o in (1, 5)}
        priority = 5 if name == "school" else 0
        figures.append(Figure(f"{name}|n", count, n=n, priority=priority))
        figures.append(Figure(f"{name}|sum", total, n=n, priority=priority))
    block = Block(tuple(figures), values)
    protection = protect([block], k=10)
    assert {"g|n", "g|sum"} <= protection.withheld.keys()
    assert exposed_by_attack(block, protection.withheld) == []
    low, high = attacker_bounds(block, protection.withheld)["g|sum"]
    assert high - low >= 1


def test_hundred_percent_minus_other_options_does_not_reveal_a_withheld_option():
    values = {"agree": 30, "neutral": 3, "disagree": 17}
    figures = [Figure("n", dict.fromkeys(values, 1.0), n=50, priority=1)]
    figures += [
        Figure(o, {o: 1.0}, n=50, primary=(o == "neutral" or None)) for o in values
    ]
    block = Block(tuple(figures), values)
    protection = protect([block], k=10)
    assert protection.withheld["neutral"] == SMALL
    assert len(protection.withheld) == 2
    assert "n" not in protection.withheld
    assert exposed_by_attack(block, protection.withheld) == []


def test_one_unique_student_cannot_be_recovered():
    groups = {"a": spread(40), "b": spread(25), "solo": {"agree": 1}}
    groups["solo"].update(neutral=0, disagree=0)
    block = breakdown(groups)
    protection = protect([block], k=10)
    assert all(protection.withheld[f"solo|{o}"] == SMALL for o in OPTIONS)
    assert protection.audit.passed
    assert exposed_by_attack(block, protection.withheld) == []


def test_published_zero_does_not_pin_a_small_groups_cells():
    # Nobody in the school disagrees: publishing that zero would tell that nobody in
    # the small group disagrees either.
    groups = {
        "a": {"agree": 20, "neutral": 10, "disagree": 0},
        "b": {"agree": 15, "neutral": 10, "disagree": 0},
        "c": {"agree": 2, "neutral": 1, "disagree": 0},
    }
    block = breakdown(groups)
    protection = protect([block], k=10)
    assert "school|disagree" in protection.withheld
    assert exposed_by_attack(block, protection.withheld) == []


def test_totals_are_kept_and_breakdowns_absorb_the_suppression():
    block = breakdown({"a": spread(30), "b": spread(31), "c": spread(4)})
    protection = protect([block], k=10)
    assert not any(key.startswith("school|") for key in protection.withheld)
    # The smaller of the two large groups is the cheaper complement.
    assert protection.withheld["a|n"] == COMPLEMENTARY
    assert "b|n" not in protection.withheld


def test_forced_primary_is_withheld_whatever_its_n():
    values = {"x": 40, "y": 50}
    block = Block(
        (
            Figure("x", {"x": 1.0}, n=40, primary=True),
            Figure("y", {"y": 1.0}, n=50),
            Figure("all", {"x": 1.0, "y": 1.0}, n=90, priority=1),
        ),
        values,
    )
    protection = protect([block], k=10)
    assert protection.withheld == {"x": SMALL, "y": COMPLEMENTARY}


def test_exemption_from_the_n_rule_publishes_a_small_figure():
    block = Block((Figure("x", {"x": 1.0}, n=3, primary=False),), {"x": 3})
    assert protect([block], k=10).withheld == {}


def test_upper_bounds_are_known_to_the_attacker():
    # x + y = 10 is published and x <= 2, y <= 8 are known: both are determined.
    values = {"x": 2, "y": 8}
    figures = (
        Figure("x", {"x": 1.0}, n=2),
        Figure("y", {"y": 1.0}, n=8),
        Figure("all", {"x": 1.0, "y": 1.0}, n=10, priority=1),
    )
    block = Block(figures, values, upper_bounds={"x": 2, "y": 8})
    assert audit(block, {"x", "y"}).exposed == ("x", "y")
    assert audit(Block(figures, values), {"x", "y"}).passed
    protection = protect([block], k=10)
    assert protection.withheld.keys() == {"x", "y", "all"}


def test_identities_known_to_the_reader_are_used_by_the_audit():
    # One group's count written through two dimensions: gender split and grade split.
    values = {"f": 3, "m": 30, "g9": 20, "g10": 13}
    figures = (
        Figure("f", {"f": 1.0}, n=3),
        Figure("m", {"m": 1.0}, n=30),
        Figure("g9", {"g9": 1.0}, n=20),
        Figure("g10", {"g10": 1.0}, n=13),
    )
    identity = {"f": 1.0, "m": 1.0, "g9": -1.0, "g10": -1.0}
    block = Block(figures, values, identities=(identity,))
    assert audit(block, {"f"}).exposed == ("f",)
    protection = protect([block], k=10)
    assert exposed_by_attack(block, protection.withheld) == []
    assert "f" in protection.withheld and len(protection.withheld) == 2


def test_figure_fixed_by_identities_alone_cannot_be_protected():
    block = Block((Figure("x", {"x": 1.0}, n=0),), {"x": 0}, identities=({"x": 1.0},))
    with pytest.raises(ProtectionError):
        protect([block], k=10)


def test_blocks_sharing_microcells_are_refused():
    one = Block((Figure("a", {"x": 1.0}, n=20),), {"x": 20})
    two = Block((Figure("b", {"x": 1.0}, n=20),), {"x": 20})
    with pytest.raises(ValueError, match="share microcells"):
        protect([one, two], k=10)


def test_blocks_are_protected_independently_and_audits_combine():
    one = breakdown({"a": spread(30), "b": spread(3), "c": spread(40)})
    two = Block((Figure("other", {"z": 1.0}, n=50),), {"z": 50})
    protection = protect([one, two], k=10)
    assert "other" not in protection.withheld
    assert protection.audit.passed
    assert protection.audit.checked == len(protection.withheld)


def test_audit_of_a_release_with_nothing_withheld_passes_trivially():
    result = audit(breakdown({"a": spread(20), "b": spread(20)}), ())
    assert result == result.__class__(True, 0, 0, None, ())


@pytest.mark.parametrize(
    ("block_args", "message"),
    [
        (
            ((Figure("a", {"x": 1.0}, n=1), Figure("a", {"x": 1.0}, n=1)), {"x": 1}),
            "unique",
        ),
        (((Figure("a", {"x": 1.0}, n=1),), {"x": -1}), "non-negative"),
        (((Figure("a", {"y": 1.0}, n=1),), {"x": 1}), "unknown"),
        (((Figure("a", {"x": 0.0}, n=1),), {"x": 1}), "no microcell"),
        (((Figure("a", {"x": math.pi}, n=1),), {"x": 1}), "rational"),
    ],
)
def test_malformed_blocks_are_refused(block_args, message):
    with pytest.raises(ValueError, match=message):
        Block(*block_args)


def test_identity_that_does_not_hold_is_refused():
    with pytest.raises(ValueError, match="does not hold"):
        Block(
            (Figure("a", {"x": 1.0}, n=1),),
            {"x": 1, "y": 2},
            identities=({"x": 1.0, "y": -1.0},),
        )


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, 5), (1, 5), (2, 5), (3, 5), (7, 5), (8, 10), (12, 10), (13, 15), (1234, 1235)],
)
def test_count_is_rounded_to_five_and_never_reads_zero(n, shown):
    assert round_count(n) == shown


@pytest.mark.parametrize(("n", "shown"), [(0, 0), (2, 0), (3, 5), (7, 5), (8, 10)])
def test_open_wave_participation_may_read_zero(n, shown):
    assert round_count(n, allow_zero=True) == shown


@pytest.mark.parametrize(
    ("n", "base", "shown"), [(14, 10, 10), (15, 10, 20), (4, 1, 4)]
)
def test_count_rounds_to_any_base(n, base, shown):
    assert round_count(n, base) == shown


@pytest.mark.parametrize(("n", "base"), [(-1, 5), (3, 0)])
def test_rounding_refuses_nonsense(n, base):
    with pytest.raises(ValueError):
        round_count(n, base)


@pytest.mark.parametrize(
    ("part", "whole", "value", "text", "coded"),
    [
        (0, 20, 5, "<5%", True),
        (1, 21, 5, "<5%", True),
        (1, 20, 5, "5%", False),
        (3, 8, 38, "38%", False),
        (1, 3, 33, "33%", False),
        (19, 20, 95, "95%", False),
        (20, 21, 95, ">95%", True),
        (20, 20, 95, ">95%", True),
    ],
)
def test_percentages_are_whole_and_top_and_bottom_coded(
    part, whole, value, text, coded
):
    percent = code_percent(part, whole)
    assert (percent.value, percent.text, percent.is_coded) == (value, text, coded)


@pytest.mark.parametrize(("part", "whole"), [(0, 0), (3, 2), (-1, 5)])
def test_percentage_of_nothing_or_more_than_all_is_refused(part, whole):
    with pytest.raises(ValueError):
        code_percent(part, whole)
