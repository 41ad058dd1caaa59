"""Student Voice: anonymous student-voice surveys for school equity work."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from config import Config, config_class_from_environ, load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(
    config_class: type[Config] | None = None, overrides: Mapping[str, Any] | None = None
) -> Flask:
    """Build the application.

    :param config_class: settings class; default chosen by ``VOICE_ENV``
    :param overrides: final settings applied last (tests)
    :raises config.ConfigError: when a ``VOICE_*`` variable is missing or malformed
    """
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=os.environ.get("VOICE_INSTANCE_PATH")
        or str(PROJECT_ROOT / "instance"),
    )
    config_class = config_class or config_class_from_environ(os.environ)
    app.config.update(load_settings(config_class, os.environ, app.instance_path))
    if overrides:
        app.config.update(overrides)

    from voice import i18n, security
    from voice.database import configure_engine_events
    from voice.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        configure_engine_events(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app, babel)
    security.init_app(app, login_manager)

    from voice.release import figure_key
    from voice.web import register_blueprints

    register_blueprints(app)
    app.jinja_env.add_extension("jinja2.ext.do")
    # Pages and reports name each figure they print (data-figure), so every output
    # can be checked against the others; a global, as the macros that print figures
    # are imported without the page's context.
    app.jinja_env.globals["figure_key"] = figure_key

    from voice.cli import register_commands

    register_commands(app)
    _quiet_request_logs()
    return app


def _quiet_request_logs() -> None:
    """Keep client addresses out of logs: the dev server's access log names them."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
