"""Fixtures shared by the web, privacy-attack and e2e tests.

Every test gets an empty database. By default that is a fresh SQLite file (WAL mode, so
concurrency tests are real). With ``VOICE_TEST_DATABASE_URL`` set, the same tests run
against PostgreSQL: the schema is created once and every table emptied after each test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from config import TestingConfig
from voice import create_app
from voice.extensions import db as _db
from voice.extensions import limiter

PG_URL = os.environ.get("VOICE_TEST_DATABASE_URL", "").strip()


def pytest_report_header(config: pytest.Config) -> str:
    return f"voice database: {'PostgreSQL ' + _redact(PG_URL) if PG_URL else 'SQLite (temp files)'}"


def _redact(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def _worker_database(url: str, name: str) -> str:
    """Create an empty database called ``name`` on the server of ``url``."""
    base = url.rsplit("/", 1)[0]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{base}/{name}"


def _drop_database(url: str, name: str) -> None:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(worker_id: str, testrun_uid: str) -> Iterator[str | None]:
    """Prepare PostgreSQL once per session; ``None`` means SQLite per test.

    Each xdist worker of each test run gets a database of its own (named after the
    run), so two suites on one server, say CI and a developer's run, never share one.
    """
    if not PG_URL:
        yield None
        return
    server = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"{server.rsplit('/', 1)[1]}_{testrun_uid[:10]}_{worker_id}"
    try:
        url = _worker_database(server, name)
    except sa.exc.OperationalError as error:
        pytest.exit(
            f"VOICE_TEST_DATABASE_URL is set but unreachable: {error}", returncode=3
        )
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        pytest.exit(
            f"VOICE_TEST_DATABASE_URL is set but unreachable: {error}", returncode=3
        )
    import voice.models  # noqa: F401  (register the tables)

    _db.metadata.create_all(engine)
    engine.dispose()
    yield url
    _drop_database(server, name)


@pytest.fixture
def app(database_url: str | None, tmp_path) -> Iterator[Flask]:
    """An app on an empty database, with the schema created from the models."""
    url = database_url or f"sqlite:///{tmp_path / 'voice.sqlite3'}"
    os.environ["VOICE_INSTANCE_PATH"] = str(tmp_path / "instance")
    application = create_app(
        TestingConfig,
        {"SQLALCHEMY_DATABASE_URI": url, "OUTBOX_DIR": str(tmp_path / "outbox")},
    )
    with application.app_context():
        if database_url is None:
            _db.create_all()
        limiter.reset()
    yield application
    with application.app_context():
        _db.session.remove()
        if database_url is not None:
            tables = ", ".join(f'"{t.name}"' for t in _db.metadata.sorted_tables)
            with _db.engine.begin() as connection:
                connection.execute(
                    sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
                )
        _db.engine.dispose()


@pytest.fixture
def db(app: Flask):
    """The SQLAlchemy handle, inside an app context for the test's duration."""
    with app.app_context():
        yield _db


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def csrf_token(html: str) -> str:
    """Extract the CSRF token from a rendered form."""
    match = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    ) or re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


pytest_plugins = ["tests.factories"]


CHROMIUM = Path(os.environ.get("VOICE_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing_browser() -> str | None:
    """Say why no browser can run here, or ``None`` when one can."""
    try:
        import axe_playwright_python  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the whole session."""
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"end-to-end tests must run in CI: {reason}")
        pytest.skip(f"end-to-end tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
