"""Shared set-up for the student-flow tests: a published survey and a student's browser."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.factories import window
from voice.ballots import generate_code, hash_code
from voice.extensions import db
from voice.instruments import instrument_to_snapshot, load_instrument
from voice.models import (
    AccessMode,
    AffinityGroup,
    BallotCode,
    School,
    Survey,
    SurveyAudience,
    SurveyStatus,
)

SURVEYS = Path(__file__).resolve().parents[2] / "surveys"

#: The shipped three-page pulse: agree5 and frequency items, then two comments.
PULSE = instrument_to_snapshot(load_instrument(SURVEYS / "affinity-pulse.v1.yaml"))
#: The shipped seven-page climate survey, with single, multi and self-id items.
CLIMATE = instrument_to_snapshot(load_instrument(SURVEYS / "climate-belonging.v1.yaml"))

#: One short page: enough for concurrency tests to submit in two requests.
TINY = {
    "slug": "tiny",
    "version": 1,
    "title": {"en": "Tiny check-in", "es": "Consulta breve"},
    "languages": ["en", "es"],
    "estimated_minutes": 1,
    "pages": [
        {
            "key": "only",
            "title": {"en": "Only page", "es": "Única página"},
            "items": [
                {
                    "key": "tiny_belong",
                    "type": "agree5",
                    "text": {"en": "I belong here.", "es": "Pertenezco aquí."},
                    "options": [
                        {"value": v, "text": {"en": f"E{v}", "es": f"S{v}"}}
                        for v in range(1, 6)
                    ],
                },
                {
                    "key": "tiny_comment",
                    "type": "text",
                    "max_length": 200,
                    "text": {"en": "Anything else?", "es": "¿Algo más?"},
                },
            ],
        }
    ],
}

#: Answers to every page of PULSE, as a student posts them.
PULSE_ANSWERS = (
    {
        "q-pulse_group_belong": "4",
        "q-pulse_school_belong": "2",
        "q-pulse_be_myself": "5",
    },
    {
        "q-pulse_adult_to_go_to": "3",
        "q-pulse_adults_understand": "1",
        "q-pulse_feel_safe": "4",
        "q-pulse_identity_respected": "5",
        "q-pulse_treated_unfairly": "2",
    },
    {
        "q-pulse_group_heard": "4",
        "q-pulse_better_since_last": "3",
        "q-pulse_open_next_step": "More  clubs\r\nafter school",
        "q-pulse_open_anything_else": "",
    },
)


def publish(
    *,
    snapshot: dict | None = None,
    access_mode: AccessMode = AccessMode.link,
    status: SurveyStatus = SurveyStatus.open,
    opens_closes: tuple[datetime, datetime] | None = None,
    school: School | None = None,
    support_resources: dict | None = None,
) -> SurveyAudience:
    """Publish a survey to one new group and return the group's link (committed)."""
    snapshot = snapshot or PULSE
    school = school or School(
        name="Lincoln High School",
        slug="lincoln-" + secrets.token_hex(3),
        support_resources=support_resources
        if support_resources is not None
        else {
            "counselor": "Ms. Patel, room 114",
            "crisis_line": "988 Suicide & Crisis Lifeline: call or text 988",
        },
    )
    opens_at, closes_at = opens_closes or window()
    group = AffinityGroup(
        school=school,
        name="Black Student Union",
        name_es="Unión de Estudiantes Negros",
        slug="bsu-" + secrets.token_hex(3),
    )
    survey = Survey(
        school=school,
        slug="wave-" + secrets.token_hex(3),
        title="Fall pulse",
        instrument_key=snapshot["slug"],
        instrument_version=snapshot["version"],
        instrument_snapshot=snapshot,
        wave_label="Fall 2026",
        opens_at=opens_at,
        closes_at=closes_at,
        status=status,
        access_mode=access_mode,
    )
    audience = SurveyAudience(
        survey=survey, group=group, token=secrets.token_urlsafe(24)
    )
    db.session.add_all([school, group, survey, audience])
    db.session.commit()
    return audience


def add_codes(app: Flask, audience: SurveyAudience, count: int) -> list[str]:
    """Print ``count`` ballot codes for the link and return them (committed)."""
    codes = [generate_code() for _ in range(count)]
    db.session.add_all(
        BallotCode(
            survey_id=audience.survey_id,
            audience_id=audience.id,
            code_hash=hash_code(app.config["SECRET_KEY"], audience.survey_id, code),
        )
        for code in codes
    )
    db.session.commit()
    return codes


def in_future(days: int = 3) -> tuple[datetime, datetime]:
    """A window that opens later."""
    now = datetime.now(UTC)
    return now + timedelta(days=days), now + timedelta(days=days + 7)


def in_past() -> tuple[datetime, datetime]:
    """A window that has ended."""
    now = datetime.now(UTC)
    return now - timedelta(days=10), now - timedelta(days=1)


def hidden(html: str, name: str) -> str:
    """Return the value of the hidden field ``name`` in a rendered form."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name!r} in the page"
    return unescape(match.group(1))


def checked_values(html: str, field: str) -> list[str]:
    """Return the values of the checked inputs named ``field``."""
    return re.findall(rf'name="{re.escape(field)}" value="([^"]*)" checked', html)


class Student:
    """A student's browser on one survey link, driven through the real views."""

    def __init__(
        self,
        client: FlaskClient,
        audience: SurveyAudience,
        lang: str = "en",
        environ: dict | None = None,
    ):
        self.client = client
        #: WSGI environ sent with every request (client address, user agent...).
        self.environ = environ or {}
        self.token = audience.token
        self.audience_id = audience.id
        self.lang = lang
        self.html = ""

    def request(self, method: str, url: str, **kwargs):
        """Send one request in its own app context, as a real server would.

        The test's own session is committed first, so it holds no SQLite lock and
        the view sees what the test wrote; the view gets a fresh session, ``g`` and
        locale, so two students never share a CSRF token or a language.
        """
        db.session.commit()
        kwargs.setdefault("environ_base", self.environ)
        with self.client.application.app_context():
            return self.client.open(url, method=method, **kwargs)

    def open(self, **query: str):
        """GET the survey link."""
        response = self.request(
            "GET", f"/s/{self.token}", query_string={"lang": self.lang, **query}
        )
        self.html = response.get_data(as_text=True)
        return response

    def start(self, code: str | None = None):
        """Open the link and press Start, typing ``code`` if given."""
        self.open()
        data = {"csrf_token": hidden(self.html, "csrf_token")}
        if code is not None:
            data["code"] = code
        response = self.request(
            "POST",
            f"/s/{self.token}/start",
            query_string={"lang": self.lang},
            data=data,
        )
        self.html = response.get_data(as_text=True)
        return response

    def form(self, answers: dict | None = None, action: str = "next") -> dict:
        """Return the fields the current page would post, with ``answers``."""
        return {
            "csrf_token": hidden(self.html, "csrf_token"),
            "state": hidden(self.html, "state"),
            "action": action,
            **(answers or {}),
        }

    def post(self, data: dict, lang: str | None = None):
        """POST one page of the questionnaire."""
        response = self.request(
            "POST",
            f"/s/{self.token}/answers",
            query_string={"lang": lang or self.lang},
            data=data,
        )
        self.html = response.get_data(as_text=True)
        return response

    def page(self, answers: dict | None = None, action: str = "next"):
        """Answer the current page and press ``action``."""
        return self.post(self.form(answers, action))

    def complete(self, pages=PULSE_ANSWERS, code: str | None = None):
        """Start, answer every page and submit; return the submit response."""
        self.start(code)
        for answers in pages[:-1]:
            self.page(answers)
        return self.page(pages[-1], action="submit")
