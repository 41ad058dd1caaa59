"""Time protect() on the blocks of one synthetic wave at release scale (issue 4).

A wave: 50,000 respondents in 8 affinity groups (five of 7,500-9,000, one filling up,
and tiny ones, by default of 12 and 3 students), 4 self-identification dimensions of
5 values (Dirichlet shares per group, so some group x value cells are empty or
small), 40 five-option items (Dirichlet answer shares per group and item, some
skips). Each block is one scale of 6 items: per item and per population of the
lattice (school, group, dimension value, group x dimension value) the figures n, the
count of each option, the favorable count and the sum of values, plus the same
figures pooled over the scale. Microcells are the group x dimension value x option
counts of each item, tied by identities (a group's count is the same whichever
dimension splits it), which has exactly the LP polytope of the full
cross-classification.

Run: ``.venv/bin/python bench/privacy_bench.py [--blocks 1] [--tiny 12 3] [--k 10]``
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from voice.privacy import Block, Figure, protect

LARGE_GROUPS = (9000, 9000, 8500, 8000, 7500)
DIMENSIONS = 4
LEVELS = 5
OPTIONS = 5
FAVORABLE = (4, 5)
KINDS = ("n", "fav", "sum", *map(str, range(1, OPTIONS + 1)))
# Population level and figure kind -> priority (totals and headline figures first).
LEVEL_PRIORITY = {"school": 30, "group": 20, "dimension": 20, "cell": 10}
KIND_BONUS = {"n": 2, "fav": 1, "sum": 1}


def group_sizes(tiny: tuple[int, ...], people: int = 50_000) -> tuple[int, ...]:
    """Return the group sizes: five large, one filling up to ``people``, the tiny."""
    return (*LARGE_GROUPS, people - sum(LARGE_GROUPS) - sum(tiny), *tiny)


def simulate(
    items: int, seed: int, sizes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw respondents' groups, identities and answers (0 = skipped, else 1..5)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(len(sizes)), sizes)
    identity = np.empty((groups.size, DIMENSIONS), dtype=np.int64)
    answers = np.empty((groups.size, items), dtype=np.int64)
    weights = np.array([0.3, 1, 1, 2, 3, 2]) * 1.5
    for g in range(len(sizes)):
        members = groups == g
        for d in range(DIMENSIONS):
            shares = rng.dirichlet(np.full(LEVELS, 0.6))
            identity[members, d] = rng.choice(LEVELS, size=members.sum(), p=shares)
        for item in range(items):
            shares = rng.dirichlet(weights)
            answers[members, item] = rng.choice(
                OPTIONS + 1, size=members.sum(), p=shares
            )
    return groups, identity, answers


def scale_block(
    groups: np.ndarray, identity: np.ndarray, answers: np.ndarray, items: range
) -> Block:
    """Build the block of one scale: figures, microcell values and identities."""
    n_groups = int(groups.max()) + 1
    values: dict[str, int] = {}
    identities = []
    for item in items:
        for g in range(n_groups):
            for d in range(DIMENSIONS):
                for v in range(LEVELS):
                    rows = (groups == g) & (identity[:, d] == v)
                    counts = np.bincount(answers[rows, item], minlength=OPTIONS + 1)
                    for o in range(1, OPTIONS + 1):
                        values[f"i{item}|g{g}|d{d}={v}|o{o}"] = int(counts[o])
            for o in range(1, OPTIONS + 1):
                first = {f"i{item}|g{g}|d0={v}|o{o}": 1.0 for v in range(LEVELS)}
                for d in range(1, DIMENSIONS):
                    other = {f"i{item}|g{g}|d{d}={v}|o{o}": -1.0 for v in range(LEVELS)}
                    identities.append({**first, **other})

    everyone = np.ones(groups.size, dtype=bool)
    populations = [
        (
            "school",
            everyone,
            "school",
            [(g, 0, v) for g in range(n_groups) for v in range(LEVELS)],
        )
    ]
    for g in range(n_groups):
        populations.append(
            (f"g{g}", groups == g, "group", [(g, 0, v) for v in range(LEVELS)])
        )
    for d in range(DIMENSIONS):
        for v in range(LEVELS):
            members = identity[:, d] == v
            cells = [(g, d, v) for g in range(n_groups)]
            populations.append((f"d{d}={v}", members, "dimension", cells))
            for g in range(n_groups):
                name = f"g{g}&d{d}={v}"
                populations.append((name, members & (groups == g), "cell", [(g, d, v)]))

    figures = []
    scale = f"s{items.start}"
    for name, members, level, cells in populations:
        chosen = answers[members][:, items.start : items.stop]
        pooled: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
        for item in items:
            own: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
            for g, d, v in cells:
                for o in range(1, OPTIONS + 1):
                    cell = f"i{item}|g{g}|d{d}={v}|o{o}"
                    own["n"][cell] = 1.0
                    own[str(o)][cell] = 1.0
                    own["sum"][cell] = float(o)
                    if o in FAVORABLE:
                        own["fav"][cell] = 1.0
            n = int((answers[members, item] > 0).sum())
            for kind, terms in own.items():
                priority = LEVEL_PRIORITY[level] + KIND_BONUS.get(kind, 0)
                figures.append(Figure(f"i{item}|{name}|{kind}", terms, n, priority))
                pooled[kind].update(terms)
        n = int((chosen > 0).any(axis=1).sum())
        for kind, terms in pooled.items():
            priority = LEVEL_PRIORITY[level] + KIND_BONUS.get(kind, 0)
            figures.append(Figure(f"{scale}|{name}|{kind}", terms, n, priority))
    return Block(tuple(figures), values, identities=tuple(identities))


def main() -> None:
    """Protect every scale block of one wave and print the time per block."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--scale", type=int, default=6)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tiny", type=int, nargs="*", default=[12, 3])
    parser.add_argument("--blocks", type=int, default=0, help="stop after this many")
    args = parser.parse_args()
    sizes = group_sizes(tuple(args.tiny))
    groups, identity, answers = simulate(args.items, args.seed, sizes)
    starts = range(0, args.items, args.scale)
    if args.blocks:
        starts = starts[: args.blocks]
    print(f"groups {sizes}, k {args.k}", flush=True)
    totals = {"build": 0.0, "protect": 0.0, "cpu": 0.0}
    for start in starts:
        items = range(start, min(start + args.scale, args.items))
        t0 = time.perf_counter()
        block = scale_block(groups, identity, answers, items)
        t1, c1 = time.perf_counter(), time.process_time()
        protection = protect([block], k=args.k)
        t2, c2 = time.perf_counter(), time.process_time()
        totals["build"] += t1 - t0
        totals["protect"] += t2 - t1
        totals["cpu"] += c2 - c1
        reasons = list(protection.withheld.values())
        print(
            f"items {items.start}-{items.stop - 1}: {len(block.figures)} figures, "
            f"{len(block.values)} microcells; withheld {reasons.count('small')} small "
            f"+ {reasons.count('complementary')} complementary "
            f"({len(reasons) / len(block.figures):.0%}); rounds {protection.rounds}, "
            f"LPs {protection.audit.lp_solves}, passed {protection.audit.passed}; "
            f"build {t1 - t0:.1f}s, protect {t2 - t1:.1f}s wall / {c2 - c1:.1f}s CPU",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"total: build {totals['build']:.1f}s, protect {totals['protect']:.1f}s wall "
        f"/ {totals['cpu']:.1f}s CPU, peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
