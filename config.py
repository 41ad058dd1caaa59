"""Settings for Student Voice.

Every setting has a safe development default in a class below and can be overridden by a
``VOICE_*`` environment variable (see ``SETTINGS``). Nothing here runs at import time
except class definitions: :func:`load_settings` is called by the app factory.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Smallest suppression threshold k we ever accept (DESIGN invariant 3).
MIN_CELL_FLOOR = 5


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _parse_int(minimum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    return parse


def _parse_str(name: str, raw: str) -> str:
    if not raw.strip():
        raise ConfigError(f"{name} is set but empty")
    return raw.strip()


def _parse_url(schemes: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = _parse_str(name, raw)
        scheme = value.split(":", 1)[0].split("+", 1)[0].lower()
        if ":" not in value or scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ConfigError(
                f"{name} must be a URL starting with {allowed}; got {raw!r}"
            )
        return value

    return parse


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Setting:
    """How one ``VOICE_*`` variable maps onto a Flask config key."""

    env: str
    key: str
    parse: Callable[[str, str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "VOICE_DATABASE_URL",
        "SQLALCHEMY_DATABASE_URI",
        _parse_url(("sqlite", "postgresql", "postgres")),
        "Database URL; default: SQLite file in the instance folder",
    ),
    Setting(
        "VOICE_SECRET_KEY",
        "SECRET_KEY",
        _parse_str,
        "Signs sessions and forms; required in production",
    ),
    Setting(
        "VOICE_MIN_CELL",
        "MIN_CELL",
        _parse_int(MIN_CELL_FLOOR),
        "Default suppression threshold k (never below 5)",
    ),
    Setting(
        "VOICE_SMTP_URL",
        "SMTP_URL",
        _parse_url(("smtp", "smtps")),
        "smtp://user:password@host:587 (STARTTLS) or smtps://...; unset: outbox folder",
    ),
    Setting("VOICE_MAIL_FROM", "MAIL_FROM", _parse_str, "Sender of report emails"),
    Setting(
        "VOICE_BASE_URL",
        "BASE_URL",
        _parse_url(("http", "https")),
        "Public address, used in links, QR codes and emails",
    ),
    Setting(
        "VOICE_OUTBOX_DIR",
        "OUTBOX_DIR",
        _parse_str,
        "Where development writes emails instead of sending them",
    ),
    Setting(
        "VOICE_RATELIMIT_STORAGE_URL",
        "RATELIMIT_STORAGE_URI",
        _parse_url(("memory", "redis", "rediss", "memcached")),
        "Rate-limit counters; use redis:// with several workers or hosts",
    ),
    Setting(
        "VOICE_RESEAL_MINUTES",
        "RESEAL_MINUTES",
        _parse_int(1),
        "How often an open wave's storage is resealed (minutes)",
    ),
    Setting(
        "VOICE_MAX_BODY_BYTES",
        "MAX_CONTENT_LENGTH",
        _parse_int(16 * 1024),
        "Largest request body accepted; larger gets 413",
    ),
    Setting(
        "VOICE_WORKERS", "WORKERS", _parse_int(1), "gunicorn workers for `voice serve`"
    ),
    Setting(
        "VOICE_SECURE_COOKIES",
        "SESSION_COOKIE_SECURE",
        _parse_bool,
        "Send cookies over HTTPS only (default: on in production)",
    ),
)


class Config:
    """Defaults shared by every environment."""

    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # filled in from the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    MIN_CELL = 10
    SMTP_URL: str | None = None
    MAIL_FROM = "Student Voice <noreply@localhost>"
    BASE_URL = "http://127.0.0.1:5000"
    OUTBOX_DIR: str | None = None  # default: <instance>/outbox
    RATELIMIT_STORAGE_URI = "memory://"
    #: No X-RateLimit-* headers: on a survey link they would tell anyone holding the
    #: link how many classmates are answering right now, and each costs a storage read.
    RATELIMIT_HEADERS_ENABLED = False
    #: If the shared storage (redis) is down, serve without limits rather than fail
    #: students' submissions; the limits are a brake on abuse, not a guarantee.
    RATELIMIT_SWALLOW_ERRORS = True
    RESEAL_MINUTES = 60
    #: How long a worker reuses a survey link it has read (seconds): four of a
    #: journey's five requests then skip the database. Closing a wave shows on its
    #: pages this much later; a submission always judges the window in its own
    #: transaction, so nothing is stored after the close.
    LINK_CACHE_SECONDS = 5.0
    MAX_CONTENT_LENGTH = 1024 * 1024
    WORKERS = max(2, (os.cpu_count() or 1) * 2 + 1)
    LANGUAGES = ("en", "es")
    BABEL_DEFAULT_LOCALE = "en"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = 4 * 3600  # a long survey on a slow phone must not expire
    SURVEYS_DIR = str(Path(__file__).resolve().parent / "surveys")
    #: Production demands an explicit secret; development keeps one in the instance folder.
    REQUIRE_SECRET_KEY = False
    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    """Local use: SQLite, emails to an outbox folder, a secret kept in the instance folder."""

    DEBUG = False


class TestingConfig(Config):
    """The test suite: in-memory rate limits, fixed secret, CSRF on (tests post real tokens)."""

    TESTING = True
    SECRET_KEY = "testing-secret-not-for-production"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    RATELIMIT_ENABLED = True
    WTF_CSRF_ENABLED = True
    #: Tests change a wave and look at once (the cache has tests of its own).
    LINK_CACHE_SECONDS = 0.0


class ProductionConfig(Config):
    """Behind a proxy with HTTPS: secure cookies, explicit secret key required."""

    REQUIRE_SECRET_KEY = True
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_class_from_environ(environ: Mapping[str, str]) -> type[Config]:
    """Pick the settings class named by ``VOICE_ENV`` (default: development)."""
    name = environ.get("VOICE_ENV", "development").strip().lower()
    try:
        return CONFIGS[name]
    except KeyError:
        choices = ", ".join(CONFIGS)
        raise ConfigError(f"VOICE_ENV must be one of {choices}; got {name!r}") from None


def load_settings(
    config_class: type[Config], environ: Mapping[str, str], instance_path: str
) -> dict[str, Any]:
    """Return the final settings: class defaults, then ``VOICE_*`` overrides, checked.

    :raises ConfigError: naming the variable that is missing or malformed
    """
    settings = {
        key: getattr(config_class, key) for key in dir(config_class) if key.isupper()
    }
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is not None:
            settings[setting.key] = setting.parse(setting.env, raw)
    instance = Path(instance_path)
    if not settings["SQLALCHEMY_DATABASE_URI"]:
        settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'voice.sqlite3'}"
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("postgres://"):
        # Heroku-style URLs; SQLAlchemy only knows the long scheme name.
        url = settings["SQLALCHEMY_DATABASE_URI"]
        settings["SQLALCHEMY_DATABASE_URI"] = (
            "postgresql://" + url[len("postgres://") :]
        )
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql://"):
        url = settings["SQLALCHEMY_DATABASE_URI"]
        settings["SQLALCHEMY_DATABASE_URI"] = (
            "postgresql+psycopg://" + url[len("postgresql://") :]
        )
    if settings["RATELIMIT_STORAGE_URI"].startswith("redis"):
        # A hung redis must not hang students' requests: give up within two seconds
        # (RATELIMIT_SWALLOW_ERRORS then serves the request without limits).
        settings.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"socket_connect_timeout": 2, "socket_timeout": 2},
        )
    if not settings["OUTBOX_DIR"]:
        settings["OUTBOX_DIR"] = str(instance / "outbox")
    if not settings["SECRET_KEY"]:
        if settings["REQUIRE_SECRET_KEY"]:
            raise ConfigError(
                "VOICE_SECRET_KEY is required in production: set it to a long random "
                'string, e.g. python -c "import secrets; print(secrets.token_hex(32))"'
            )
        settings["SECRET_KEY"] = _instance_secret(instance)
    return settings


def _instance_secret(instance: Path) -> str:
    """Keep a generated development secret so sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
