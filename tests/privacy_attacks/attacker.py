"""The attacker of the privacy tests: read what an output publishes, then solve for it.

Each output format has a parser that turns a served payload into the figure keys it
shows a value for (``FORMATS``); an HTML or PDF parser plugs in the same way. The
attacker then assumes the strongest reading of every shown value (a percentage or a
rounded count reveals its exact count) and bounds withheld figures by linear
programming over everything shown, non-negativity and the structural identities.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection, Mapping

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from voice.privacy import Block
from voice.release import WITHHELD_TOKEN

_FIGURE = {"n": "n", "favorable": "fav", "mean": "sum"}


def csv_figures(text: str) -> dict[str, str | None]:
    """Map each figure of a served CSV to its text, or None where withheld."""
    shown: dict[str, str | None] = {}
    for row in csv.DictReader(io.StringIO(text)):
        value = None if row["value"] == WITHHELD_TOKEN else row["value"]
        if row["measure"] == "participation":
            shown[f"{row['population']}#participation#p"] = value
            continue
        figure = row["figure"]
        if figure == "change":
            continue  # a difference of two waves' released figures
        kind = f"o={figure[7:]}" if figure.startswith("option:") else _FIGURE[figure]
        shown[f"{row['population']}#{row['measure']}#{kind}"] = value
    return shown


def json_figures(text: str) -> dict[str, str | None]:
    """Map each figure of a served JSON export to its text, or None where withheld."""
    data = json.loads(text)
    shown: dict[str, str | None] = {}
    measures = {m["key"]: m for m in data["measures"]}
    for population in data["populations"]:
        shown[f"{population['key']}#participation#p"] = population["participation"]
    for population, row in data["cells"].items():
        for measure, cell in row.items():
            base = f"{population}#{measure}#"
            shown[base + "n"] = cell["n"]
            if measures[measure]["has_favorable"]:
                favorable = cell["favorable"]
                shown[base + "fav"] = favorable["text"] if favorable else None
            if measures[measure]["has_mean"]:
                shown[base + "sum"] = cell["mean"]
            for value, share in cell["distribution"]:
                shown[f"{base}o={value}"] = share["text"] if share else None
    return shown


#: Output format -> parser from payload text to {figure key: shown text or None}.
FORMATS: dict[str, Callable[[str], dict[str, str | None]]] = {
    "csv": csv_figures,
    "json": json_figures,
}


def shown_keys(figures: Mapping[str, str | None]) -> set[str]:
    """Return the keys of the figures shown with a value."""
    return {key for key, value in figures.items() if value is not None}


def bounds(
    system: Block,
    published: Collection[str],
    targets: Collection[str],
    *,
    sweeps: int = 6,
) -> dict[str, tuple[float, float]]:
    """Bound target figures as tightly as linear programming allows.

    First a few random objectives give feasible datasets; a target taking values a
    whole unit apart across them is shown not to be determined (its true interval is
    wider still). Every other target is bounded exactly by its own min and max LP.

    :param system: every figure of the wave with the true microcell counts
    :param published: keys of the figures the attacker reads exactly
    :param targets: keys of the withheld figures to bound
    :return: key -> (low, high): exact bounds, or values proven reachable
    """
    names = sorted(system.values)
    column = {name: j for j, name in enumerate(names)}
    truth = np.array([system.values[name] for name in names], dtype=float)
    forms = {f.key: f.terms for f in system.figures}

    def matrix(rows: list[Mapping[str, float]]) -> sparse.csr_array:
        data, indices, pointers = [], [], [0]
        for terms in rows:
            for name, coef in terms.items():
                indices.append(column[name])
                data.append(coef)
            pointers.append(len(indices))
        shape = (len(rows), len(names))
        return sparse.csr_array((data, indices, pointers), shape=shape)

    known = matrix(
        [forms[k] for k in published if k in forms] + list(system.identities)
    )
    rhs = known @ truth
    keys = list(targets)
    goals = matrix([forms[key] for key in keys])
    low = goals @ truth
    high = low.copy()

    def solve(objective: np.ndarray):
        return linprog(
            objective, A_eq=known, b_eq=rhs, bounds=(0, None), method="highs"
        )

    rng = np.random.default_rng(0)
    for _ in range(sweeps):
        direction = goals.T @ rng.choice((-1.0, 1.0), size=len(keys))
        for sign in (1.0, -1.0):
            result = solve(sign * direction)
            if result.status == 0:
                values = goals @ result.x
                np.minimum(low, values, out=low)
                np.maximum(high, values, out=high)
    for row in range(len(keys)):
        if high[row] - low[row] >= 1 - 1e-6:
            continue
        objective = goals[[row]].toarray().ravel()
        for sign in (1.0, -1.0):
            result = solve(sign * objective)
            if result.status == 3:
                value = -sign * np.inf
            else:
                assert result.status == 0, result.message
                value = sign * result.fun
            if sign > 0:
                low[row] = min(low[row], value)
            else:
                high[row] = max(high[row], value)
    return {key: (float(low[i]), float(high[i])) for i, key in enumerate(keys)}


def exact(low: float, high: float) -> bool:
    """Say whether an interval holds fewer than two integers (the value is known)."""
    return np.floor(high + 1e-6) - np.ceil(low - 1e-6) < 1
