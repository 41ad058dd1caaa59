"""``voice report``: build a leadership PDF by hand, send reports, retry the outbox."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from voice import audit, mail, report_service, reports
from voice.extensions import db
from voice.models import AffinityGroup, Survey, SurveyAudience


class _DefaultGroup(click.Group):
    """A group whose first argument, when not a subcommand, goes to ``build``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group("report", cls=_DefaultGroup)
def report_command() -> None:
    """Leadership PDF summaries: build one, send them, retry undelivered mail.

    \b
    voice report SURVEY [--group G] [--lang es] -o file.pdf   build one by hand
    voice report send SURVEY [--group G]                      email the leaders
    """


def _survey(ident: str) -> Survey:
    """Find a wave by id, or by slug when that slug is unique."""
    if ident.isdigit():
        survey = db.session.get(Survey, int(ident))
        if survey is not None:
            return survey
    matches = db.session.scalars(sa.select(Survey).where(Survey.slug == ident)).all()
    if len(matches) == 1:
        return matches[0]
    if matches:
        ids = ", ".join(str(s.id) for s in matches)
        raise click.ClickException(
            f"several waves are called {ident!r}; use an id: {ids}"
        )
    raise click.ClickException(f"no wave {ident!r}")


def _group(survey: Survey, ident: str | None) -> AffinityGroup | None:
    """Find a group the wave went to, by slug or id."""
    if ident is None:
        return None
    condition = AffinityGroup.slug == ident
    if ident.isdigit():
        condition = sa.or_(condition, AffinityGroup.id == int(ident))
    group = db.session.scalar(
        sa.select(AffinityGroup)
        .join(SurveyAudience, SurveyAudience.group_id == AffinityGroup.id)
        .where(SurveyAudience.survey_id == survey.id, condition)
    )
    if group is None:
        raise click.ClickException(f"wave {survey.id} did not go to a group {ident!r}")
    return group


def _language(value: str) -> str:
    languages = current_app.config["LANGUAGES"]
    if value not in languages:
        raise click.BadParameter(f"choose one of {', '.join(languages)}")
    return value


@report_command.command("build")
@click.argument("survey_ident", metavar="SURVEY")
@click.option("--group", "group_ident", metavar="G", help="Group slug or id.")
@click.option("--lang", default="en", show_default=True, help="Report language.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the PDF.",
)
@with_appcontext
def build_command(
    survey_ident: str, group_ident: str | None, lang: str, output: Path
) -> None:
    """Write a wave's school summary, or one group's summary, to a PDF file."""
    survey = _survey(survey_ident)
    group = _group(survey, group_ident)
    try:
        built = report_service.build_pdf(survey, group=group, lang=_language(lang))
    except reports.ReportError as error:
        raise click.ClickException(str(error)) from None
    output.write_bytes(built.pdf)
    audit.record(None, "report.build", survey, scope=built.scope, lang=lang)
    db.session.commit()
    click.echo(f"Wrote {output} ({len(built.pdf) // 1024} KB).")


@report_command.command("send")
@click.argument("survey_ident", metavar="SURVEY")
@click.option("--group", "group_ident", metavar="G", help="Send this group's summary.")
@with_appcontext
def send_command(survey_ident: str, group_ident: str | None) -> None:
    """Email a wave's summary to its school's leaders now, then deliver the outbox."""
    survey = _survey(survey_ident)
    group = _group(survey, group_ident)
    try:
        queued = report_service.queue_report(survey, group=group)
    except reports.ReportError as error:
        raise click.ClickException(str(error)) from None
    audit.record(None, "report.send", survey, recipients=len(queued))
    db.session.commit()
    if not queued:
        click.echo("No enabled leader account can read this school's reports.")
    _deliver()


@report_command.command("deliver")
@click.option("--all", "everything", is_flag=True, help="Also retry mail given up on.")
@with_appcontext
def deliver_command(everything: bool) -> None:
    """Send every undelivered report email; exit 1 if any could not be sent."""
    _deliver(max_attempts=sys.maxsize if everything else mail.MAX_ATTEMPTS)


@report_command.command("outbox")
@with_appcontext
def outbox_command() -> None:
    """List report emails not delivered yet, with their attempts and last error."""
    rows = mail.undelivered()
    if not rows:
        click.echo("Every report email has been delivered.")
        return
    for row in rows:
        click.echo(
            f"#{row.id} to {row.recipient}: {row.attempts} attempt(s)"
            + (f"; last error: {row.last_error}" if row.last_error else "")
        )


def send_reports_after_close(closed: Sequence[Survey]) -> None:
    """Mail leaders the summaries of waves just closed and of new recommendations.

    Called at the end of ``voice close-due``, after it has committed the closes, so
    a report that fails to render never undoes a close; it is reported on stderr
    (and the command exits 1) and the rest are still sent.
    """
    errors: list[str] = []
    for survey in closed:
        try:
            report_service.queue_release_reports(survey)
        except reports.ReportError as error:
            errors.append(
                f"{survey.slug}: {error} (send it with: voice report send {survey.id})"
            )
    retried: list[str] = []
    report_service.queue_new_recommendation_reports(errors=retried)
    errors += [f"{error} (tried again on the next run)" for error in retried]
    db.session.commit()
    for error in errors:
        click.echo(f"Report not sent: {error}", err=True)
    _deliver(failed=bool(errors), quiet=True)


def _deliver(
    max_attempts: int = mail.MAX_ATTEMPTS, *, failed: bool = False, quiet: bool = False
) -> None:
    """Send what is queued, commit, and report every failure on stderr."""
    delivery = mail.deliver_pending(
        mail.MailSettings.from_config(current_app.config), max_attempts=max_attempts
    )
    db.session.commit()
    where = "sent" if current_app.config.get("SMTP_URL") else "written to the outbox"
    if delivery.sent or not quiet:
        click.echo(f"{delivery.sent} email(s) {where}.")
    for failure in delivery.failed:
        click.echo(
            f"Not delivered yet (will retry): #{failure.mail_id} to "
            f"{failure.recipient}: {failure.error}",
            err=True,
        )
    for failure in delivery.given_up:
        click.echo(
            f"Gave up after {failure.attempts} attempts: #{failure.mail_id} to "
            f"{failure.recipient}: {failure.error} (retry with: voice report "
            "deliver --all)",
            err=True,
        )
    if failed or delivery.failed or delivery.given_up:
        sys.exit(1)
