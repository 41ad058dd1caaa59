"""Least privilege on the admin pages (invariant 5): roles, and one school's walls."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import window
from tests.web.admin_helpers import future_window, login, post_form
from voice.instruments import instrument_to_snapshot, load_instrument
from voice.models import (
    AffinityGroup,
    AuditEvent,
    Role,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
from voice.publishing import TOKEN_BYTES

MISSING = 987654


@pytest.fixture
def world(db, make_school, make_group, make_user, app):
    """Two schools of one district, one of another; a wave and a group in each."""
    instrument = load_instrument(f"{app.config['SURVEYS_DIR']}/affinity-pulse.v1.yaml")
    schools = {
        "home": make_school(name="Home High", district="North"),
        "sibling": make_school(name="Sibling Middle", district="North"),
        "far": make_school(name="Far Away High", district="South"),
    }
    rows = {}
    for key, school in schools.items():
        group = make_group(school, name=f"{key} group", slug=f"{key}-group")
        opens, closes = window()
        survey = Survey(
            school=school,
            slug=f"{key}-wave",
            title=f"Secret {key} survey",
            instrument_key=instrument.slug,
            instrument_version=instrument.version,
            instrument_snapshot=instrument_to_snapshot(instrument),
            wave_label="Fall",
            opens_at=opens,
            closes_at=closes,
            status=SurveyStatus.open,
        )
        survey.audiences = [SurveyAudience(group=group, token=f"token-{key}")]
        db.session.add(survey)
        db.session.flush()
        rows[key] = (survey, group)
    users = {
        "admin": make_user(Role.admin, schools["home"]),
        "district": make_user(Role.admin, schools["home"], district="North"),
        "facilitator": make_user(
            Role.facilitator, schools["home"], groups=[rows["home"][1]]
        ),
        "reviewer": make_user(Role.reviewer, schools["home"], groups=[rows["home"][1]]),
        "leader": make_user(Role.leader, schools["home"]),
    }
    db.session.commit()
    return rows, users


def _urls(survey_id: int, group_id: int) -> list[str]:
    base = f"/admin/surveys/{survey_id}"
    group = f"{base}/groups/{group_id}"
    return [
        base,
        f"{group}/poster",
        f"{group}/poster.svg",
        f"{group}/poster.pdf",
        f"{group}/codes",
        f"/admin/groups/{group_id}/edit",
    ]


ADMIN_PAGES = ["/admin/", "/admin/surveys", "/admin/surveys/new", "/admin/groups"]


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    survey, group = world[0]["home"]
    for url in ADMIN_PAGES + _urls(survey.id, group.id):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/staff/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["facilitator", "reviewer", "leader"])
def test_other_roles_get_403_on_every_admin_page(client, world, role):
    rows, users = world
    login(client, users[role])
    survey, group = rows["home"]
    for url in ADMIN_PAGES + _urls(survey.id, group.id):
        assert client.get(url).status_code == 403, url


def test_another_schools_ids_answer_exactly_like_missing_ones(client, world):
    rows, users = world
    login(client, users["admin"])
    for key in ("sibling", "far"):
        survey, group = rows[key]
        for url, missing in zip(
            _urls(survey.id, group.id), _urls(MISSING, MISSING), strict=True
        ):
            theirs, nothing = client.get(url), client.get(missing)
            assert theirs.status_code == nothing.status_code == 404, url
            # Identical apart from the address itself (the language switch links it).
            assert theirs.data.replace(url.encode(), missing.encode()) == nothing.data


def test_admin_cannot_publish_close_or_print_codes_for_another_school(
    client, world, db
):
    rows, users = world
    login(client, users["admin"])
    home, _ = rows["home"]
    far, far_group = rows["far"]
    page = f"/admin/surveys/{home.id}"
    for action in ("close", "publish"):
        response = post_form(client, page, {}, url=f"/admin/surveys/{far.id}/{action}")
        assert response.status_code == 404
    codes = f"/admin/surveys/{far.id}/groups/{far_group.id}/codes"
    response = post_form(client, page, {"count": "5"}, url=codes)
    assert response.status_code == 404
    db.session.refresh(far)
    assert far.status is SurveyStatus.open
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_survey_list_shows_only_the_admins_school(client, world):
    rows, users = world
    login(client, users["admin"])
    html = client.get("/admin/surveys").get_data(as_text=True)
    assert "Secret home survey" in html
    assert "Secret sibling survey" not in html and "Secret far survey" not in html


def test_district_admin_sees_every_school_of_the_district_only(client, world):
    rows, users = world
    login(client, users["district"])
    html = client.get("/admin/surveys").get_data(as_text=True)
    assert "Secret home survey" in html and "Secret sibling survey" in html
    assert "Secret far survey" not in html
    sibling, _ = rows["sibling"]
    far, _ = rows["far"]
    assert client.get(f"/admin/surveys/{sibling.id}").status_code == 200
    assert client.get(f"/admin/surveys/{far.id}").status_code == 404


def test_a_survey_cannot_be_published_to_another_schools_group(client, world, db):
    rows, users = world
    login(client, users["admin"])
    opens, closes = future_window()
    response = post_form(
        client,
        "/admin/surveys/new",
        {
            "instrument": "affinity-pulse.v1",
            "title": "Sneaky",
            "wave_label": "Fall",
            "groups": [str(rows["far"][1].id)],
            "languages": ["en"],
            "opens_at": opens,
            "closes_at": closes,
            "min_cell": "10",
            "access_mode": "codes",
        },
    )
    assert response.status_code == 422
    assert db.session.scalar(sa.select(Survey).where(Survey.title == "Sneaky")) is None


def test_a_group_cannot_be_created_at_another_school(client, world, db):
    rows, users = world
    login(client, users["admin"])
    far_school_id = rows["far"][0].school_id
    response = post_form(
        client,
        "/admin/groups/new",
        {"name": "Planted", "school": str(far_school_id)},
    )
    assert response.status_code in (302, 422)
    planted = db.session.scalar(
        sa.select(AffinityGroup).where(AffinityGroup.name == "Planted")
    )
    assert planted is None or planted.school_id != far_school_id


def test_link_tokens_carry_at_least_128_random_bits(client, world, db):
    rows, users = world
    login(client, users["admin"])
    opens, closes = future_window()
    home_group = rows["home"][1]
    response = post_form(
        client,
        "/admin/surveys/new",
        {
            "instrument": "affinity-pulse.v1",
            "title": "Pulse",
            "wave_label": "Spring",
            "groups": [str(home_group.id)],
            "languages": ["en", "es"],
            "opens_at": opens,
            "closes_at": closes,
            "min_cell": "10",
            "access_mode": "link",
        },
    )
    assert response.status_code == 302
    token = db.session.scalar(
        sa.select(SurveyAudience.token).join(Survey).where(Survey.title == "Pulse")
    )
    assert TOKEN_BYTES * 8 >= 128
    # token_urlsafe: 6 bits per character, no padding.
    assert len(token) * 6 >= 128 and len(token) >= 22


# --- the first admin, from a terminal ------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "short-1",  # too short
        "passwordpassword",  # a common password, however long
        "aaaaaaaaaaaaaaaa",  # too few different characters
        "pat.jones-2026!",  # built from the email's local part
    ],
)
def test_create_admin_refuses_a_password_an_invitation_would_refuse(
    runner, db, make_school, password
):
    from voice import accounts

    make_school(slug="north-high")
    db.session.commit()
    assert accounts.password_problem(password, email="pat.jones@example.org")
    result = runner.invoke(
        args=[
            "create-admin",
            "--email=pat.jones@example.org",
            "--name=Pat Jones",
            "--school=north-high",
            f"--password={password}",
        ]
    )
    assert result.exit_code != 0
    assert accounts.password_problem(password, email="pat.jones@example.org") in (
        result.output
    )
    db.session.expire_all()
    assert accounts.find_by_email("pat.jones@example.org") is None


def test_create_admin_with_a_strong_password_can_sign_in(runner, db, make_school):
    from voice import accounts

    make_school(slug="north-high")
    db.session.commit()
    result = runner.invoke(
        args=[
            "create-admin",
            "--email=pat.jones@example.org",
            "--name=Pat Jones",
            "--school=north-high",
            "--password=maple river lantern 42",
        ]
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    user = accounts.authenticate("pat.jones@example.org", "maple river lantern 42")
    assert user is not None and user.role is Role.admin
