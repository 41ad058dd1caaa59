"""``operations.record_response`` and friends: the student flow's writes, called directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.web.take_helpers import CLIMATE, PULSE, TINY, add_codes, in_past, publish
from voice import operations
from voice.ballots import hash_code
from voice.instruments import clean_answers, parse_instrument
from voice.models import (
    AccessMode,
    Answer,
    BallotCode,
    Comment,
    Response,
    Survey,
    SurveyStatus,
)

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _answers(snapshot=TINY, **posted):
    instrument = parse_instrument(snapshot, source="test")
    return clean_answers(instrument, posted)


@pytest.mark.parametrize(
    ("status", "opens", "closes", "expected"),
    [
        (SurveyStatus.draft, -1, 1, "not_yet_open"),
        (SurveyStatus.open, 1, 2, "not_yet_open"),
        (SurveyStatus.open, -1, 1, "open"),
        (SurveyStatus.open, -2, 0, "closed"),
        (SurveyStatus.open, -2, -1, "closed"),
        (SurveyStatus.closed, -1, 1, "closed"),
    ],
)
def test_survey_availability(db, status, opens, closes, expected):
    audience = publish(
        status=status,
        opens_closes=(NOW + timedelta(days=opens), NOW + timedelta(days=closes)),
    )
    assert operations.survey_availability(audience.survey, NOW) == expected


def test_record_response_stores_answers_choices_and_normalised_comments(db):
    audience = publish(snapshot=PULSE)
    answers = _answers(
        PULSE,
        pulse_group_belong="4",
        pulse_open_next_step="Zero\u200bwidth   spaces\r\nand lines",
    )
    assert operations.record_response(audience.survey, audience, "es", answers) is None
    db.session.commit()
    response = db.session.scalars(sa.select(Response)).one()
    assert response.language.value == "es"
    assert response.group_id == audience.group_id
    assert db.session.scalars(sa.select(Answer.numeric_value)).all() == [4]
    comment = db.session.scalars(sa.select(Comment)).one()
    assert comment.text == "Zerowidth spaces\nand lines"
    assert comment.redacted_text == ""
    assert comment.flags == {}


def test_a_multi_choice_answer_is_one_row_per_option(db):
    audience = publish(snapshot=CLIMATE)
    answers = _answers(CLIMATE, race_ethnicity=["white", "asian"])
    operations.record_response(audience.survey, audience, "en", answers)
    db.session.commit()
    stored = db.session.scalars(
        sa.select(Answer.choice_value).where(Answer.item_key == "race_ethnicity")
    ).all()
    assert sorted(stored) == ["asian", "white"]


def test_code_survey_refuses_a_response_without_a_code(db):
    audience = publish(snapshot=TINY, access_mode=AccessMode.codes)
    with pytest.raises(operations.BallotCodeUnknown):
        operations.record_response(audience.survey, audience, "en", _answers())
    db.session.rollback()
    assert _count(db, Response) == 0


def test_code_is_spent_once_and_never_again(app, db):
    audience = publish(snapshot=TINY, access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    code_hash = hash_code(app.config["SECRET_KEY"], audience.survey_id, code)
    operations.record_response(
        audience.survey, audience, "en", _answers(), code_hash=code_hash
    )
    db.session.commit()
    with pytest.raises(operations.BallotCodeSpent):
        operations.record_response(
            audience.survey, audience, "en", _answers(), code_hash=code_hash
        )
    db.session.rollback()
    assert _count(db, Response) == 1
    assert db.session.scalars(sa.select(BallotCode.is_spent)).all() == [True]


def test_code_of_another_group_cannot_be_spent_here(app, db):
    audience = publish(snapshot=TINY, access_mode=AccessMode.codes)
    other = publish(snapshot=TINY, access_mode=AccessMode.codes)
    (code,) = add_codes(app, other, 1)
    code_hash = hash_code(app.config["SECRET_KEY"], other.survey_id, code)
    with pytest.raises(operations.BallotCodeUnknown):
        operations.spend_ballot_code(audience, code_hash)
    db.session.rollback()
    assert db.session.scalars(sa.select(BallotCode.is_spent)).all() == [False]


def test_closed_survey_takes_no_response_unless_judged_inside_its_window(db):
    opens, closes = in_past()
    audience = publish(snapshot=TINY, opens_closes=(opens, closes))
    with pytest.raises(operations.SurveyClosed):
        operations.record_response(audience.survey, audience, "en", _answers())
    inside = opens + timedelta(hours=1)
    operations.record_response(audience.survey, audience, "en", _answers(), now=inside)
    db.session.commit()
    assert _count(db, Response) == 1


def test_audience_of_another_survey_is_refused(db):
    audience = publish(snapshot=TINY)
    other = publish(snapshot=TINY)
    with pytest.raises(operations.OperationError):
        operations.record_response(audience.survey, other, "en", _answers())
    assert _count(db, Response) == 0


def test_a_survey_closed_after_the_caller_read_it_takes_no_response(db):
    audience = publish(snapshot=TINY)
    survey = audience.survey
    assert survey.status is SurveyStatus.open  # what the caller read
    db.session.execute(
        sa.update(Survey)
        .where(Survey.id == survey.id)
        .values(status=SurveyStatus.closed)
        .execution_options(synchronize_session=False)
    )
    assert survey.status is SurveyStatus.open  # the caller's copy is stale
    with pytest.raises(operations.SurveyClosed):
        operations.record_response(survey, audience, "en", _answers())
    assert _count(db, Response) == 0
