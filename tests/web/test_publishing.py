"""voice.publishing: the rules behind the admin pages and the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from voice import audit, publishing
from voice.instruments import load_library
from voice.models import AccessMode, AuditEvent, BallotCode, SurveyStatus
from voice.publishing import PublishingError, readiness


@pytest.mark.parametrize(
    ("size", "k", "level"),
    [
        (None, 10, "unknown"),
        (0, 10, "unknown"),
        (9, 10, "too_small"),
        (10, 10, "tight"),
        (16, 10, "tight"),
        (17, 10, "ok"),
        (200, 10, "ok"),
        (7, 5, "tight"),
        (4, 5, "too_small"),
    ],
)
def test_readiness_compares_expected_size_with_k(size, k, level):
    assert readiness(size, k).level == level


def test_readiness_says_what_share_of_the_group_must_answer():
    assert readiness(40, 10).needed_percent == 25
    assert readiness(9, 10).needed_percent == 100


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Fall 2026: Clima y Pertenencia", "fall-2026-clima-y-pertenencia"),
        ("Unión de Estudiantes", "union-de-estudiantes"),
        ("!!!", "fallback"),
    ],
)
def test_slugify_makes_url_safe_ascii(text, slug):
    assert publishing.slugify(text, "fallback") == slug


@pytest.fixture
def plan(app, db, make_school, make_group):
    school = make_school()
    groups = (make_group(school), make_group(school))
    instrument = load_library(app.config["SURVEYS_DIR"])["affinity-pulse.v1"]
    now = datetime.now(UTC)

    def make(**overrides) -> publishing.SurveyPlan:
        values = {
            "school": school,
            "instrument": instrument,
            "title": "Pulse",
            "wave_label": "Fall",
            "groups": groups,
            "languages": ("en", "es"),
            "opens_at": now - timedelta(hours=1),
            "closes_at": now + timedelta(days=7),
            "min_cell": 10,
            "access_mode": AccessMode.codes,
        }
        values.update(overrides)
        return publishing.SurveyPlan(**values)

    return make


def _create(plan, **overrides):
    return publishing.create_survey(
        plan(**overrides), actor=None, supported_languages=("en", "es")
    )


def test_each_group_gets_its_own_unguessable_token(plan):
    survey = _create(plan)
    tokens = [audience.token for audience in survey.audiences]
    assert len(set(tokens)) == len(tokens) == 2
    assert all(len(token) == 32 for token in tokens)  # 24 bytes = 192 bits


def test_the_same_title_twice_gets_distinct_slugs(plan):
    assert _create(plan).slug != _create(plan).slug


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_cell": 4}, "at least 5"),
        ({"groups": ()}, "at least one affinity group"),
        ({"languages": ("fr",)}, "languages"),
        ({"title": "  "}, "title"),
    ],
)
def test_bad_plans_are_refused(plan, overrides, message):
    with pytest.raises(PublishingError, match=message):
        _create(plan, **overrides)


def test_a_group_of_another_school_is_refused(plan, make_group):
    with pytest.raises(PublishingError, match="same|belong"):
        _create(plan, groups=(make_group(),))


def test_a_backwards_window_is_refused(plan):
    now = datetime.now(UTC)
    with pytest.raises(PublishingError, match="close after it opens"):
        _create(plan, opens_at=now, closes_at=now)


def test_naive_times_are_read_as_utc(plan):
    survey = _create(
        plan, opens_at=datetime(2030, 1, 1, 8), closes_at=datetime(2030, 2, 1)
    )
    assert survey.opens_at == datetime(2030, 1, 1, 8, tzinfo=UTC)


def test_a_wave_past_its_closing_time_cannot_be_published(plan):
    now = datetime.now(UTC)
    survey = _create(
        plan, opens_at=now - timedelta(days=9), closes_at=now - timedelta(days=2)
    )
    with pytest.raises(PublishingError, match="already passed"):
        publishing.publish(survey, actor=None)
    assert survey.status is SurveyStatus.draft


def test_closing_early_ends_the_window_now(plan):
    survey = _create(plan)
    publishing.publish(survey, actor=None)
    before = datetime.now(UTC)
    publishing.close(survey, actor=None)
    assert survey.status is SurveyStatus.closed
    assert before <= survey.closes_at <= datetime.now(UTC)
    with pytest.raises(PublishingError):
        publishing.reschedule(survey, before, before + timedelta(days=1), actor=None)


def test_a_draft_cannot_be_closed(plan):
    survey = _create(plan)
    with pytest.raises(PublishingError, match="Only an open wave"):
        publishing.close(survey, actor=None)


@pytest.mark.parametrize("count", [0, -1, publishing.MAX_CODES_PER_BATCH + 1])
def test_code_batches_have_sane_sizes(plan, db, count):
    audience = _create(plan).audiences[0]
    with pytest.raises(PublishingError, match="between 1 and"):
        publishing.issue_codes(audience, count, secret_key="k", actor=None)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BallotCode)) == 0


def test_more_codes_can_be_issued_later_and_add_up(plan, db):
    audience = _create(plan).audiences[0]
    first = publishing.issue_codes(audience, 5, secret_key="k", actor=None)
    second = publishing.issue_codes(audience, 7, secret_key="k", actor=None)
    assert not set(first) & set(second)
    assert publishing.codes_issued(audience.survey) == {audience.id: 12}


def test_codes_are_refused_once_the_wave_is_closed(plan):
    survey = _create(plan)
    publishing.publish(survey, actor=None)
    publishing.close(survey, actor=None)
    with pytest.raises(PublishingError, match="closed"):
        publishing.issue_codes(survey.audiences[0], 3, secret_key="k", actor=None)


def test_audit_names_targets_and_makes_details_json_ready(plan, db, make_user):
    survey = _create(plan)
    admin = make_user()
    event = audit.record(
        admin, "survey.test", survey, when=survey.opens_at, mode=AccessMode.link
    )
    assert event.target == f"survey:{survey.id}"
    assert event.actor_email == admin.email
    assert event.detail == {"when": survey.opens_at.isoformat(), "mode": "link"}
    assert (
        db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.id == event.id))
        == "survey.test"
    )


def test_a_release_that_cannot_be_protected_leaves_the_wave_open(plan, monkeypatch):
    from voice import results
    from voice.privacy import ProtectionError

    def refuse(survey, *, now=None):
        raise ProtectionError("a figure is exposed")

    survey = _create(plan)
    publishing.publish(survey, actor=None)
    monkeypatch.setattr(results, "close_wave", refuse)
    with pytest.raises(PublishingError, match="could not be protected"):
        publishing.close(survey, actor=None)
    assert survey.status is SurveyStatus.open
