"""Engine set-up that must hold on every connection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.engine import Engine


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
        read_only = has_request_context() and request.method in (
            "GET",
            "HEAD",
            "OPTIONS",
        )
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    """Say whether the engine talks to SQLite (reseal and vacuum differ)."""
    return engine.dialect.name == "sqlite"
