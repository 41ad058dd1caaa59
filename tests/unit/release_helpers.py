"""Synthetic waves for the release-layer unit tests: respondents in, exact counts out.

``count_wave`` mirrors what ``voice.results.wave_counts`` computes in SQL, in plain
Python, so the pure layer can be tested without a database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voice.instruments import (
    FIVE_POINT_VALUES,
    PREFER_NOT,
    Instrument,
    categorize,
    load_instrument,
    parse_instrument,
)
from voice.lattice import GroupInfo, WaveCounts

MINI = Path(__file__).resolve().parents[1] / "privacy_attacks" / "mini-climate.v1.yaml"


#: A one-item instrument with one self-identification dimension.
TINY = {
    "slug": "tiny",
    "version": 1,
    "languages": ["en", "es"],
    "title": {"en": "Tiny", "es": "Mini"},
    "pages": [
        {
            "key": "p",
            "title": {"en": "P", "es": "P"},
            "items": [
                {"key": "belong", "type": "agree5", "text": {"en": "B", "es": "B"}},
            ],
        }
    ],
    "self_id": {
        "key": "about_you",
        "title": {"en": "About", "es": "Sobre"},
        "items": [
            {
                "key": "grade",
                "type": "single",
                "text": {"en": "Grade?", "es": "¿Grado?"},
                "options": [
                    {"value": "lower", "text": {"en": "Lower", "es": "Inferior"}},
                    {"value": "upper", "text": {"en": "Upper", "es": "Superior"}},
                ],
                "dimension": {"key": "grade", "title": {"en": "Grade", "es": "Grado"}},
            }
        ],
    },
    "response_options": {
        "agree5": [
            {"value": v, "text": {"en": str(v), "es": str(v)}} for v in range(1, 6)
        ],
        "prefer_not_say": {"en": "Prefer not to say", "es": "Prefiero no decirlo"},
        "not_reported": {"en": "Not reported", "es": "Sin respuesta"},
    },
}


def tiny() -> Instrument:
    """Return a one-item instrument with one two-category dimension."""
    return parse_instrument(TINY, source="tiny")


def mini() -> Instrument:
    """Return the small instrument with every measure kind and two dimensions."""
    return load_instrument(MINI)


@dataclass(frozen=True)
class Student:
    """One synthetic respondent: their group and what they chose, as stored."""

    group: str
    numeric: Mapping[str, int] = field(default_factory=dict)
    choices: Mapping[str, Sequence[str]] = field(default_factory=dict)


def count_wave(
    instrument: Instrument, groups: Iterable[str], students: Iterable[Student]
) -> WaveCounts:
    """Count a synthetic wave exactly as the SQL aggregates would."""
    participation: Counter = Counter()
    answers: Counter = Counter()
    respondents: Counter = Counter()
    scores: Counter = Counter()
    for student in students:
        categories = categorize(instrument, student.choices)
        cells = [(student.group, None, None)] + [
            (student.group, d, c) for d, c in categories.items()
        ]
        for cell in cells:
            participation[cell] += 1
            for key, value in student.numeric.items():
                answers[(key, *cell, str(value))] += 1
                respondents[(key, *cell)] += 1
            for key, values in student.choices.items():
                if instrument.item(key).dimension is not None:
                    continue
                kept = [v for v in values if v != PREFER_NOT]
                for value in kept:
                    answers[(key, *cell, value)] += 1
                if kept:
                    respondents[(key, *cell)] += 1
            for scale in instrument.scales:
                scored = [
                    instrument.item(key).scored(student.numeric[key])
                    for key in scale.items
                    if key in student.numeric
                ]
                if scored:
                    score = (2 * sum(scored) + len(scored)) // (2 * len(scored))
                    assert score in FIVE_POINT_VALUES
                    scores[(scale.key, *cell, str(score))] += 1
    return WaveCounts(
        groups=tuple(GroupInfo(slug, slug.title()) for slug in groups),
        participation=dict(participation),
        answers=dict(answers),
        respondents=dict(respondents),
        scale_scores=dict(scores),
    )
