"""Anonymity is structural: attacks on the schema of what a response stores."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from voice.extensions import db as _db
from voice.models import Answer, BallotCode, Comment, Language, Response, Survey

#: The only columns a response may ever have (DESIGN invariant 1).
RESPONSE_COLUMNS = {"id", "survey_id", "group_id", "language"}
TIME_TYPES = (sa.DateTime, sa.Date, sa.Time, sa.Interval)
IDENTIFYING_TABLES = {"staff_user", "ballot_code", "audit_event", "survey_audience"}


def _columns(model) -> dict[str, sa.Column]:
    return {c.name: c for c in model.__table__.columns}


def test_response_has_exactly_the_anonymous_columns():
    assert set(_columns(Response)) == RESPONSE_COLUMNS


@pytest.mark.parametrize("model", [Response, Answer, Comment, BallotCode])
def test_no_time_column_on_anything_a_submission_writes(model):
    for column in model.__table__.columns:
        assert not isinstance(column.type, TIME_TYPES), (
            f"{model.__name__}.{column.name}"
        )
        assert column.server_default is None or "now" not in str(
            column.server_default.arg
        )


@pytest.mark.parametrize("model", [Response, Answer, Comment, BallotCode])
def test_ids_are_random_uuids_not_sequences(model):
    (pk,) = model.__table__.primary_key.columns
    assert isinstance(pk.type, sa.Uuid)
    assert pk.autoincrement is not True
    assert pk.default is not None and pk.default.arg.__name__ == "uuid4"


@pytest.mark.parametrize("model", [Response, Answer, Comment])
def test_no_foreign_key_to_anything_identifying(model):
    targets = {fk.column.table.name for fk in model.__table__.foreign_keys}
    assert not targets & IDENTIFYING_TABLES, targets


def test_ballot_code_holds_no_link_to_a_response():
    columns = set(_columns(BallotCode))
    assert columns == {"id", "survey_id", "audience_id", "code_hash", "is_spent"}
    targets = {fk.column.table.name for fk in BallotCode.__table__.foreign_keys}
    assert targets == {"survey", "survey_audience"}


def test_schema_check_constraints_reject_impossible_rows(db, make_school):
    school = make_school()
    from tests.factories import window

    opens, closes = window()
    bad = Survey(
        school=school,
        slug="x",
        title="x",
        instrument_key="k",
        instrument_version=1,
        instrument_snapshot={},
        wave_label="w",
        opens_at=opens,
        closes_at=closes,
        min_cell=4,
    )
    _db.session.add(bad)
    with pytest.raises(sa.exc.IntegrityError):
        _db.session.flush()
    _db.session.rollback()


def test_answer_must_hold_exactly_one_kind_of_value(db, make_group):
    from tests.factories import window

    group = make_group()
    opens, closes = window()
    survey = Survey(
        school=group.school,
        slug="y",
        title="y",
        instrument_key="k",
        instrument_version=1,
        instrument_snapshot={},
        wave_label="w",
        opens_at=opens,
        closes_at=closes,
    )
    _db.session.add(survey)
    _db.session.flush()
    response = Response(survey_id=survey.id, group_id=group.id, language=Language.en)
    _db.session.add(response)
    _db.session.flush()
    response_id = response.id
    for numeric, choice in [(None, None), (3, "agree")]:
        _db.session.add(
            Answer(
                response_id=response_id,
                item_key="q",
                numeric_value=numeric,
                choice_value=choice,
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            _db.session.flush()
        _db.session.rollback()
