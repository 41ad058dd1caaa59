"""``voice surveys ...`` and ``voice codes``: publishing from a terminal.

The same :mod:`voice.publishing` functions as the admin pages, the same audit log
(the actor is "command line"), one commit per command.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from voice import publishing
from voice.cli import echo_json
from voice.extensions import db
from voice.instruments import load_library
from voice.models import AccessMode, AffinityGroup, School, Survey, SurveyAudience

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def _find_survey(ref: str) -> Survey:
    """Find a wave by id, or by slug when only one school uses that slug."""
    if ref.isdigit():
        survey = db.session.get(Survey, int(ref))
        if survey is None:
            raise click.ClickException(f"No survey with id {ref}.")
        return survey
    matches = list(db.session.scalars(sa.select(Survey).where(Survey.slug == ref)))
    if not matches:
        raise click.ClickException(f"No survey with slug {ref!r}.")
    if len(matches) > 1:
        ids = ", ".join(str(s.id) for s in matches)
        raise click.ClickException(f"Several schools use {ref!r}; give an id: {ids}.")
    return matches[0]


def _audience(survey: Survey, group_slug: str) -> SurveyAudience:
    for audience in survey.audiences:
        if audience.group.slug == group_slug:
            return audience
    slugs = ", ".join(sorted(a.group.slug for a in survey.audiences))
    raise click.ClickException(
        f"Survey {survey.id} is not published to {group_slug!r}; its groups: {slugs}."
    )


def _summary(survey: Survey, responses: int) -> dict[str, object]:
    return {
        "id": survey.id,
        "school": survey.school.slug,
        "slug": survey.slug,
        "title": survey.title,
        "wave": survey.wave_label,
        "instrument": f"{survey.instrument_key}.v{survey.instrument_version}",
        "status": survey.status.value,
        "access": survey.access_mode.value,
        "k": survey.min_cell,
        "languages": list(survey.languages),
        "opens_at": survey.opens_at.isoformat(),
        "closes_at": survey.closes_at.isoformat(),
        "responses_rounded": responses,
    }


@click.group("surveys")
def surveys_group() -> None:
    """Create, list, publish and close survey waves."""


@surveys_group.command("create")
@click.option("--school", "school_slug", required=True, help="Slug of the school.")
@click.option(
    "--instrument", required=True, help="Library key, e.g. climate-belonging.v1."
)
@click.option("--title", required=True)
@click.option("--wave", "wave_label", required=True, help='e.g. "Fall 2026".')
@click.option(
    "--group", "group_slugs", multiple=True, required=True, help="Group slug; repeat."
)
@click.option(
    "--language",
    "languages",
    multiple=True,
    help="Language code; repeat. Default: every language of the instrument.",
)
@click.option(
    "--opens",
    type=click.DateTime(DATETIME_FORMATS),
    help="Opening time in UTC. Default: now.",
)
@click.option(
    "--closes",
    type=click.DateTime(DATETIME_FORMATS),
    help="Closing time in UTC. Default: 14 days after opening.",
)
@click.option("--k", "min_cell", type=int, help="Threshold k (>= 5). Default: config.")
@click.option(
    "--access",
    type=click.Choice([mode.value for mode in AccessMode]),
    default=AccessMode.codes.value,
    show_default=True,
    help="codes: single-use ballot codes; link: open links (repeats possible).",
)
@click.option("--publish", is_flag=True, help="Publish right away.")
@click.option("--json", "as_json", is_flag=True, help="Print the survey as JSON.")
@with_appcontext
def create_command(
    school_slug: str,
    instrument: str,
    title: str,
    wave_label: str,
    group_slugs: tuple[str, ...],
    languages: tuple[str, ...],
    opens: datetime | None,
    closes: datetime | None,
    min_cell: int | None,
    access: str,
    publish: bool,
    as_json: bool,
) -> None:
    """Create a survey wave from the instrument library (a draft unless --publish)."""
    school = db.session.scalar(sa.select(School).where(School.slug == school_slug))
    if school is None:
        raise click.ClickException(f"No school with slug {school_slug!r}.")
    library = load_library(current_app.config["SURVEYS_DIR"])
    if instrument not in library:
        known = ", ".join(sorted(library))
        raise click.ClickException(f"No instrument {instrument!r}; known: {known}.")
    groups = list(
        db.session.scalars(
            sa.select(AffinityGroup).where(
                AffinityGroup.school_id == school.id,
                AffinityGroup.slug.in_(group_slugs),
            )
        )
    )
    missing = set(group_slugs) - {group.slug for group in groups}
    if missing:
        raise click.ClickException(
            f"{school.name} has no group {', '.join(sorted(missing))}."
        )
    opens_at = opens.replace(tzinfo=UTC) if opens else datetime.now(UTC)
    closes_at = closes.replace(tzinfo=UTC) if closes else opens_at + timedelta(14)
    plan = publishing.SurveyPlan(
        school=school,
        instrument=library[instrument],
        title=title,
        wave_label=wave_label,
        groups=tuple(groups),
        languages=languages or library[instrument].languages,
        opens_at=opens_at,
        closes_at=closes_at,
        min_cell=current_app.config["MIN_CELL"] if min_cell is None else min_cell,
        access_mode=AccessMode(access),
    )
    try:
        survey = publishing.create_survey(
            plan, actor=None, supported_languages=current_app.config["LANGUAGES"]
        )
        if publish:
            publishing.publish(survey, actor=None)
    except publishing.PublishingError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    if as_json:
        echo_json(_summary(survey, 0))
        return
    click.echo(f"Survey {survey.id} ({survey.slug}) created: {survey.status.value}.")


@surveys_group.command("list")
@click.option("--school", "school_slug", help="Only this school's waves.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def list_command(school_slug: str | None, as_json: bool) -> None:
    """List survey waves with their status and response counts rounded to 5."""
    query = sa.select(Survey).join(School).order_by(Survey.opens_at.desc(), Survey.id)
    if school_slug:
        query = query.where(School.slug == school_slug)
    surveys = list(db.session.scalars(query))
    counts = publishing.participation(s.id for s in surveys)
    rows = [_summary(survey, counts[survey.id]) for survey in surveys]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['id']:>4}  {row['status']:<6}  {row['access']:<5}  "
            f"~{row['responses_rounded']:<5}  {row['school']}/{row['slug']}  "
            f"{row['title']} ({row['wave']})"
        )


@surveys_group.command("links")
@click.argument("survey_ref", metavar="SURVEY")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def links_command(survey_ref: str, as_json: bool) -> None:
    """Print each group's survey link (SURVEY is an id or a slug)."""
    survey = _find_survey(survey_ref)
    base = current_app.config["BASE_URL"]
    rows = [
        {
            "group": audience.group.slug,
            "name": audience.group.name,
            "link": publishing.audience_link(base, audience),
        }
        for audience in sorted(survey.audiences, key=lambda a: a.group.slug)
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['group']:<24} {row['link']}")


@surveys_group.command("publish")
@click.argument("survey_ref", metavar="SURVEY")
@with_appcontext
def publish_command(survey_ref: str) -> None:
    """Publish a draft wave: its links answer between its opening and closing times."""
    survey = _find_survey(survey_ref)
    try:
        publishing.publish(survey, actor=None)
    except publishing.PublishingError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"Survey {survey.id} is published.")


@surveys_group.command("close")
@click.argument("survey_ref", metavar="SURVEY")
@with_appcontext
def close_command(survey_ref: str) -> None:
    """Close an open wave now and build its protected release."""
    survey = _find_survey(survey_ref)
    try:
        publishing.close(survey, actor=None)
    except publishing.PublishingError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    publishing.compact_storage()
    click.echo(f"Survey {survey_ref} is closed.")


@click.command("codes")
@click.argument("survey_ref", metavar="SURVEY")
@click.option("--group", "group_slug", required=True, help="Group slug.")
@click.option("--count", type=int, required=True, help="How many codes.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: group,code,link.")
@with_appcontext
def codes_command(survey_ref: str, group_slug: str, count: int, as_csv: bool) -> None:
    """Create single-use ballot codes for one group and print them, once.

    Only hashes are stored: save what this prints (e.g. > codes.csv), it cannot be
    shown again. Running it again prints new, additional codes.
    """
    survey = _find_survey(survey_ref)
    audience = _audience(survey, group_slug)
    try:
        codes = publishing.issue_codes(
            audience,
            count,
            secret_key=current_app.config["SECRET_KEY"],
            actor=None,
        )
    except publishing.PublishingError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    base = current_app.config["BASE_URL"]
    if as_csv:
        click.echo(publishing.codes_csv(base, audience, codes), nl=False)
        return
    for code in codes:
        click.echo(code)


#: Registered by :func:`voice.cli.register_commands`.
SURVEY_COMMANDS = (surveys_group, codes_command)
