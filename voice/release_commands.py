"""The ``voice`` commands of the release layer: close due waves, reseal, export."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from voice import audit, exports, reseal, results
from voice.extensions import db
from voice.models import Survey, SurveyStatus


@click.command("close-due")
@with_appcontext
def close_due_command() -> None:
    """Close every open wave whose window has ended: reseal, then build its release.

    Run it from cron every few minutes; a wave closes once.
    """
    closed = results.close_due_waves(datetime.now(UTC))
    for survey in closed:
        audit.record(None, "survey.close", survey, reason="window ended")
    db.session.commit()
    if closed:
        reseal.compact()
    for survey in closed:
        click.echo(f"Closed {survey.slug} ({survey.wave_label}).")
    if not closed:
        click.echo("No wave is due.")
    from voice.cli_reports import send_reports_after_close

    send_reports_after_close(closed)


@click.command("reseal")
@click.option(
    "--every",
    type=click.IntRange(min=1),
    help="Minutes between reseals of one wave (default VOICE_RESEAL_MINUTES).",
)
@with_appcontext
def reseal_command(every: int | None) -> None:
    """Rewrite open waves' responses in random order, then compact the database.

    Run it from cron (hourly by default): it shortens how long the storage order of
    an open wave could say anything about when students answered.
    """
    minutes = every or current_app.config["RESEAL_MINUTES"]
    waves = reseal.reseal_open_waves(datetime.now(UTC), minutes)
    db.session.commit()
    if waves:
        reseal.compact()
    click.echo(f"Resealed {len(waves)} open wave(s).")


def _survey(ident: str) -> Survey:
    """Find a survey by id or slug; a slug used at two schools needs the id."""
    query = sa.select(Survey).where(
        Survey.id == int(ident) if ident.isdigit() else Survey.slug == ident
    )
    found = list(db.session.scalars(query.limit(2)))
    if not found:
        raise click.ClickException(f"No survey {ident!r}.")
    if len(found) > 1:
        raise click.ClickException(f"Several surveys are called {ident!r}; use the id.")
    return found[0]


@click.command("export")
@click.argument("survey")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--lang", type=click.Choice(["en", "es"]), default="en", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
@with_appcontext
def export_command(survey: str, fmt: str, lang: str, output: str | None) -> None:
    """Export a closed wave's released figures (SURVEY is its id or slug)."""
    wave = _survey(survey)
    release = (
        results.stored_release(wave) if wave.status is SurveyStatus.closed else None
    )
    if release is None:
        raise click.ClickException(f"Survey {survey!r} has no release yet.")
    write = exports.to_csv if fmt == "csv" else exports.to_json
    body = write(release, release.populations, lang)
    audit.record(None, "release.export", wave, format=fmt, release=release.sha256)
    db.session.commit()
    if output:
        with open(output, "w", encoding="utf-8", newline="") as file:
            file.write(body)
    else:
        click.echo(body, nl=False)


#: Registered by :func:`voice.cli.register_commands`.
COMMANDS = (close_due_command, reseal_command, export_command)
