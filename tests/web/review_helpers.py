"""Waves with stored protected releases, for the workspace and authorization tests.

The release is built by hand from chosen figures (not through the suppression
pipeline, which has its own tests), then stored with ``results.store_release``
exactly as closing a wave stores it. So a page under test can only show a figure
if it read it from the stored release, and each figure is distinctive enough to
find in the HTML.
"""

from __future__ import annotations

import contextvars
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import has_app_context
from flask.globals import _cv_app
from flask.testing import FlaskClient

from voice import results
from voice.extensions import db
from voice.instruments import instrument_to_snapshot, load_instrument
from voice.models import (
    AffinityGroup,
    Comment,
    Language,
    ModerationStatus,
    Response,
    School,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
from voice.privacy import CodedPercent
from voice.release import (
    GROUP,
    ITEM,
    SCALE,
    SCHOOL,
    AuditSummary,
    Label,
    Measure,
    MeasureOption,
    Population,
    ProtectedRelease,
    ReleasedMeasure,
    WaveInfo,
)

#: The instrument the waves are of; its snapshot is stored like a published wave's.
CLIMATE = load_instrument(
    Path(__file__).resolve().parents[2] / "surveys" / "climate-belonging.v1.yaml"
)
AGREE = tuple(
    MeasureOption(str(value), Label(en, es))
    for value, en, es in (
        (1, "Strongly disagree", "Muy en desacuerdo"),
        (2, "Disagree", "En desacuerdo"),
        (3, "Neither", "Ni de acuerdo ni en desacuerdo"),
        (4, "Agree", "De acuerdo"),
        (5, "Strongly agree", "Muy de acuerdo"),
    )
)
YES_NO = (
    MeasureOption("yes", Label("Yes", "Sí")),
    MeasureOption("no", Label("No", "No")),
)
MEASURES = (
    Measure(
        "scale:belonging",
        SCALE,
        Label("Belonging", "Pertenencia"),
        AGREE,
        True,
        True,
        items=("belong_part_of_school", "belong_happy_here"),
    ),
    Measure(
        "scale:safety",
        SCALE,
        Label("Safety and respect", "Seguridad y respeto"),
        AGREE,
        True,
        True,
        items=("safety_feel_safe",),
    ),
    Measure(
        "item:safety_bullied",
        ITEM,
        Label("Were you bullied this year?", "¿Sufriste acoso este año?"),
        YES_NO,
        False,
        False,
    ),
    Measure(
        "item:belong_part_of_school",
        ITEM,
        Label("I feel like I am part of this school.", "Me siento parte."),
        AGREE,
        True,
        True,
        scale="belonging",
    ),
    Measure(
        "item:belong_happy_here",
        ITEM,
        Label("I am happy to be at this school.", "Estoy feliz aquí."),
        AGREE,
        True,
        True,
        scale="belonging",
    ),
    Measure(
        "item:safety_feel_safe",
        ITEM,
        Label("I feel safe at school.", "Me siento seguro."),
        AGREE,
        True,
        True,
        scale="safety",
    ),
)

#: Comments seeded per group; one has a phone number, one suggests risk.
COMMENTS = (
    "I wish teachers learned how to say our names right.",
    "Call me at 555-123-4567 if you want to talk about the club.",
    "Sometimes I feel like I want to hurt myself.",
    "The counselor really helped me this year.",
)


def _percent(value: int) -> CodedPercent:
    return CodedPercent(value, f"{value}%")


def released_cell(favorable: int | None, change: int | None = None) -> ReleasedMeasure:
    """Return a measure's figures with % favorable ``favorable`` (25..85), or withheld."""
    if favorable is None:
        return ReleasedMeasure(None, None, None, tuple((o.value, None) for o in AGREE))
    shares = (5, 10, 85 - favorable, favorable - 20, 20)
    return ReleasedMeasure(
        n_text="30",
        favorable=_percent(favorable),
        mean="3.7",
        distribution=tuple(
            (o.value, _percent(s)) for o, s in zip(AGREE, shares, strict=True)
        ),
        change=change,
    )


def _yes_no(released: bool) -> ReleasedMeasure:
    if not released:
        return ReleasedMeasure(None, None, None, (("yes", None), ("no", None)))
    return ReleasedMeasure(
        "30", None, None, (("yes", _percent(23)), ("no", _percent(77)))
    )


def make_release(
    survey: Survey,
    favorable: Mapping[str, int | None],
    *,
    changes: Mapping[str, int] | None = None,
    previous_wave: str | None = None,
) -> ProtectedRelease:
    """Build a release where population ``key`` has % favorable ``favorable[key]``.

    Every scale and item of a population gets the same figures; ``None`` withholds
    the whole population (participation included).
    """
    changes = changes or {}
    groups = {a.group.slug: a.group for a in survey.audiences}
    populations = [
        Population(
            SCHOOL,
            SCHOOL,
            Label("Whole school", "Toda la escuela"),
            participation="120",
        )
    ] + [
        Population(
            f"{GROUP}:{slug}",
            GROUP,
            Label(group.name, group.name_es or group.name),
            group=slug,
            participation=None if favorable.get(f"{GROUP}:{slug}") is None else "30",
        )
        for slug, group in sorted(groups.items())
    ]
    cells = {}
    for population in populations:
        value = favorable.get(population.key)
        cells[population.key] = {
            m.key: released_cell(value, changes.get(population.key))
            if m.has_favorable
            else _yes_no(value is not None)
            for m in MEASURES
        }
    return ProtectedRelease(
        wave=WaveInfo(
            survey_id=survey.id,
            slug=survey.slug,
            title=survey.title,
            wave_label=survey.wave_label,
            school=survey.school.name,
            instrument_key=survey.instrument_key,
            instrument_version=survey.instrument_version,
            closed_at=survey.closes_at.isoformat(timespec="seconds"),
        ),
        k=survey.min_cell,
        is_open_link=False,
        populations=tuple(populations),
        measures=MEASURES,
        cells=cells,
        audit=AuditSummary(True, 0, 0, None, 1, len(MEASURES), 0, 0, 0),
        previous_wave=previous_wave,
    )


def make_wave(
    school: School,
    groups: list[AffinityGroup],
    *,
    status: SurveyStatus = SurveyStatus.closed,
    wave_label: str = "Spring 2027",
    closes_at: datetime | None = None,
) -> Survey:
    """Create a wave of the climate instrument sent to ``groups``."""
    closes = closes_at or datetime.now(UTC) - timedelta(hours=1)
    survey = Survey(
        school=school,
        slug="w-" + secrets.token_hex(4),
        title="Climate and belonging",
        instrument_key=CLIMATE.slug,
        instrument_version=CLIMATE.version,
        instrument_snapshot=instrument_to_snapshot(CLIMATE),
        wave_label=wave_label,
        opens_at=closes - timedelta(days=14),
        closes_at=closes,
        status=status,
        min_cell=10,
    )
    survey.audiences = [
        SurveyAudience(group=group, token=secrets.token_urlsafe(24)) for group in groups
    ]
    db.session.add(survey)
    db.session.flush()
    return survey


def release_wave(survey: Survey, favorable: Mapping[str, int | None], **kwargs):
    """Store a hand-made release for a closed wave, as ``close_wave`` would."""
    release = make_release(survey, favorable, **kwargs)
    results.store_release(survey, release)
    db.session.flush()
    return release


def add_comments(
    survey: Survey,
    group: AffinityGroup,
    *,
    moderation: ModerationStatus = ModerationStatus.pending,
) -> list[Comment]:
    """Store the seeded comments for ``group``, one response each."""
    comments = []
    for text in COMMENTS:
        response = Response(
            id=uuid.uuid4(),
            survey_id=survey.id,
            group_id=group.id,
            language=Language.en,
        )
        comment = Comment(
            item_key="open_anything_else", text=text, moderation=moderation
        )
        response.comments.append(comment)
        db.session.add(response)
        comments.append(comment)
    db.session.flush()
    return comments


def login(client, user, password: str) -> None:
    """Sign ``user`` in through the real login form."""
    from tests.conftest import csrf_token

    page = client.get("/staff/login")
    response = client.post(
        "/staff/login",
        data={
            "email": user.email,
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in an app context of its own.

    The ``db`` fixture keeps an app context pushed for the whole test, and Flask
    reuses a pushed context for requests: ``g`` (where Flask-Login caches the
    signed-in account, Flask-Babel the locale and Flask-WTF the CSRF token) and the
    database session would be shared by the test and every request. A view that
    forgot to commit would then look right, and a revoked session could be served
    from the cache. Running each request in a copy of the current contextvars with
    no app context set makes Flask push a fresh one, as a real server does: fresh
    ``g``, its own database session, and only committed data. (A view that forgets
    to commit loses its writes, and the test sees that.)
    """

    def open(self, *args, **kwargs):  # type: ignore[override]
        """Send one request from a context where no app context is pushed."""
        if has_app_context():
            # End the test's own transaction first, as a separate process would have
            # (on SQLite it holds the write lock). Loaded rows are expired, so what
            # the test reads after the request is what the request committed.
            db.session.commit()
        context = contextvars.copy_context()
        context.run(_cv_app.set, None)  # type: ignore[arg-type]
        return context.run(super().open, *args, **kwargs)


def isolate_requests(app) -> None:
    """Make every test client of ``app`` run each request in a fresh app context.

    See :class:`IsolatedClient`. Tests must commit what requests should see, and
    expire what they read back after a request.
    """
    app.test_client_class = IsolatedClient
