"""Migrations: one head, upgrade from empty works, and models and migrations agree."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from flask_migrate import check, upgrade

from config import TestingConfig
from voice import create_app

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
PG_URL = os.environ.get("VOICE_TEST_DATABASE_URL", "").strip()


def test_migration_history_has_a_single_head():
    config = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several heads: {heads}; merge them"


def test_migration_files_follow_the_naming_rule():
    for path in (MIGRATIONS / "versions").glob("*.py"):
        date, time, _rev, slug = path.stem.split("_", 3)
        assert len(date) == 8 and len(time) == 4 and slug, path.name


def _upgrade_and_check(url: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VOICE_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
        try:
            upgrade(directory=str(MIGRATIONS))
            check(directory=str(MIGRATIONS))  # raises if the models need a new revision
            tables = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()  # no connection left for the garbage collector to warn about
        assert {"response", "answer", "ballot_code", "survey"} <= tables


def test_upgrade_from_empty_sqlite_matches_the_models(tmp_path, monkeypatch):
    _upgrade_and_check(
        f"sqlite:///{tmp_path / 'migrated.sqlite3'}", tmp_path, monkeypatch
    )


@pytest.mark.postgres
@pytest.mark.skipif(
    not PG_URL, reason="set VOICE_TEST_DATABASE_URL to run on PostgreSQL"
)
def test_upgrade_from_empty_postgresql_matches_the_models(tmp_path, monkeypatch):
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"voice_migration_{uuid.uuid4().hex[:10]}"  # never shared with another run
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    try:
        _upgrade_and_check(url.rsplit("/", 1)[0] + f"/{name}", tmp_path, monkeypatch)
    finally:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
