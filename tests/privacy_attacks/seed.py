"""A seeded wave for the attacks: groups of 30, 12, 7 and 2, and one unique student.

Rows are written straight through the models (as the student flow would store them),
so the attacks do not depend on the take views.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from voice.extensions import db
from voice.instruments import Instrument, instrument_to_snapshot, load_instrument
from voice.models import (
    AccessMode,
    AffinityGroup,
    Answer,
    Language,
    Response,
    School,
    Survey,
    SurveyAudience,
    SurveyStatus,
)

SURVEYS = Path(__file__).resolve().parents[2] / "surveys"
#: Students per affinity group in the seeded wave.
GROUP_SIZES = {"alpha": 30, "bravo": 12, "charlie": 7, "delta": 2}
#: The one student who is the only nonbinary student of group charlie.
UNIQUE_GROUP = "charlie"


def mini() -> Instrument:
    """Return the small instrument the attacks use: every measure kind, two dimensions."""
    return load_instrument(Path(__file__).with_name("mini-climate.v1.yaml"))


def climate() -> Instrument:
    """Return the library's climate-and-belonging instrument."""
    return load_instrument(SURVEYS / "climate-belonging.v1.yaml")


@dataclass
class Seeded:
    """The seeded wave and what the attacks need to know about it."""

    school: School
    survey: Survey
    groups: dict[str, AffinityGroup]


def make_wave(
    *,
    school: School | None = None,
    sizes: dict[str, int] | None = None,
    seed: int = 7,
    k: int = 10,
    wave_label: str = "Fall 2026",
    closes_at: datetime | None = None,
    access_mode: AccessMode = AccessMode.codes,
    instrument: Instrument | None = None,
) -> Seeded:
    """Create a school (or reuse one), its groups, an open wave and its responses."""
    instrument = instrument or mini()
    sizes = GROUP_SIZES if sizes is None else sizes
    if school is None:
        school = School(name="Seeded High", slug="s-" + secrets.token_hex(4))
        db.session.add(school)
        db.session.flush()
    groups = {}
    for slug in sizes:
        group = db.session.scalar(
            db.select(AffinityGroup).filter_by(school_id=school.id, slug=slug)
        ) or AffinityGroup(school=school, name=slug.title(), slug=slug)
        db.session.add(group)
        groups[slug] = group
    closes = closes_at or datetime.now(UTC) + timedelta(days=1)
    survey = Survey(
        school=school,
        slug="w-" + secrets.token_hex(4),
        title="Climate",
        instrument_key=instrument.slug,
        instrument_version=instrument.version,
        instrument_snapshot=instrument_to_snapshot(instrument),
        wave_label=wave_label,
        opens_at=closes - timedelta(days=14),
        closes_at=closes,
        status=SurveyStatus.open,
        min_cell=k,
        access_mode=access_mode,
    )
    survey.audiences = [
        SurveyAudience(group=group, token=secrets.token_urlsafe(16))
        for group in groups.values()
    ]
    db.session.add(survey)
    db.session.flush()
    rng = random.Random(seed)
    for slug, size in sizes.items():
        for number in range(size):
            unique = slug == UNIQUE_GROUP and number == 0
            add_response(survey, groups[slug], instrument, rng, unique=unique)
    db.session.flush()
    return Seeded(school, survey, groups)


def add_response(
    survey: Survey,
    group: AffinityGroup,
    instrument: Instrument,
    rng: random.Random,
    *,
    unique: bool = False,
) -> Response:
    """Store one student's random answers; ``unique`` marks the one nonbinary student."""
    response = Response(survey_id=survey.id, group_id=group.id, language=Language.en)
    for item in instrument.items:
        if item.type == "text" or rng.random() < 0.08:
            continue
        if item.is_numeric:
            value = rng.choice([2, 3, 4, 4, 5])
            response.answers.append(Answer(item_key=item.key, numeric_value=value))
            continue
        options = [str(v) for v in item.values if v != "prefer_not"]
        if item.key == "gender_identity":
            values = ["nonbinary" if unique else rng.choice(["girl", "boy"])]
        elif item.type == "multi" and item.dimension is None:
            values = rng.sample(options, rng.choice([1, 1, 2]))
        else:
            values = [rng.choice(options)]
        for value in values:
            response.answers.append(Answer(item_key=item.key, choice_value=value))
    db.session.add(response)
    return response
