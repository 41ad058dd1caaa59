"""The admin pages: create a wave, check group sizes, publish, print posters and codes."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from flask_babel import refresh
from pypdf import PdfReader

from tests.unit.test_qr import decodes_to
from tests.web.admin_helpers import future_window, login, post_form
from voice.ballots import hash_code, normalize_code
from voice.models import (
    AccessMode,
    AffinityGroup,
    AuditEvent,
    BallotCode,
    Role,
    Survey,
    SurveyStatus,
)


@pytest.fixture
def school(make_school):
    return make_school(name="Lincoln High")


@pytest.fixture
def groups(make_group, school):
    return [
        make_group(school, name="Black Student Union", slug="bsu", expected_size=60),
        make_group(school, name="Native Student Circle", slug="nsc", expected_size=7),
    ]


@pytest.fixture
def admin(make_user, school, db):
    user = make_user(Role.admin, school)
    db.session.commit()
    return user


@pytest.fixture
def signed_in(client, admin, groups, db):
    db.session.commit()
    login(client, admin)
    return client


def _survey_form(groups, **overrides) -> dict:
    opens, closes = future_window()
    data = {
        "instrument": "affinity-pulse.v1",
        "title": "Climate and belonging",
        "wave_label": "Fall 2026",
        "groups": [str(g.id) for g in groups],
        "languages": ["en", "es"],
        "opens_at": opens,
        "closes_at": closes,
        "min_cell": "10",
        "access_mode": "codes",
    }
    data.update(overrides)
    return data


def _create(client, groups, **overrides) -> Survey:
    response = post_form(
        client, "/admin/surveys/new", _survey_form(groups, **overrides)
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    survey_id = int(response.headers["Location"].rsplit("/", 1)[1])
    from voice.extensions import db

    return db.session.get(Survey, survey_id)


def test_admin_creates_a_draft_with_a_frozen_snapshot_and_one_link_per_group(
    signed_in, groups, db
):
    survey = _create(signed_in, groups)
    assert survey.status is SurveyStatus.draft
    assert survey.instrument_key == "affinity-pulse"
    assert survey.instrument_snapshot["slug"] == "affinity-pulse"
    assert survey.languages == ["en", "es"]
    assert {a.group_id for a in survey.audiences} == {g.id for g in groups}
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "survey.create" in actions


@pytest.mark.parametrize("k", ["4", "0", "-3"])
def test_k_below_five_is_refused_with_a_clear_message(signed_in, groups, db, k):
    response = post_form(
        signed_in, "/admin/surveys/new", _survey_form(groups, min_cell=k)
    )
    assert response.status_code == 422
    assert "k must be at least 5" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0


def test_create_form_defaults_k_to_the_configured_min_cell(signed_in, app):
    html = signed_in.get("/admin/surveys/new").get_data(as_text=True)
    expected = app.config["MIN_CELL"]
    assert re.search(rf'id="min_cell"[^>]*value="{expected}"', html)
    assert 'value="codes" checked' in html or re.search(
        r'checked[^>]*value="codes"', html
    )


def test_closing_before_opening_is_refused(signed_in, groups):
    opens, closes = future_window()
    response = post_form(
        signed_in,
        "/admin/surveys/new",
        _survey_form(groups, opens_at=closes, closes_at=opens),
    )
    assert response.status_code == 422
    assert "close after it opens" in response.get_data(as_text=True)


def test_open_link_mode_warns_that_repeats_cannot_be_stopped(signed_in, groups):
    html = signed_in.get("/admin/surveys/new").get_data(as_text=True)
    assert "cannot stop someone from answering more than once" in html
    survey = _create(signed_in, groups, access_mode="link")
    assert survey.access_mode is AccessMode.link
    page = signed_in.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)
    assert "cannot stop someone from answering more than once" in page


def test_survey_page_warns_about_groups_smaller_than_k(signed_in, groups):
    survey = _create(signed_in, groups)
    html = signed_in.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)
    row = html[html.index("Native Student Circle") :]
    assert "Too small" in row[: row.index("</tr>")]
    row = html[html.index("Black Student Union") :]
    assert "Likely fine" in row[: row.index("</tr>")]


def test_publish_then_close_moves_the_wave_through_its_states(signed_in, groups, db):
    survey_id = _create(signed_in, groups).id
    page = f"/admin/surveys/{survey_id}"
    response = post_form(signed_in, page, {}, url=f"{page}/publish")
    assert response.status_code == 302
    assert db.session.get(Survey, survey_id).status is SurveyStatus.open
    response = post_form(signed_in, page, {}, url=f"{page}/close")
    assert response.status_code == 302
    db.session.expire_all()  # closing compacts storage and closes the session
    assert db.session.get(Survey, survey_id).status is SurveyStatus.closed
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"survey.publish", "survey.close"} <= actions


def test_publish_without_a_csrf_token_changes_nothing(signed_in, groups, db):
    survey = _create(signed_in, groups)
    response = signed_in.post(f"/admin/surveys/{survey.id}/publish")
    assert response.status_code == 400
    db.session.refresh(survey)
    assert survey.status is SurveyStatus.draft


def test_reschedule_moves_the_window(signed_in, groups, db):
    survey = _create(signed_in, groups)
    page = f"/admin/surveys/{survey.id}"
    response = post_form(
        signed_in,
        page,
        {"opens_at": "2030-01-01T08:00", "closes_at": "2030-01-15T17:30"},
        url=f"{page}/window",
    )
    assert response.status_code == 302
    db.session.refresh(survey)
    assert survey.closes_at.isoformat() == "2030-01-15T17:30:00+00:00"


def test_survey_list_shows_counts_rounded_to_five(signed_in, groups, db):
    from voice.models import Language, Response

    survey = _create(signed_in, groups)
    survey.status = SurveyStatus.open
    for _ in range(8):
        db.session.add(
            Response(survey_id=survey.id, group_id=groups[0].id, language=Language.en)
        )
    db.session.commit()
    html = signed_in.get("/admin/surveys").get_data(as_text=True)
    cells = re.findall(r'<td class="num"[^>]*>\s*(\d+)\s*</td>', html)
    assert cells == ["10"]


def test_poster_page_and_svg_carry_the_group_link(signed_in, groups):
    survey = _create(signed_in, groups)
    token = survey.audiences[0].token
    group_id = survey.audiences[0].group_id
    base = f"/admin/surveys/{survey.id}/groups/{group_id}"
    html = signed_in.get(f"{base}/poster").get_data(as_text=True)
    assert f"/s/{token}" in html
    assert "<svg" in html and "<title>" in html
    svg = signed_in.get(f"{base}/poster.svg")
    assert svg.mimetype == "image/svg+xml"
    assert f"/s/{token}".encode() in svg.data


def test_poster_pdf_is_an_a4_pdf(signed_in, groups):
    survey = _create(signed_in, groups)
    url = f"/admin/surveys/{survey.id}/groups/{groups[0].id}/poster.pdf"
    response = signed_in.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    pdf = PdfReader(io.BytesIO(response.data))
    assert len(pdf.pages) == 1
    box = pdf.pages[0].mediabox
    assert (round(box.width), round(box.height)) == (595, 842)  # A4 in points
    text = pdf.pages[0].extract_text()
    token = next(a.token for a in survey.audiences if a.group_id == groups[0].id)
    assert f"/s/{token}" in text.replace("\n", "")


def test_codes_are_printed_once_and_only_their_hashes_are_stored(
    signed_in, groups, db, app
):
    survey = _create(signed_in, groups)
    audience = survey.audiences[0]
    url = f"/admin/surveys/{survey.id}/groups/{audience.group_id}/codes"
    response = post_form(signed_in, url, {"count": "25", "output": "sheet"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    codes = re.findall(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b", html)
    codes = list(dict.fromkeys(codes))
    assert len(codes) == 25
    stored = db.session.scalars(
        sa.select(BallotCode).where(BallotCode.survey_id == survey.id)
    ).all()
    assert len(stored) == 25
    hashes = {row.code_hash for row in stored}
    secret = app.config["SECRET_KEY"]
    assert {hash_code(secret, survey.id, code) for code in codes} == hashes
    for code in codes:  # no column anywhere holds the plain code
        assert code not in hashes and normalize_code(code) not in hashes
    first_card = html[html.index('<svg role="img"') :]
    link = f"{app.config['BASE_URL']}/s/{audience.token}?code={codes[0]}"
    assert decodes_to(first_card[: first_card.index("</svg>")], link)
    again = signed_in.get(url).get_data(as_text=True)
    assert codes[0] not in again


def test_code_csv_is_valid_and_matches_the_stored_hashes(signed_in, groups, db, app):
    survey = _create(signed_in, groups)
    audience = survey.audiences[0]
    url = f"/admin/surveys/{survey.id}/groups/{audience.group_id}/codes"
    response = post_form(signed_in, url, {"count": "12", "output": "csv"})
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 12
    assert {row["group"] for row in rows} == {audience.group.slug}
    secret = app.config["SECRET_KEY"]
    stored = set(
        db.session.scalars(
            sa.select(BallotCode.code_hash).where(BallotCode.survey_id == survey.id)
        )
    )
    assert {hash_code(secret, survey.id, row["code"]) for row in rows} == stored
    assert all(row["link"].endswith(f"?code={row['code']}") for row in rows)


def test_open_link_surveys_have_no_code_page(signed_in, groups):
    survey = _create(signed_in, groups, access_mode="link")
    group_id = survey.audiences[0].group_id
    url = f"/admin/surveys/{survey.id}/groups/{group_id}/codes"
    assert signed_in.get(url).status_code == 404


def test_admin_adds_and_edits_a_group(signed_in, school, db):
    response = post_form(
        signed_in,
        "/admin/groups/new",
        {
            "name": "Multilingual Learners",
            "name_es": "Multilingües",
            "expected_size": "4",
        },
    )
    assert response.status_code == 302
    group = db.session.scalar(
        sa.select(AffinityGroup).where(AffinityGroup.name == "Multilingual Learners")
    )
    assert group.school_id == school.id and group.slug == "multilingual-learners"
    listing = signed_in.get("/admin/groups").get_data(as_text=True)
    row = listing[listing.index("Multilingual Learners") :]
    assert "Too small" in row[: row.index("</tr>")]
    response = post_form(
        signed_in,
        f"/admin/groups/{group.id}/edit",
        {"name": "Multilingual Learners", "name_es": "", "expected_size": "90"},
    )
    assert response.status_code == 302
    db.session.refresh(group)
    assert group.expected_size == 90
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"group.create", "group.update"} <= actions


def test_a_duplicate_group_name_is_refused(signed_in, groups):
    response = post_form(
        signed_in, "/admin/groups/new", {"name": "black student union"}
    )
    assert response.status_code == 422
    assert "already has a group with that name" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    ["/admin/surveys", "/admin/surveys/new", "/admin/groups", "/admin/groups/new"],
)
def test_admin_pages_render_in_spanish(signed_in, path):
    refresh()  # the test's app context is shared with the requests: drop cached English
    response = signed_in.get(path + "?lang=es")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'lang="es"' in html and "Encuestas" in html and "Cerrar sesión" in html


def test_posters_speak_every_language_of_the_survey(signed_in, groups):
    survey = _create(signed_in, groups)
    url = f"/admin/surveys/{survey.id}/groups/{groups[0].id}/poster"
    refresh()
    html = signed_in.get(url).get_data(as_text=True)
    assert "Your voice counts" in html and "Tu voz cuenta" in html
