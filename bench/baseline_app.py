"""The bare baseline: the same conversation as the student flow, and nothing else.

A minimal Flask app that answers the same addresses a student's browser uses
(``GET /s/<token>``, ``POST /s/<token>/start``, ``POST /s/<token>/answers``) and
writes the same rows (one response, its answers, its comments) in one transaction
with plain SQLAlchemy Core. No CSRF, no signing, no validation, no templates, no
translations, no rate limits, no security headers: what is left is the cost of HTTP,
Flask and the database, which ``bench/load.py`` measures Student Voice against.

Run with gunicorn: ``VOICE_DATABASE_URL=... gunicorn 'bench.baseline_app:create_app()'``.
"""

from __future__ import annotations

import html
import json
import os
import uuid

import sqlalchemy as sa
from flask import Flask, abort, redirect, request

metadata = sa.MetaData()
audience_table = sa.Table(
    "survey_audience",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("survey_id", sa.Integer),
    sa.Column("group_id", sa.Integer),
    sa.Column("token", sa.String),
)
response_table = sa.Table(
    "response",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("survey_id", sa.Integer),
    sa.Column("group_id", sa.Integer),
    sa.Column("language", sa.String),
)
answer_table = sa.Table(
    "answer",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("response_id", sa.Uuid),
    sa.Column("item_key", sa.String),
    sa.Column("numeric_value", sa.SmallInteger),
    sa.Column("choice_value", sa.String),
)
comment_table = sa.Table(
    "comment",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("response_id", sa.Uuid),
    sa.Column("item_key", sa.String),
    sa.Column("text", sa.Text),
    sa.Column("redacted_text", sa.Text),
    sa.Column("flags", sa.JSON),
    sa.Column("moderation", sa.String),
    sa.Column("moderation_note", sa.Text),
)

#: Posted pages before the last (the pulse has three); the client submits the last.
PAGE = (
    "<!doctype html><title>Survey</title><form method=post action=/s/{token}/answers>"
    '<input type="hidden" name="csrf_token" value="baseline">'
    '<input type="hidden" name="state" value="{state}">{fields}'
    "<button name=action value=next>Next</button></form>"
)


def create_engine(url: str) -> sa.Engine:
    """Open the database the way any careful app would: WAL and a busy wait on SQLite."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


def create_app() -> Flask:
    """Build the baseline on ``VOICE_DATABASE_URL``."""
    app = Flask(__name__)
    engine = create_engine(os.environ["VOICE_DATABASE_URL"])

    def audience(token: str) -> sa.Row:
        with engine.connect() as connection:
            row = connection.execute(
                sa.select(audience_table.c.survey_id, audience_table.c.group_id).where(
                    audience_table.c.token == token
                )
            ).first()
        if row is None:
            abort(404)
        return row

    def page(token: str, answers: dict[str, list[str]]) -> str:
        state = html.escape(json.dumps(answers), quote=True)
        return PAGE.format(token=token, state=state, fields="")

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/s/<token>")
    def intro(token: str) -> str:
        audience(token)
        return (
            "<!doctype html><title>Survey</title>"
            f"<form method=post action=/s/{token}/start>"
            '<input type="hidden" name="csrf_token" value="baseline">'
            "<button>Start</button></form>"
        )

    @app.post("/s/<token>/start")
    def start(token: str) -> str:
        audience(token)
        return page(token, {})

    @app.post("/s/<token>/answers")
    def answers(token: str):
        found = audience(token)
        answers = json.loads(request.form.get("state") or "{}")
        for name, values in request.form.lists():
            if name.startswith("q-"):
                answers[name.removeprefix("q-")] = values
        if request.form.get("action") != "submit":
            return page(token, answers)
        _store(engine, found, request.args.get("lang", "en"), answers)
        return redirect(f"/s/{token}/thanks", 303)

    return app


def _store(
    engine: sa.Engine, audience: sa.Row, language: str, answers: dict[str, list[str]]
) -> None:
    """Write one response with its answers and comments in one transaction."""
    response_id = uuid.uuid4()
    numeric, texts = [], []
    for key, values in answers.items():
        for value in values:
            if value.isdigit():
                numeric.append(
                    {
                        "id": uuid.uuid4(),
                        "response_id": response_id,
                        "item_key": key,
                        "numeric_value": int(value),
                        "choice_value": None,
                    }
                )
            elif value.strip():
                texts.append(
                    {
                        "id": uuid.uuid4(),
                        "response_id": response_id,
                        "item_key": key,
                        "text": value,
                        "redacted_text": "",
                        "flags": {},
                        "moderation": "pending",
                        "moderation_note": "",
                    }
                )
    with engine.begin() as connection:
        connection.execute(
            response_table.insert(),
            {
                "id": response_id,
                "survey_id": audience.survey_id,
                "group_id": audience.group_id,
                "language": language,
            },
        )
        if numeric:
            connection.execute(answer_table.insert(), numeric)
        if texts:
            connection.execute(comment_table.insert(), texts)
