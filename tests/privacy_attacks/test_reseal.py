"""Attacks on storage order: after a reseal nothing orders responses or ties them to codes.

Responses are submitted one per transaction, each burning its ballot code in the
same transaction, as the student flow does; each carries its arrival number in a
comment so the test knows the true order. Before the reseal the database gives the
order away (which is why the reseal exists); after it, it must not.
"""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa
from scipy.stats import spearmanr

from tests.privacy_attacks.seed import make_wave
from voice import reseal
from voice.models import (
    Answer,
    BallotCode,
    Comment,
    Language,
    Response,
    SurveyAudience,
)

ARRIVALS = 120


@pytest.fixture
def submitted(db):
    """A wave with no responses yet, then ARRIVALS submissions in order."""
    seeded = make_wave(sizes={"alpha": 0})
    survey, group = seeded.survey, seeded.groups["alpha"]
    audience = db.session.scalar(
        sa.select(SurveyAudience).where(SurveyAudience.survey_id == survey.id)
    )
    codes = [
        BallotCode(
            survey_id=survey.id,
            audience_id=audience.id,
            code_hash=secrets.token_hex(16),
        )
        for _ in range(ARRIVALS)
    ]
    db.session.add_all(codes)
    db.session.commit()
    for number, code in enumerate(codes):
        code.is_spent = True
        response = Response(
            survey_id=survey.id, group_id=group.id, language=Language.en
        )
        response.answers.append(Answer(item_key="belong", numeric_value=1 + number % 5))
        response.comments.append(
            Comment(item_key="open_words", text=f"arrival {number}")
        )
        db.session.add(response)
        db.session.commit()
    return survey


def physical_order(db) -> str:
    """Name the column that gives a table's physical row order on this database."""
    return "ctid" if db.engine.dialect.name == "postgresql" else "rowid"


def arrival_correlation(db, survey) -> tuple[float, float]:
    """Correlate arrival with the physical order of responses and of comments."""
    order = physical_order(db)
    rows = db.session.execute(
        sa.text(
            f"SELECT c.text FROM response r JOIN comment c ON c.response_id = r.id "
            f"WHERE r.survey_id = :s ORDER BY r.{order}"
        ),
        {"s": survey.id},
    ).scalars()
    by_response = [int(text.split()[1]) for text in rows]
    rows = db.session.execute(
        sa.text(f"SELECT text FROM comment ORDER BY {order}")
    ).scalars()
    by_comment = [int(text.split()[1]) for text in rows]
    positions = list(range(ARRIVALS))
    return (
        spearmanr(positions, by_response).statistic,
        spearmanr(positions, by_comment).statistic,
    )


def reseal_and_compact(db, survey) -> None:
    reseal.reseal_wave(survey)
    db.session.commit()
    reseal.compact()


def test_before_a_reseal_storage_order_gives_arrival_away(db, submitted):
    by_response, by_comment = arrival_correlation(db, submitted)
    assert by_response > 0.9 and by_comment > 0.9  # what the reseal must undo


def test_after_a_reseal_storage_order_says_nothing_about_arrival(db, submitted):
    reseal_and_compact(db, submitted)
    by_response, by_comment = arrival_correlation(db, submitted)
    # A random order of 120 rows has a standard deviation of about 0.09.
    assert abs(by_response) < 0.35
    assert abs(by_comment) < 0.35


def test_a_reseal_keeps_every_answer_and_replaces_every_id(db, submitted):
    def snapshot():
        ids = set(db.session.scalars(sa.select(Response.id)))
        answers = sorted(
            db.session.execute(sa.select(Answer.item_key, Answer.numeric_value)).all()
        )
        comments = sorted(db.session.scalars(sa.select(Comment.text)))
        return ids, answers, comments

    ids, answers, comments = snapshot()
    assert reseal.reseal_wave(submitted) == ARRIVALS
    db.session.commit()
    new_ids, new_answers, new_comments = snapshot()
    assert len(new_ids) == ARRIVALS and not ids & new_ids
    assert new_answers == answers and new_comments == comments


def test_after_a_reseal_no_response_shares_a_transaction_with_a_ballot_code(
    db, submitted
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("xmin is PostgreSQL's; SQLite has no transaction ids on rows")
    join = sa.text(
        "SELECT count(*) FROM response r JOIN ballot_code b ON b.xmin = r.xmin "
        "WHERE r.survey_id = :s AND b.is_spent"
    )
    assert db.session.scalar(join, {"s": submitted.id}) == ARRIVALS  # before
    db.session.rollback()
    reseal_and_compact(db, submitted)
    assert db.session.scalar(join, {"s": submitted.id}) == 0
