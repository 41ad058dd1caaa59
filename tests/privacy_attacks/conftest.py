"""One seeded, closed wave per test module, attacked through every output and role.

Building a release with small groups takes a while (every withheld figure is proven
by linear programming), so the wave is built once per module on its own app and
database (SQLite file, or the PostgreSQL test database emptied afterwards).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from config import TestingConfig
from tests.factories import _password_hash
from tests.privacy_attacks.seed import Seeded, make_wave
from tests.web.admin_helpers import login
from voice import create_app, lattice, report_service, results
from voice.extensions import db, limiter
from voice.instruments import Instrument
from voice.models import GroupMembership, Role, StaffUser
from voice.privacy import Block
from voice.release import ProtectedRelease
from voice.reports import ReportContext

#: Roles attacked, and the group a group-scoped reader belongs to.
ROLES = {"admin": None, "leader": None, "facilitator": "charlie"}


@dataclass
class Attacked:
    """A closed wave, its exact figure system, and what each role was served."""

    seeded: Seeded
    instrument: Instrument
    release: ProtectedRelease
    system: Block
    #: role -> format -> served text
    payloads: dict[str, dict[str, str]]
    #: role -> URL -> HTML of every results page the role may open
    pages: dict[str, dict[str, str]]
    #: role -> URL -> bytes of every summary PDF the role may download
    pdfs: dict[str, dict[str, bytes]]
    #: PDF URL -> the report laid out for it and the HTML it is printed from
    reports: dict[str, tuple[ReportContext, str]]


def _reachable(client, urls: list[str]) -> dict[str, bytes]:
    """Fetch each URL, keeping those the signed-in reader is allowed to open."""
    found = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        if response.status_code == 200:
            found[url] = response.get_data()
    return found


@pytest.fixture(scope="module")
def attacked(database_url, tmp_path_factory) -> Iterator[Attacked]:
    """Seed groups of 30, 12, 7 and 2, close the wave, download every export."""
    tmp = tmp_path_factory.mktemp("attacked")
    url = database_url or f"sqlite:///{tmp / 'voice.sqlite3'}"
    os.environ["VOICE_INSTANCE_PATH"] = str(tmp / "instance")
    app = create_app(
        TestingConfig,
        {"SQLALCHEMY_DATABASE_URI": url, "OUTBOX_DIR": str(tmp / "outbox")},
    )
    with app.app_context():
        if database_url is None:
            db.create_all()
        limiter.reset()
        seeded = make_wave()
        users = {}
        for role, group in ROLES.items():
            user = StaffUser(
                email=f"{role}@attack.example",
                name=role,
                role=Role[role],
                school=seeded.school,
                password_hash=_password_hash(),
            )
            if group:
                user.memberships = [GroupMembership(group=seeded.groups[group])]
            db.session.add(user)
            users[role] = user
        db.session.commit()
        release = results.close_wave(seeded.survey)
        db.session.commit()
        instrument = results.instrument_of(seeded.survey)
        counts = results.wave_counts(seeded.survey, instrument)
        system = lattice.joint_system(instrument, counts, k=seeded.survey.min_cell)
        emails = {role: user.email for role, user in users.items()}
        survey_id = seeded.survey.id
        review = f"/review/surveys/{survey_id}"
        group_urls = [f"{review}/groups/{g.id}" for g in seeded.groups.values()]
        page_urls = [review, *group_urls, *(f"{u}?lang=es" for u in group_urls)]
        pdf_urls = [f"{review}/summary.pdf", *(f"{u}/summary.pdf" for u in group_urls)]
        reports = {}
        for url, group in zip(pdf_urls, [None, *seeded.groups.values()], strict=True):
            context, _ = report_service.build_context(
                seeded.survey, group=group, lang="en"
            )
            reports[url] = (context, report_service.render_html(context))
    # Requests run outside the fixture's app context: inside it, Flask would reuse
    # that context, and the first sign-in would stick to every later request.
    payloads: dict[str, dict[str, str]] = {}
    pages: dict[str, dict[str, str]] = {}
    pdfs: dict[str, dict[str, bytes]] = {}
    for role, email in emails.items():
        client = app.test_client()
        login(client, SimpleNamespace(email=email))
        payloads[role] = {
            fmt: client.get(f"/exports/surveys/{survey_id}/release.{fmt}").get_data(
                as_text=True
            )
            for fmt in ("csv", "json")
        }
        pages[role] = {
            url: html.decode() for url, html in _reachable(client, page_urls).items()
        }
        pdfs[role] = _reachable(client, pdf_urls)
    with app.app_context():
        yield Attacked(
            seeded, instrument, release, system, payloads, pages, pdfs, reports
        )
        db.session.remove()
        if database_url is not None:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
                )
        db.engine.dispose()
