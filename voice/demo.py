"""Demo data: a school with affinity groups, staff of every role, waves and responses.

Everything here is synthetic: answers are drawn from group-specific tendencies so the
demo shows real gaps and changes, and comments come from ``data/demo_comments.yaml``.
``load_demo`` deletes the previous demo school first, so ``voice demo`` can be run any
number of times. Responses go through the same ``operations.record_response`` and
``results.close_wave`` as real ones, so the demo exercises the real release.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml
from flask import current_app

from voice import findings, operations, publishing, release_themes, results
from voice.accounts import hash_password
from voice.ballots import hash_code
from voice.extensions import db
from voice.instruments import Instrument, clean_answers, load_library
from voice.models import (
    AccessMode,
    AffinityGroup,
    Comment,
    FindingKind,
    GroupMembership,
    LeaderAnswer,
    ModerationStatus,
    Response,
    Role,
    School,
    StaffUser,
    Survey,
    SurveyAudience,
    SurveyStatus,
)

DEMO_SCHOOL_SLUG = "lincoln-high"
DEMO_PASSWORD = "demo-password-2026"

#: name, Spanish name, slug, expected size. One group is deliberately below k.
DEMO_GROUPS = (
    ("Black Student Union", "Unión de Estudiantes Negros", "bsu", 64),
    ("Latinx Student Alliance", "Alianza de Estudiantes Latinx", "lsa", 118),
    ("Multilingual Learners", "Estudiantes Multilingües", "mll", 47),
    ("LGBTQ+ Students & Allies", "Estudiantes LGBTQ+ y Aliados", "gsa", 31),
    ("Native Student Circle", "Círculo de Estudiantes Nativos", "nsc", 7),
)

#: role, email, name, groups they belong to.
DEMO_STAFF = (
    (Role.admin, "admin@demo.school", "Alex Rivera (equity coordinator)", ()),
    (
        Role.facilitator,
        "facilitator@demo.school",
        "Jordan Ellis (BSU advisor)",
        ("bsu",),
    ),
    (Role.reviewer, "reviewer@demo.school", "BSU student leader", ("bsu",)),
    (Role.leader, "principal@demo.school", "Dr. Morgan Lee (principal)", ()),
)


def load_demo() -> list[dict[str, str]]:
    """Rebuild the demo school and return the demo logins."""
    _delete_demo_school()
    school = School(
        name="Lincoln High School",
        slug=DEMO_SCHOOL_SLUG,
        district="Riverside Unified",
        support_resources={
            "counselor": "Ms. Patel, counseling office room 114, open 8:00-16:00",
            "crisis_line": "988 Suicide & Crisis Lifeline: call or text 988",
            "text_line": "Crisis Text Line: text HOME to 741741",
        },
    )
    db.session.add(school)
    groups = {}
    for name, name_es, slug, size in DEMO_GROUPS:
        groups[slug] = AffinityGroup(
            school=school, name=name, name_es=name_es, slug=slug, expected_size=size
        )
        db.session.add(groups[slug])
    password_hash = hash_password(DEMO_PASSWORD)
    logins = []
    for role, email, name, group_slugs in DEMO_STAFF:
        user = StaffUser(
            email=email,
            name=name,
            role=role,
            school=school,
            password_hash=password_hash,
        )
        user.memberships = [GroupMembership(group=groups[slug]) for slug in group_slugs]
        db.session.add(user)
        logins.append({"role": role.value, "email": email, "password": DEMO_PASSWORD})
    db.session.flush()
    _load_waves(school, groups)
    _review_latest_wave(school, groups["bsu"])
    db.session.commit()
    return logins


@dataclass(frozen=True)
class GroupProfile:
    """How a demo group tends to answer: a shift per scale and its self-descriptions."""

    response_rate: float
    shifts: dict[str, float]
    spanish_share: float
    race: dict[str, float]
    multilingual: float


#: Shifts are on the 1..5 scale, relative to the school's typical answer.
PROFILES = {
    "bsu": GroupProfile(
        0.8,
        {
            "belonging": -0.5,
            "adult_relationships": -0.3,
            "cultural_responsiveness": -0.9,
            "safety_respect": -0.6,
            "student_voice": -0.2,
        },
        0.0,
        {"black": 0.82, "multiple": 0.15, "hispanic_latino": 0.03},
        0.05,
    ),
    "lsa": GroupProfile(
        0.75,
        {
            "belonging": -0.2,
            "adult_relationships": 0.0,
            "cultural_responsiveness": -0.6,
            "safety_respect": -0.2,
            "student_voice": -0.4,
        },
        0.35,
        {"hispanic_latino": 0.85, "multiple": 0.12, "white": 0.03},
        0.35,
    ),
    "mll": GroupProfile(
        0.75,
        {
            "belonging": -0.7,
            "adult_relationships": -0.4,
            "cultural_responsiveness": -0.5,
            "safety_respect": -0.3,
            "student_voice": -0.8,
        },
        0.6,
        {
            "hispanic_latino": 0.6,
            "asian": 0.25,
            "middle_eastern_north_african": 0.1,
            "another": 0.05,
        },
        0.95,
    ),
    "gsa": GroupProfile(
        0.8,
        {
            "belonging": -0.6,
            "adult_relationships": 0.1,
            "cultural_responsiveness": -0.3,
            "safety_respect": -1.0,
            "student_voice": 0.0,
        },
        0.05,
        {"white": 0.45, "hispanic_latino": 0.25, "black": 0.15, "multiple": 0.15},
        0.05,
    ),
    "nsc": GroupProfile(
        0.7,
        {
            "belonging": -0.8,
            "adult_relationships": -0.5,
            "cultural_responsiveness": -1.1,
            "safety_respect": -0.4,
            "student_voice": -0.6,
        },
        0.0,
        {"american_indian_alaska_native": 0.85, "multiple": 0.15},
        0.0,
    ),
}
SCHOOL_TYPICAL = 3.55


def _load_waves(school: School, groups: dict[str, AffinityGroup]) -> None:
    """Two closed pulse waves (so change since last wave shows) and an open climate wave.

    The closed waves use the short affinity-group pulse: protecting and auditing a
    release of the full climate instrument, with its four self-identification
    dimensions, takes minutes of CPU today (see bench/RESULTS.md), too long for a
    newcomer's first command. The climate survey is the open wave students can take.
    """
    library = load_library(current_app.config["SURVEYS_DIR"])
    comments = yaml.safe_load(
        (Path(__file__).parent / "data" / "demo_comments.yaml").read_text()
    )
    now = datetime.now(UTC)
    rng = random.Random(2026)
    pulse = library["affinity-pulse.v1"]
    waves = (
        ("Spring 2026", now - timedelta(days=220), 0.0),
        ("Fall 2026", now - timedelta(days=40), 0.25),
    )
    for label, opens_at, improvement in waves:
        survey = _create_wave(school, groups, pulse, label, opens_at, AccessMode.codes)
        _answer_wave(survey, pulse, comments, rng, improvement)
        results.close_wave(survey, now=survey.closes_at)
    climate = library["climate-belonging.v1"]
    open_wave = _create_wave(
        school,
        groups,
        climate,
        "Winter 2026",
        now - timedelta(days=2),
        AccessMode.link,
        days=21,
    )
    _answer_wave(open_wave, climate, comments, rng, 0.3, rate=0.3)


def _review_latest_wave(school: School, group: AffinityGroup) -> None:
    """Walk one group through its cycle of inquiry on the latest closed wave.

    The facilitator approves the comments that carry no safety flag (so themes get
    quotes), the group shares a finding and a recommendation, and the principal
    answers the recommendation: a newcomer sees the whole loop, not empty pages.
    """
    survey = db.session.scalars(
        sa.select(Survey)
        .where(Survey.school_id == school.id, Survey.status == SurveyStatus.closed)
        .order_by(Survey.closes_at.desc())
    ).first()
    facilitator, principal = (
        db.session.scalars(
            sa.select(StaffUser).where(
                StaffUser.school_id == school.id, StaffUser.role == role
            )
        ).first()
        for role in (Role.facilitator, Role.leader)
    )
    if survey is None or facilitator is None or principal is None:
        return
    comments = db.session.scalars(
        sa.select(Comment)
        .join(Response, Comment.response_id == Response.id)
        .where(Response.survey_id == survey.id, Response.group_id == group.id)
    ).all()
    for comment in comments:
        safe = not (comment.flags or {}).get("categories")
        status = ModerationStatus.approved if safe else ModerationStatus.hidden
        note = "" if safe else "Passed to the counselor; not for the report."
        findings.moderate(facilitator, survey, group, comment.id, status, note)
    release_themes.republish(survey, actor=facilitator, reason="demo moderation")
    finding = findings.add_finding(
        facilitator,
        survey,
        group,
        kind=FindingKind.finding,
        text=(
            "Fewer of us than last spring say an adult at school knows us well, "
            "and in our listening circle most said the same two or three teachers "
            "carry all of that."
        ),
    )
    recommendation = findings.add_finding(
        facilitator,
        survey,
        group,
        kind=FindingKind.recommendation,
        text=(
            "Give every ninth grader an advisory teacher who stays with them for "
            "four years, and train advisory teachers in culturally responsive "
            "mentoring this spring."
        ),
        audience="Principal and counseling team",
    )
    for item in (finding, recommendation):
        findings.share(facilitator, item)
    findings.answer(
        principal,
        recommendation,
        LeaderAnswer.in_progress,
        "We will pilot four-year advisories with two teams next fall and report "
        "back to the group in January.",
    )


def _create_wave(
    school: School,
    groups: dict[str, AffinityGroup],
    instrument: Instrument,
    label: str,
    opens_at: datetime,
    access_mode: AccessMode,
    days: int = 14,
) -> Survey:
    plan = publishing.SurveyPlan(
        school=school,
        instrument=instrument,
        title=instrument.title.get("en"),
        wave_label=label,
        groups=tuple(groups.values()),
        languages=("en", "es"),
        opens_at=opens_at,
        closes_at=opens_at + timedelta(days=days),
        min_cell=current_app.config["MIN_CELL"],
        access_mode=access_mode,
    )
    survey = publishing.create_survey(
        plan, actor=None, supported_languages=current_app.config["LANGUAGES"]
    )
    # Past waves are opened directly: publish() rightly refuses a window in the past.
    survey.status = SurveyStatus.open
    db.session.flush()
    return survey


def _answer_wave(
    survey: Survey,
    instrument: Instrument,
    comments: dict,
    rng: random.Random,
    improvement: float,
    rate: float | None = None,
) -> None:
    secret = current_app.config["SECRET_KEY"]
    moment = survey.opens_at + timedelta(hours=1)
    for audience in survey.audiences:
        profile = PROFILES[audience.group.slug]
        expected = audience.group.expected_size or 20
        count = round(expected * (rate or profile.response_rate))
        codes: list[str] = []
        if survey.access_mode is AccessMode.codes:
            codes = publishing.issue_codes(
                audience, count, secret_key=secret, actor=None
            )
        for index in range(count):
            language = "es" if rng.random() < profile.spanish_share else "en"
            raw = _synthetic_answers(
                instrument, profile, comments, language, rng, improvement
            )
            operations.record_response(
                survey,
                audience,
                language,
                clean_answers(instrument, raw),
                code_hash=hash_code(secret, survey.id, codes[index]) if codes else None,
                now=moment,
            )


def _synthetic_answers(
    instrument: Instrument,
    profile: GroupProfile,
    comments: dict,
    language: str,
    rng: random.Random,
    improvement: float,
) -> dict[str, list[str]]:
    scale_of = {key: scale.key for scale in instrument.scales for key in scale.items}
    person = rng.gauss(0, 0.6)  # some students are happier than others, across items
    raw: dict[str, list[str]] = {}
    for item in instrument.items:
        if item.dimension:
            raw[item.key] = _self_description(item.dimension, profile, rng)
        elif item.type == "text":
            if rng.random() < 0.45:
                topic = rng.choice(sorted(comments[language]))
                raw[item.key] = [rng.choice(comments[language][topic])]
        elif rng.random() < 0.05:
            continue  # skipped
        elif item.is_numeric:
            shift = profile.shifts.get(scale_of.get(item.key, ""), 0.0)
            latent = SCHOOL_TYPICAL + shift + improvement + person + rng.gauss(0, 0.8)
            value = min(5, max(1, round(latent)))
            raw[item.key] = [str(6 - value if item.reverse else value)]
        else:
            good = rng.random() < 0.7 + 0.1 * profile.shifts.get("safety_respect", 0)
            negative = "yes" if item.reverse else "no"
            positive = "no" if item.reverse else "yes"
            raw[item.key] = [positive if good else negative]
    return raw


def _self_description(
    dimension: str, profile: GroupProfile, rng: random.Random
) -> list[str]:
    if rng.random() < 0.04:
        return ["prefer_not"]
    if dimension == "grade_band":
        return [
            rng.choice(["grades_9_10", "grades_9_10", "grades_11_12", "grades_6_8"])
        ]
    if dimension == "gender_identity":
        return [rng.choices(["girl", "boy", "nonbinary", "another"], [47, 45, 6, 2])[0]]
    if dimension == "multilingual_learner":
        return ["yes" if rng.random() < profile.multilingual else "no"]
    choice = rng.choices(list(profile.race), list(profile.race.values()))[0]
    if choice == "multiple":
        return rng.sample(["black", "white", "hispanic_latino", "asian"], 2)
    return [choice]


def _delete_demo_school() -> None:
    """Remove the previous demo school; the schema's ON DELETE CASCADE does the rest."""
    school_id = db.session.scalar(
        sa.select(School.id).where(School.slug == DEMO_SCHOOL_SLUG)
    )
    if school_id is None:
        return
    db.session.execute(sa.delete(Survey).where(Survey.school_id == school_id))
    db.session.execute(sa.delete(StaffUser).where(StaffUser.school_id == school_id))
    db.session.execute(
        sa.delete(AffinityGroup).where(AffinityGroup.school_id == school_id)
    )
    db.session.execute(sa.delete(School).where(School.id == school_id))
    db.session.expire_all()


def open_wave_link(base_url: str) -> str | None:
    """Return a student link of the demo's open wave, for the newcomer to try."""
    token = db.session.scalar(
        sa.select(SurveyAudience.token)
        .join(Survey)
        .join(School)
        .where(School.slug == DEMO_SCHOOL_SLUG, Survey.status == SurveyStatus.open)
        .order_by(SurveyAudience.id)
        .limit(1)
    )
    return f"{base_url}/s/{token}" if token else None
