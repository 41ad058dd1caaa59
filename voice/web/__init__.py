"""Blueprints: thin views that parse, call the domain, commit and respond."""

from __future__ import annotations

from importlib import import_module

from flask import Flask

#: One module per blueprint, each exposing ``bp``; ``bad_input`` first, as it
#: installs the URL converters every later route is parsed with.
BLUEPRINT_MODULES = (
    "bad_input",
    "errors",
    "main",
    "auth",
    "admin",
    "take",
    "accounts",
    "review",
    "themes",
    "report_views",
    "outage",
    "exports",
)


def register_blueprints(app: Flask) -> None:
    """Register every blueprint listed in ``BLUEPRINT_MODULES``."""
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(f"voice.web.{name}").bp)
