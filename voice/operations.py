"""Every write. Functions add and flush; the calling view or command commits once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa

from voice import redact
from voice.accounts import hash_password
from voice.extensions import db
from voice.instruments import CleanAnswers
from voice.models import (
    AccessMode,
    Answer,
    BallotCode,
    Comment,
    Language,
    Response,
    Role,
    School,
    StaffUser,
    Survey,
    SurveyStatus,
)


class OperationError(Exception):
    """A write was refused; the message is safe to show to the person who asked."""


def create_admin(
    *, email: str, name: str, school_slug: str, password: str
) -> StaffUser:
    """Create an admin account for the school with ``school_slug``.

    :raises OperationError: unknown school, taken email or too short a password
    """
    school = db.session.scalar(sa.select(School).where(School.slug == school_slug))
    if school is None:
        raise OperationError(f"No school with slug {school_slug!r}.")
    if len(password) < 12:
        raise OperationError("Passwords need at least 12 characters.")
    taken = db.session.scalar(
        sa.select(StaffUser.id).where(sa.func.lower(StaffUser.email) == email.lower())
    )
    if taken is not None:
        raise OperationError(f"An account for {email} already exists.")
    user = StaffUser(
        email=email.strip(),
        name=name.strip(),
        role=Role.admin,
        school=school,
        password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    return user


# --- the student flow (issue 3) -------------------------------------------------------


class SurveyRef(Protocol):
    """A survey as a write names it: a ``Survey`` row, or the student flow's copy."""

    @property
    def id(self) -> int: ...  # noqa: D102


class SurveyWindow(Protocol):
    """When a survey takes answers: a ``Survey`` row, a copy, or a row of those columns."""

    @property
    def status(self) -> SurveyStatus: ...  # noqa: D102
    @property
    def opens_at(self) -> datetime: ...  # noqa: D102
    @property
    def closes_at(self) -> datetime: ...  # noqa: D102


class AudienceRef(Protocol):
    """A survey link as a write names it: a ``SurveyAudience`` row, or a copy."""

    @property
    def id(self) -> int: ...  # noqa: D102
    @property
    def survey_id(self) -> int: ...  # noqa: D102
    @property
    def group_id(self) -> int: ...  # noqa: D102


class SurveyClosed(OperationError):
    """The survey is not taking answers: not open yet, or closed."""


class BallotCodeUnknown(OperationError):
    """No ballot code with this hash was printed for this survey link."""


class BallotCodeSpent(OperationError):
    """The ballot code was used already, perhaps by a submission a moment ago."""


def survey_availability(survey: SurveyWindow, now: datetime | None = None) -> str:
    """Say whether ``survey`` takes answers at ``now``.

    :return: ``"open"``, ``"not_yet_open"`` (a draft, or before its window) or
        ``"closed"`` (closed by an admin, or past its window)
    """
    now = now or datetime.now(UTC)
    if survey.status is SurveyStatus.closed or now >= survey.closes_at:
        return "closed"
    if survey.status is SurveyStatus.draft or now < survey.opens_at:
        return "not_yet_open"
    return "open"


def spend_ballot_code(audience: AudienceRef, code_hash: str) -> None:
    """Burn a ballot code, so it can never be used again (invariant 1 and 4).

    One conditional UPDATE: of any number of concurrent submissions with the same
    code exactly one sees a row change; the others raise. The code row keeps no
    trace of the response it allowed.

    :raises BallotCodeSpent: the code was spent already
    :raises BallotCodeUnknown: no such code for this survey link
    """
    matches_code = sa.and_(
        BallotCode.survey_id == audience.survey_id,
        BallotCode.audience_id == audience.id,
        BallotCode.code_hash == code_hash,
    )
    result = db.session.execute(
        sa.update(BallotCode)
        .where(matches_code, BallotCode.is_spent.is_(False))
        .values(is_spent=True)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    if db.session.scalar(sa.select(BallotCode.id).where(matches_code)) is None:
        raise BallotCodeUnknown("This code was not printed for this survey link.")
    raise BallotCodeSpent("This code has been used already.")


def record_response(
    survey: SurveyRef,
    audience: AudienceRef,
    language: str | Language,
    answers: CleanAnswers,
    *,
    code_hash: str | None = None,
    now: datetime | None = None,
) -> None:
    """Store one student's answers, burning their ballot code in the same flush.

    Stores the survey, the audience's group, the language and the answers; never a
    time, an address, a code or anything else about the student (invariant 1).
    Returns nothing, so no caller can keep the new response's id.

    :param answers: answers checked by ``instruments.clean_answers`` against the
        survey's own snapshot
    :param code_hash: ``ballots.hash_code`` of the student's code; required when the
        survey uses ballot codes
    :param now: the moment the survey window is judged at (demo data for past waves)
    :raises SurveyClosed: the survey does not take answers at ``now``
    :raises BallotCodeSpent: the code was used already
    :raises BallotCodeUnknown: a code survey without a valid code for this link
    :raises OperationError: the audience belongs to another survey
    """
    if audience.survey_id != survey.id:
        raise OperationError("This survey link belongs to another survey.")
    # Judge the window as it stands in this transaction, not as the caller read it:
    # the row is share-locked (PostgreSQL; on SQLite the write lock serializes), so
    # a wave closed a moment ago takes no more answers and a close waits for the
    # submissions already writing.
    current = db.session.execute(
        sa.select(Survey.status, Survey.opens_at, Survey.closes_at, Survey.access_mode)
        .where(Survey.id == survey.id)
        .with_for_update(read=True)
    ).one()
    if survey_availability(current, now) != "open":
        raise SurveyClosed("This survey is not taking answers.")
    if current.access_mode is AccessMode.codes:
        if code_hash is None:
            raise BallotCodeUnknown("This survey needs a ballot code.")
        spend_ballot_code(audience, code_hash)
    # Plain Core INSERTs, one per table, in the session's transaction: a submission
    # needs no unit of work. Ids are random (uuid4), as the models' defaults make them.
    response_id = uuid.uuid4()
    db.session.execute(
        Response.__table__.insert(),
        [
            {
                "id": response_id,
                "survey_id": survey.id,
                "group_id": audience.group_id,
                "language": Language(language),
            }
        ],
    )
    rows = [
        {"item_key": key, "numeric_value": value, "choice_value": None}
        for key, value in answers.numeric.items()
    ] + [
        {"item_key": key, "numeric_value": None, "choice_value": value}
        for key, values in answers.choices.items()
        for value in values
    ]
    if rows:
        db.session.execute(
            Answer.__table__.insert(),
            [{"id": uuid.uuid4(), "response_id": response_id, **row} for row in rows],
        )
    if answers.texts:
        db.session.execute(
            Comment.__table__.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "response_id": response_id,
                    "item_key": key,
                    "text": redact.normalize(text),
                    "redacted_text": "",
                }
                for key, text in answers.texts.items()
            ],
        )
