"""Property: whatever the table, k and hierarchy, a protected release exposes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_privacy import exposed_by_attack
from voice.privacy import Block, Figure, audit, protect


@st.composite
def hierarchies(draw: st.DrawFn) -> tuple[Block, int]:
    """Draw groups split by one or two self-identification dimensions, with counts.

    Microcells are group x dimension value x option counts. With two dimensions each
    group's option counts are written through both, tied by identities.
    """
    groups = draw(st.integers(2, 4))
    levels = draw(st.lists(st.integers(2, 3), min_size=1, max_size=2))
    options = draw(st.integers(2, 3))
    k = draw(st.integers(5, 12))
    counts = st.integers(0, 14) | st.just(0)
    values: dict[str, int] = {}
    identities = []
    for g in range(groups):
        # The first dimension's cells are drawn; the second re-splits the same totals.
        per_option = []
        for o in range(options):
            cells = [draw(counts) for _ in range(levels[0])]
            for v, count in enumerate(cells):
                values[f"g{g}|d0={v}|o{o}"] = count
            per_option.append(sum(cells))
        for d, width in enumerate(levels[1:], start=1):
            for o, total in enumerate(per_option):
                cuts = sorted(draw(st.integers(0, total)) for _ in range(width - 1))
                parts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
                for v, part in enumerate(parts):
                    values[f"g{g}|d{d}={v}|o{o}"] = part
                identity = {f"g{g}|d0={v}|o{o}": 1.0 for v in range(levels[0])}
                identity.update({f"g{g}|d{d}={v}|o{o}": -1.0 for v in range(width)})
                identities.append(identity)

    populations: list[tuple[str, list[tuple[int, int, int]], int]] = [
        ("school", [(g, 0, v) for g in range(groups) for v in range(levels[0])], 3)
    ]
    for g in range(groups):
        populations.append((f"g{g}", [(g, 0, v) for v in range(levels[0])], 2))
    for d, width in enumerate(levels):
        for v in range(width):
            populations.append((f"d{d}={v}", [(g, d, v) for g in range(groups)], 2))
            for g in range(groups):
                populations.append((f"g{g}&d{d}={v}", [(g, d, v)], 1))
    figures = []
    for name, cells, priority in populations:
        terms = {
            o: {f"g{g}|d{d}={v}|o{o}": 1.0 for g, d, v in cells} for o in range(options)
        }
        n = sum(values[c] for o in range(options) for c in terms[o])
        everyone = {c: 1.0 for o in range(options) for c in terms[o]}
        score = {c: float(o + 1) for o in range(options) for c in terms[o]}
        figures.append(Figure(f"{name}|n", everyone, n=n, priority=priority + 1))
        figures.append(Figure(f"{name}|sum", score, n=n, priority=priority))
        for o in range(options):
            figures.append(Figure(f"{name}|o{o}", terms[o], n=n, priority=priority))
    return Block(tuple(figures), values, identities=tuple(identities)), k


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hierarchies())
def test_protected_release_exposes_no_withheld_figure(case):
    block, k = case
    protection = protect([block], k=k)
    withheld = protection.withheld
    assert protection.audit.passed
    assert all(f.key in withheld for f in block.figures if f.n < k)
    assert exposed_by_attack(block, withheld) == []
    assert audit(block, withheld).passed
