"""Every role against every staff view, export and download (DESIGN invariant 5).

Three parts:

- an explicit table for the results, findings and account pages: who gets 200,
  who is sent to sign in, who gets 403 or 404;
- a sweep over *every* staff URL the app registers (admin, review, reports,
  exports, accounts ...), filled with another school's ids, and for group roles
  with a sibling group's ids: nothing may answer 2xx/3xx-to-content, and 403/404
  must not depend on whether the row exists;
- anonymous visitors (students have no account) never reach a staff page.
"""

from __future__ import annotations

import itertools
import re

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter

from tests.conftest import csrf_token
from tests.factories import PASSWORD
from tests.web.review_helpers import (
    add_comments,
    isolate_requests,
    login,
    make_wave,
    release_wave,
)
from voice.models import Finding, FindingKind, ModerationStatus, Role, SurveyStatus

#: Blueprints whose every route is for signed-in staff.
STAFF_BLUEPRINTS = ("admin", "review", "accounts", "reports", "exports")
#: Staff-blueprint routes that are deliberately public.
PUBLIC_ENDPOINTS = {"accounts.accept_invite"}
ROLES = ("admin", "leader", "facilitator", "reviewer")
MISSING = 987654
#: Values tried for the text parts of staff URLs (download formats).
TEXT_ARGUMENTS = {"fmt": ("csv", "json")}

#: Distinctive texts of the other school: none may appear on any page of ours.
FOREIGN_MARKERS = ("Faraway Academy", "Faraway Club", "far@away.example")


@pytest.fixture(autouse=True)
def _fresh_requests(app):
    isolate_requests(app)


@pytest.fixture
def world(db, make_school, make_group, make_user):
    """Our school (two groups, a released wave, a draft) and a school elsewhere."""
    school = make_school(name="Near High")
    mine = make_group(school, slug="mine", name="Mine Group")
    sibling = make_group(school, slug="sibling", name="Sibling Group")
    survey = make_wave(school, [mine, sibling])
    release_wave(survey, {"school": 50, "group:mine": 60, "group:sibling": 40})
    draft = make_wave(school, [mine, sibling], status=SurveyStatus.draft)
    add_comments(survey, sibling, moderation=ModerationStatus.approved)

    far = make_school(name="Faraway Academy", district="Far District")
    foreign_group = make_group(far, slug="faraway", name="Faraway Club")
    foreign_survey = make_wave(far, [foreign_group])
    release_wave(foreign_survey, {"school": 50, "group:faraway": 60})
    foreign_user = make_user(
        Role.reviewer, school=far, groups=[foreign_group], email="far@away.example"
    )

    def finding(survey_, group, shared: bool) -> Finding:
        row = Finding(
            survey_id=survey_.id,
            group_id=group.id,
            kind=FindingKind.recommendation,
            text=f"Recommendation of {group.name}",
            shared_at=survey_.closes_at if shared else None,
        )
        db.session.add(row)
        db.session.flush()
        return row

    users = {
        "admin": make_user(Role.admin, school=school),
        "leader": make_user(Role.leader, school=school),
        "facilitator": make_user(Role.facilitator, school=school, groups=[mine]),
        "reviewer": make_user(Role.reviewer, school=school, groups=[mine]),
    }
    ids = {
        "survey": survey.id,
        "draft": draft.id,
        "mine": mine.id,
        "sibling": sibling.id,
        "mine_draft": finding(survey, mine, False).id,
        "sibling_shared": finding(survey, sibling, True).id,
        "sibling_draft": finding(survey, sibling, False).id,
        "foreign_survey": foreign_survey.id,
        "foreign_group": foreign_group.id,
        "foreign_finding": finding(foreign_survey, foreign_group, True).id,
        "foreign_user": foreign_user.id,
        "reviewer_user": users["reviewer"].id,
    }
    db.session.commit()
    return {"ids": ids, "users": users}


@pytest.fixture
def client_for(app, world):
    """Return a test client signed in as ``role`` ("anonymous": not signed in)."""

    def make(role: str):
        client = app.test_client()
        if role != "anonymous":
            login(client, world["users"][role], PASSWORD)
        return client

    return make


def _token(client) -> str:
    html = client.get("/staff/login").get_data().decode("utf-8", "replace")
    if 'name="csrf_token"' not in html:
        html = client.get("/staff/account").get_data().decode("utf-8", "replace")
    return csrf_token(html)


def _request(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": _token(client)})


# --- the explicit table --------------------------------------------------------------

A, L, F, R, N = "admin", "leader", "facilitator", "reviewer", "anonymous"
S = "/review/surveys"
TABLE = [
    # (method, url, {role: expected status}); anonymous always goes to sign in.
    ("GET", "/review/", {A: 200, L: 200, F: 200, R: 200}),
    ("GET", S + "/{survey}/groups/{mine}", {A: 200, L: 403, F: 200, R: 200}),
    ("GET", S + "/{survey}/groups/{sibling}", {A: 200, L: 403, F: 404, R: 404}),
    (
        "GET",
        S + "/{foreign_survey}/groups/{foreign_group}",
        {A: 404, L: 403, F: 404, R: 404},
    ),
    ("GET", S + "/{survey}/groups/{foreign_group}", {A: 404, L: 403, F: 404, R: 404}),
    ("GET", S + "/{draft}/groups/{mine}", {A: 200, L: 403, F: 404, R: 404}),
    ("GET", S + "/{survey}/groups/{mine}/moderation", {A: 200, L: 403, F: 200, R: 403}),
    (
        "GET",
        S + "/{survey}/groups/{sibling}/moderation",
        {A: 200, L: 403, F: 404, R: 403},
    ),
    ("GET", S + "/{survey}", {A: 200, L: 200, F: 403, R: 403}),
    ("GET", S + "/{foreign_survey}", {A: 404, L: 404, F: 403, R: 403}),
    ("GET", S + "/{draft}", {A: 200, L: 404, F: 403, R: 403}),
    (
        "POST",
        S + "/{survey}/groups/{mine}/findings/{mine_draft}",
        {A: 403, L: 403, F: 400, R: 400},
    ),
    (
        "POST",
        S + "/{survey}/groups/{mine}/findings/{sibling_draft}",
        {A: 403, L: 403, F: 404, R: 404},
    ),
    (
        "POST",
        S + "/{survey}/groups/{sibling}/findings/{sibling_draft}",
        {A: 403, L: 403, F: 404, R: 404},
    ),
    (
        "POST",
        S + "/{survey}/groups/{sibling}/findings",
        {A: 403, L: 403, F: 404, R: 404},
    ),
    (
        "POST",
        S + "/{survey}/findings/{sibling_shared}/answer",
        {A: 403, L: 302, F: 403, R: 403},
    ),
    (
        "POST",
        S + "/{survey}/findings/{sibling_draft}/answer",
        {A: 403, L: 404, F: 403, R: 403},
    ),
    (
        "POST",
        S + "/{survey}/findings/{foreign_finding}/answer",
        {A: 403, L: 404, F: 403, R: 403},
    ),
    (
        "POST",
        S + "/{foreign_survey}/findings/{foreign_finding}/answer",
        {A: 403, L: 404, F: 403, R: 403},
    ),
    ("GET", "/staff/accounts", {A: 200, L: 403, F: 200, R: 403}),
    ("GET", "/staff/accounts/invite", {A: 200, L: 403, F: 200, R: 403}),
    ("GET", "/staff/accounts/{reviewer_user}", {A: 200, L: 403, F: 200, R: 403}),
    ("GET", "/staff/accounts/{foreign_user}", {A: 404, L: 403, F: 404, R: 403}),
    (
        "POST",
        "/staff/accounts/{foreign_user}/enabled",
        {A: 404, L: 403, F: 404, R: 403},
    ),
    ("GET", "/staff/audit", {A: 200, L: 403, F: 403, R: 403}),
    ("GET", "/staff/account", {A: 200, L: 200, F: 200, R: 200}),
]


@pytest.mark.parametrize("role", [*ROLES, N])
def test_authorization_table(client_for, world, role):
    client, wrong = client_for(role), []
    for method, url, expected in TABLE:
        status = 302 if role == N else expected[role]
        response = _request(client, method, url.format(**world["ids"]))
        body = response.get_data().decode("utf-8", "replace")
        if (
            response.status_code != status
            or (role == N and "/staff/login" not in response.headers["Location"])
            or (
                status in (403, 404)
                and (
                    any(marker in body for marker in FOREIGN_MARKERS)
                    or "Recommendation of" in body
                )
            )
        ):
            wrong.append(f"{method} {url}: {response.status_code}, expected {status}")
    assert not wrong, "\n".join(wrong)


# --- the sweep over every registered staff URL ----------------------------------------


def _staff_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".", 1)[0]
        if blueprint in STAFF_BLUEPRINTS and rule.endpoint not in PUBLIC_ENDPOINTS:
            yield rule


def _urls(rule, values: dict[str, int]) -> list[str]:
    """Build the rule's URLs from ``values`` and every known text argument.

    Integer parts take ``values`` (or an id nobody has); text parts take each of
    ``TEXT_ARGUMENTS``. A rule with an unknown text part yields no URL.
    """
    variants: list[dict[str, object]] = [{}]
    for name in rule.arguments:
        converter = rule._converters[name]  # werkzeug keeps no public map
        if isinstance(converter, IntegerConverter):
            choices: tuple[object, ...] = (values.get(name, MISSING),)
        elif name in TEXT_ARGUMENTS:
            choices = TEXT_ARGUMENTS[name]
        else:
            return []
        variants = [{**v, name: choice} for v in variants for choice in choices]
    return [rule.build(v, append_unknown=False)[1] for v in variants]


def _methods(rule) -> list[str]:
    return sorted(rule.methods & {"GET", "POST"})


def test_the_sweep_covers_the_pages_of_every_staff_blueprint(app):
    ids = {"survey_id": 1, "group_id": 2, "finding_id": 3, "user_id": 4}
    covered = {
        rule.endpoint.split(".", 1)[0]
        for rule in _staff_rules(app)
        if rule.arguments and _urls(rule, ids)
    }
    assert {"admin", "review", "accounts", "reports"} <= covered


def _foreign_ids(ids: dict[str, int]) -> dict[str, int]:
    return {
        "survey_id": ids["foreign_survey"],
        "group_id": ids["foreign_group"],
        "finding_id": ids["foreign_finding"],
        "user_id": ids["foreign_user"],
    }


@pytest.mark.parametrize("role", ROLES)
def test_no_staff_url_serves_another_schools_rows(app, client_for, world, role):
    client, ids = client_for(role), _foreign_ids(world["ids"])
    missing = {name: MISSING for name in ids}
    leaks = []
    for rule in _staff_rules(app):
        if not rule.arguments:
            continue
        urls = zip(_urls(rule, ids), _urls(rule, missing), strict=True)
        for (foreign_url, missing_url), method in itertools.product(
            urls, _methods(rule)
        ):
            foreign = _request(client, method, foreign_url)
            absent = _request(client, method, missing_url)
            body = foreign.get_data().decode("utf-8", "replace")
            if (
                foreign.status_code not in (403, 404)
                or foreign.status_code != absent.status_code
                or any(marker in body for marker in FOREIGN_MARKERS)
            ):
                leaks.append(
                    f"{method} {foreign_url}: {foreign.status_code} "
                    f"(missing row: {absent.status_code})"
                )
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("role", ["facilitator", "reviewer"])
def test_no_staff_url_serves_a_sibling_groups_rows_to_group_roles(
    app, client_for, world, role
):
    client = client_for(role)
    ids = world["ids"]
    sibling = {
        "survey_id": ids["survey"],
        "group_id": ids["sibling"],
        "finding_id": ids["sibling_draft"],
        "user_id": ids["foreign_user"],
    }
    leaks = []
    for rule in _staff_rules(app):
        if not {"group_id", "finding_id"} & set(rule.arguments):
            continue
        for url, method in itertools.product(_urls(rule, sibling), _methods(rule)):
            response = _request(client, method, url)
            body = response.get_data().decode("utf-8", "replace")
            if response.status_code not in (403, 404) or "Sibling Group" in body:
                leaks.append(f"{method} {url}: {response.status_code}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("role", ROLES)
def test_list_pages_never_mention_another_school(app, client_for, role):
    client = client_for(role)
    for rule in _staff_rules(app):
        if rule.arguments or "GET" not in rule.methods:
            continue
        body = client.get(rule.build({})[1]).get_data().decode("utf-8", "replace")
        found = [marker for marker in FOREIGN_MARKERS if marker in body]
        assert not found, f"{rule.rule}: {found}"


def test_anonymous_visitors_never_reach_a_staff_page(app, client_for, world):
    client, ids = client_for(N), world["ids"]
    values = {
        "survey_id": ids["survey"],
        "group_id": ids["mine"],
        "finding_id": ids["sibling_shared"],
        "user_id": ids["reviewer_user"],
    }
    reached = []
    for rule in _staff_rules(app):
        for url, method in itertools.product(_urls(rule, values), _methods(rule)):
            response = _request(client, method, url)
            location = response.headers.get("Location", "")
            if not (
                response.status_code in (401, 403, 404)
                or (response.status_code == 302 and "/staff/login" in location)
            ):
                reached.append(f"{method} {url}: {response.status_code}")
    assert not reached, "\n".join(reached)


@pytest.mark.parametrize("role", ["facilitator", "reviewer"])
def test_downloads_hold_only_the_readers_own_groups(app, client_for, world, role):
    if "exports.release_file" not in app.view_functions:
        pytest.skip("the exports blueprint is not registered")
    client, survey = client_for(role), world["ids"]["survey"]
    for fmt in TEXT_ARGUMENTS["fmt"]:
        response = client.get(f"/exports/surveys/{survey}/release.{fmt}")
        body = response.get_data().decode("utf-8", "replace")
        assert response.status_code == 200
        assert "Mine Group" in body and "Sibling Group" not in body


def test_students_links_give_no_results(app, client_for, world):
    """A student's survey link is the only way in without an account, and it shows
    no figure of any released wave."""
    from voice.extensions import db
    from voice.models import SurveyAudience

    token = db.session.scalar(
        db.select(SurveyAudience.token).filter_by(survey_id=world["ids"]["survey"])
    )
    body = client_for(N).get(f"/s/{token}").get_data().decode("utf-8", "replace")
    assert not re.search(r"\b(60|50|40)%", body)
