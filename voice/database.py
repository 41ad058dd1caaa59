"""Engine set-up that must hold on every connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request
from sqlalchemy.engine import Engine

#: Methods that never change anything.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

F = TypeVar("F", bound=Callable[..., Any])


def reads_only(when: Callable[[], bool] = lambda: True) -> Callable[[F], F]:
    """Mark a POST view that writes nothing (while ``when()`` holds), e.g. a page turn.

    On SQLite its transactions then begin as readers and run alongside each other
    and alongside a submission, instead of queueing for the one write lock. A view
    marked so writes only in a new transaction after :func:`begin_writing`: SQLite
    refuses to upgrade a reader whose snapshot is stale (``SQLITE_BUSY``) rather
    than wait for the lock.

    :param when: called inside the request; say whether this request only reads
    """

    def mark(view: F) -> F:
        view.reads_only = when  # type: ignore[attr-defined]
        return view

    return mark


def begin_writing() -> None:
    """Say that this request writes from now on, in a view marked ``reads_only``.

    Call it between transactions (after ending the reading one): the next one begins
    with the write lock on SQLite, so the lock is held only while writing.
    """
    g.voice_writing = True


def request_reads_only() -> bool:
    """Say whether the current request's next transaction writes nothing."""
    if not has_request_context() or g.get("voice_writing"):
        return False
    if request.method in SAFE_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    when = getattr(view, "reads_only", None)
    return bool(when is not None and when())


def configure_engine_events(engine: Engine) -> None:
    """Run SQLite in WAL mode with foreign keys and a busy timeout (invariant 4)."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself so writes take the lock up front (BEGIN
        # IMMEDIATE) and concurrent submissions queue instead of failing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # Reads stay concurrent (WAL); anything that may write takes the write lock at
        # BEGIN, so SQLite waits (busy_timeout) instead of failing on lock upgrade.
        connection.exec_driver_sql(
            "BEGIN" if request_reads_only() else "BEGIN IMMEDIATE"
        )


def is_sqlite(engine: Engine) -> bool:
    """Say whether the engine talks to SQLite (reseal and vacuum differ)."""
    return engine.dialect.name == "sqlite"
