"""Storage reseal: rewrite a wave's responses in random order under new random ids.

DESIGN invariants 1 and 3. Even with no time column, a database remembers order:
SQLite's ``rowid`` and page order, PostgreSQL's ``ctid`` (physical position) and
``xmin`` (the transaction that wrote the row, shared with the ballot code spent in
that same transaction). :func:`reseal_wave` copies every response, answer and comment
of a wave to new random UUIDs, inserted in a random order, and deletes the originals,
all inside the caller's one transaction. Spent ballot codes of the wave are rewritten
too, inside a savepoint, so on PostgreSQL their ``xmin`` is a subtransaction id that
no response carries. After the commit, :func:`compact` rewrites the files so the
deleted originals (and their order) do not linger on free pages: SQLite ``VACUUM``
plus a WAL checkpoint; PostgreSQL ``VACUUM (FULL, ANALYZE)``, which writes each table
into a new file (plain ``VACUUM`` only marks dead rows reusable and keeps every live
row where it is).

Residual risk, stated plainly: between a submission and the next reseal (the wave's
close, or the periodic ``voice reseal``, default hourly) the order is in the live
database; and no reseal reaches copies made meanwhile: PostgreSQL WAL archives,
replicas, backups, filesystem blocks freed by ``VACUUM FULL`` or SQLite's file, or
logs of an operator who logs statements.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from voice.extensions import db
from voice.models import Answer, BallotCode, Comment, Response, Survey, SurveyStatus

_R = Response.__table__
_A = Answer.__table__
_COMMENT_COLUMNS = [c.name for c in Comment.__table__.columns if c.name != "id"]
#: Tables whose storage a reseal rewrites.
TABLES = ("response", "answer", "comment", "ballot_code")

_MAP = sa.Table(
    "reseal_map",
    sa.MetaData(),
    sa.Column("old_id", sa.Uuid),
    sa.Column("new_id", sa.Uuid),
    sa.Column("position", sa.Integer),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def _random_uuid(dialect: str) -> sa.ColumnElement[uuid.UUID]:
    """Return an SQL expression drawing a fresh random UUID for each row."""
    if dialect == "postgresql":
        return sa.func.gen_random_uuid()
    # SQLite stores a Uuid as 32 hex digits.
    return sa.func.lower(sa.func.hex(sa.func.randomblob(16)))


def reseal_wave(survey: Survey, *, now: datetime | None = None) -> int:
    """Rewrite the wave's responses in random order under new random ids (flush only).

    Answers and comments move to the new responses with new ids of their own, in
    the same random order; the originals are deleted. Call :func:`compact` after the
    caller commits.

    :return: the number of responses rewritten
    """
    session = db.session
    session.flush()
    connection = session.connection()
    dialect = connection.dialect.name
    old = list(
        connection.scalars(sa.select(_R.c.id).where(_R.c.survey_id == survey.id))
    )
    order = list(range(len(old)))
    secrets.SystemRandom().shuffle(order)
    _MAP.create(connection, checkfirst=True)
    connection.execute(sa.delete(_MAP))
    if old:
        connection.execute(
            sa.insert(_MAP),
            [
                {"old_id": old_id, "new_id": uuid.uuid4(), "position": position}
                for old_id, position in zip(old, order, strict=True)
            ],
        )
    join = _MAP.c.old_id
    connection.execute(
        sa.insert(_R).from_select(
            ["id", "survey_id", "group_id", "language"],
            sa.select(_MAP.c.new_id, _R.c.survey_id, _R.c.group_id, _R.c.language)
            .join(_R, _R.c.id == join)
            .order_by(_MAP.c.position),
        )
    )
    connection.execute(
        sa.insert(_A).from_select(
            ["id", "response_id", "item_key", "numeric_value", "choice_value"],
            sa.select(
                _random_uuid(dialect),
                _MAP.c.new_id,
                _A.c.item_key,
                _A.c.numeric_value,
                _A.c.choice_value,
            )
            .join(_A, _A.c.response_id == join)
            .order_by(_MAP.c.position, sa.func.random()),
        )
    )
    comment = Comment.__table__
    connection.execute(
        sa.insert(comment).from_select(
            ["id", *_COMMENT_COLUMNS],
            sa.select(
                _random_uuid(dialect),
                *(
                    _MAP.c.new_id if name == "response_id" else comment.c[name]
                    for name in _COMMENT_COLUMNS
                ),
            )
            .join(comment, comment.c.response_id == join)
            .order_by(_MAP.c.position, sa.func.random()),
        )
    )
    originals = sa.select(_MAP.c.old_id)
    connection.execute(sa.delete(_A).where(_A.c.response_id.in_(originals)))
    connection.execute(sa.delete(comment).where(comment.c.response_id.in_(originals)))
    connection.execute(sa.delete(_R).where(_R.c.id.in_(originals)))
    connection.execute(sa.delete(_MAP))
    _rewrite_spent_codes(survey)
    # The ORM's copies of the rewritten rows are stale; nothing unflushed is lost.
    session.expire_all()
    survey.resealed_at = now or datetime.now(UTC)
    session.flush()
    return len(old)


def _rewrite_spent_codes(survey: Survey) -> None:
    """Rewrite the wave's spent codes in a savepoint: a transaction id of their own."""
    codes = BallotCode.__table__
    with db.session.begin_nested() as savepoint:
        savepoint.session.connection().execute(
            sa.update(codes)
            .where(codes.c.survey_id == survey.id, codes.c.is_spent.is_(True))
            .values(is_spent=True)
        )


def reseal_open_waves(now: datetime, every_minutes: int) -> list[Survey]:
    """Reseal every open wave not resealed in the last ``every_minutes`` (flush only).

    :return: the waves resealed
    """
    cutoff = now.timestamp() - every_minutes * 60
    waves = [
        survey
        for survey in db.session.scalars(
            sa.select(Survey)
            .where(Survey.status == SurveyStatus.open)
            .order_by(Survey.id)
        )
        if survey.resealed_at is None or survey.resealed_at.timestamp() <= cutoff
    ]
    for survey in waves:
        reseal_wave(survey, now=now)
    return waves


def compact() -> None:
    """Rewrite the resealed tables' files so deleted rows and their order are gone.

    Runs outside any transaction (VACUUM cannot run inside one, and PostgreSQL's
    ``VACUUM FULL`` waits for every transaction holding the tables): call it after the
    reseal's commit. It ends whatever read transaction the session opened since; the
    session's objects stay usable and reload on access.
    """
    db.session.rollback()
    # A raw DBAPI connection in autocommit mode: the engine's "begin" hook would
    # otherwise open the transaction VACUUM refuses to run in.
    connection = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "postgresql":
            connection.driver_connection.autocommit = True
            cursor = connection.cursor()
            for table in TABLES:
                cursor.execute(f'VACUUM (FULL, ANALYZE) "{table}"')
        else:
            cursor = connection.cursor()
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        if db.engine.dialect.name == "postgresql":
            connection.driver_connection.autocommit = False
        connection.close()
