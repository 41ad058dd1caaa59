"""The ``voice`` command: the same domain functions as the web views, from a terminal."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade

from config import ConfigError


def _create_app() -> Flask:
    from voice import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def cli() -> None:
    """Student Voice: anonymous student-voice surveys for school equity work."""


def main() -> None:
    """Run the ``voice`` command, turning a bad setting into one clear line."""
    try:
        from voice import create_app

        create_app()
    except ConfigError as error:
        click.echo(f"voice: configuration error: {error}", err=True)
        sys.exit(2)
    cli.main(prog_name="voice")


def echo_json(value: Any) -> None:
    """Print ``value`` as JSON for scripts (``--json`` flags)."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create the database, or upgrade it to the newest schema."""
    os.makedirs(current_app.instance_path, exist_ok=True)
    upgrade(directory=current_app.extensions["migrate"].directory)
    click.echo("Database is up to date.")


@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--school", "school_slug", required=True, help="Slug of the admin's school."
)
@click.password_option(help="Asked for when not given.")
@with_appcontext
def create_admin_command(
    email: str, name: str, school_slug: str, password: str
) -> None:
    """Create an admin account for a school.

    The password must pass the same rule as one chosen through an invitation.
    """
    from voice import accounts, operations
    from voice.extensions import db

    problem = accounts.password_problem(password, email=email)
    if problem:
        raise click.ClickException(problem)
    try:
        operations.create_admin(
            email=email, name=name, school_slug=school_slug, password=password
        )
    except operations.OperationError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Admin {email} created.")


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print the logins as JSON.")
@with_appcontext
def demo_command(as_json: bool) -> None:
    """Load a demo school with groups, waves, responses and one account per role.

    Safe to run again: the demo school is rebuilt from scratch each time.
    """
    from voice import demo

    logins = demo.load_demo()
    base = current_app.config["BASE_URL"]
    student_link = demo.open_wave_link(base)
    if as_json:
        echo_json({"url": base, "student_link": student_link, "logins": logins})
        return
    click.echo(f"Demo data loaded. Open {base}/ and sign in at {base}/staff/login")
    for login in logins:
        click.echo(
            f"  {login['role']:<12} {login['email']:<32} password: {login['password']}"
        )
    if student_link:
        click.echo(f"Answer the open survey as a student: {student_link}")


#: Threads of the single worker ``voice serve`` runs on per-process storage.
SINGLE_WORKER_THREADS = 8


class ServeRefused(Exception):
    """``voice serve`` cannot keep its promises with these settings; says why."""


def plan_workers(
    requested: int | None, configured: int, *, asked: bool, storage_uri: str
) -> tuple[int, int]:
    """Return how many gunicorn workers, with how many threads each, to run.

    Double-submit nonces and rate-limit counters live in the rate-limit storage.
    ``memory://`` is private to one process: with several workers a double click
    reaching two of them would store one student's answers twice. So per-process
    storage gets one worker (threaded); more workers need shared storage (redis).

    :param requested: ``--workers``, if given
    :param configured: ``VOICE_WORKERS`` or its default
    :param asked: whether the operator chose the count (flag or ``VOICE_WORKERS``)
    :raises ServeRefused: several workers asked for on per-process storage
    """
    count = requested or configured
    if not storage_uri.startswith("memory:") or count == 1:
        return count, 1
    if asked:
        raise ServeRefused(
            f"{count} workers need shared rate-limit storage: with memory:// each "
            "worker keeps its own double-submit nonces, so a double click could "
            "store a response twice. Set VOICE_RATELIMIT_STORAGE_URL=redis://HOST:6379"
            " or serve with --workers 1."
        )
    return 1, SINGLE_WORKER_THREADS


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=int, help="gunicorn workers (default VOICE_WORKERS).")
@click.option("--dev", is_flag=True, help="Use Flask's development server.")
@with_appcontext
def serve_command(host: str, port: int, workers: int | None, dev: bool) -> None:
    """Serve the app with gunicorn, or with werkzeug's development server (--dev).

    More than one worker needs VOICE_RATELIMIT_STORAGE_URL=redis://...: without it
    the app is served by one threaded worker.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if dev:
        # app.run() refuses to start inside the flask CLI; werkzeug's server does not.
        from werkzeug.serving import run_simple

        click.echo(f"Serving on http://{host}:{port}/ (development server)")
        run_simple(host, port, app, threaded=True, use_reloader=False)
        return
    storage_uri = app.config["RATELIMIT_STORAGE_URI"]
    try:
        count, threads = plan_workers(
            workers,
            app.config["WORKERS"],
            asked=workers is not None or "VOICE_WORKERS" in os.environ,
            storage_uri=storage_uri,
        )
        if not storage_uri.startswith("memory:"):
            _check_storage(storage_uri)
    except ServeRefused as error:
        click.echo(f"voice: {error}", err=True)
        sys.exit(2)
    if threads > 1:
        click.echo(
            f"Serving on http://{host}:{port}/ with 1 gunicorn worker ({threads}"
            " threads): rate-limit storage is memory://; set"
            " VOICE_RATELIMIT_STORAGE_URL=redis://... to run more workers"
        )
    else:
        click.echo(f"Serving on http://{host}:{port}/ with {count} gunicorn workers")
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(count),
        "--threads",
        str(threads),
        "--config",
        "python:voice.gunicorn_conf",
        "voice.wsgi:app",
    ]
    os.execv(sys.executable, args)


def _check_storage(storage_uri: str) -> None:
    """Refuse to start when the shared rate-limit storage does not answer.

    :raises ServeRefused: naming the storage, without its password
    """
    from voice.extensions import limiter

    if limiter.enabled and not limiter.storage.check():
        location = storage_uri.split("://", 1)[-1].rsplit("@", 1)[-1]
        raise ServeRefused(
            f"the rate-limit storage at {location} does not answer; check"
            " VOICE_RATELIMIT_STORAGE_URL and that the server is running."
        )


CORE_COMMANDS = (init_command, create_admin_command, demo_command, serve_command)


def register_commands(app: Flask) -> None:
    """Attach every command to the app's CLI (``flask`` and ``voice`` share them)."""
    for command in CORE_COMMANDS:
        app.cli.add_command(command)
    from voice.cli_surveys import SURVEY_COMMANDS

    for command in SURVEY_COMMANDS:
        app.cli.add_command(command)
    from voice.cli_reports import report_command
    from voice.cli_themes import themes_command

    app.cli.add_command(report_command)
    app.cli.add_command(themes_command)
    from voice.release_commands import COMMANDS as RELEASE_COMMANDS

    for command in RELEASE_COMMANDS:
        app.cli.add_command(command)
