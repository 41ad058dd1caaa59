"""Accounts: invitations, passwords, scoped management, session revocation, audit log."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.factories import PASSWORD
from tests.web.review_helpers import isolate_requests, login
from voice import accounts
from voice.models import AuditEvent, GroupMembership, Role, StaffUser, utcnow

NEW_PASSWORD = "maple river lantern 42"


@pytest.fixture(autouse=True)
def _fresh_requests(app):
    isolate_requests(app)


def _post(client, url: str, data: dict, page: str | None = None):
    """Post a form with a CSRF token taken from ``page`` (default: ``url``)."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_token(html)})


def _invite(client, **fields) -> str:
    """Fill the invitation form as a person would, keeping its hidden school."""
    page = client.get("/staff/accounts/invite").get_data(as_text=True)
    hidden = re.search(r'type="hidden" name="school" value="(\d+)"', page)
    if hidden and "school" not in fields:
        fields["school"] = hidden.group(1)
    response = client.post(
        "/staff/accounts/invite", data={**fields, "csrf_token": csrf_token(page)}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    return re.search(r'value="(http[^"]*/staff/invitation/[^"]+)"', html).group(1)


def _events(db, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).filter_by(action=action)))


# --- invitations --------------------------------------------------------------------


def test_admin_invites_and_the_invited_person_sets_their_own_password(
    app, client, db, make_school, make_user, make_group
):
    school = make_school()
    group = make_group(school)
    admin = make_user(Role.admin, school=school)
    db.session.commit()
    login(client, admin, PASSWORD)
    link = _invite(
        client,
        name="Jordan Ellis",
        email="jordan@example.org",
        role="facilitator",
        groups=str(group.id),
        language="es",
    )
    user = accounts.find_by_email("jordan@example.org")
    assert user.password_hash is None  # no default password, ever
    token = link.rsplit("/", 1)[1]
    assert user.invite_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(user.invite_token_hash)

    newcomer = app.test_client()
    response = _post(
        newcomer,
        link,
        {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert newcomer.get("/review/").status_code == 200  # signed in
    db.session.expire_all()
    assert user.password_hash and user.invite_token_hash is None
    assert accounts.authenticate("jordan@example.org", NEW_PASSWORD) == user
    assert [e.target for e in _events(db, "account.invite")] == [
        f"staff_user:{user.id}"
    ]


def test_invitation_link_works_only_once(app, client, db, make_school, make_user):
    admin = make_user(Role.admin)
    invitation = accounts.invite(
        admin,
        email="leader@example.org",
        name="Lee",
        role=Role.leader,
        school=admin.school,
    )
    db.session.commit()
    url = f"/staff/invitation/{invitation.token}"
    assert (
        _post(
            client, url, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        ).status_code
        == 302
    )
    other = app.test_client()
    assert other.get(url).status_code == 404


def test_expired_invitation_is_refused(client, db, make_user):
    admin = make_user(Role.admin)
    invitation = accounts.invite(
        admin,
        email="late@example.org",
        name="Late",
        role=Role.leader,
        school=admin.school,
    )
    invitation.user.invite_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.get(f"/staff/invitation/{invitation.token}")
    assert response.status_code == 404
    assert "not valid" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("short pass", False),
        ("password1234", False),
        ("aaaaaaaaaaaaaaaa", False),
        ("newbie-2026-secret", False),  # contains the email's name
        (NEW_PASSWORD, True),
    ],
)
def test_weak_passwords_are_refused(client, db, make_user, password, accepted):
    admin = make_user(Role.admin)
    invitation = accounts.invite(
        admin,
        email="newbie@example.org",
        name="N",
        role=Role.leader,
        school=admin.school,
    )
    db.session.commit()
    response = _post(
        client,
        f"/staff/invitation/{invitation.token}",
        {"password": password, "confirm": password},
    )
    assert (response.status_code == 302) is accepted


def test_facilitator_may_invite_only_reviewers_into_their_own_groups(
    client, db, make_school, make_user, make_group
):
    school = make_school()
    mine, theirs = make_group(school), make_group(school)
    facilitator = make_user(Role.facilitator, school=school, groups=[mine])
    db.session.commit()
    login(client, facilitator, PASSWORD)
    common = {"name": "X", "school": str(school.id), "language": "en"}
    as_admin = _post(
        client,
        "/staff/accounts/invite",
        {**common, "email": "a@example.org", "role": "admin", "groups": str(mine.id)},
    )
    other_group = _post(
        client,
        "/staff/accounts/invite",
        {
            **common,
            "email": "b@example.org",
            "role": "reviewer",
            "groups": str(theirs.id),
        },
    )
    assert as_admin.status_code == 422 and other_group.status_code == 422
    assert accounts.find_by_email("a@example.org") is None
    assert accounts.find_by_email("b@example.org") is None
    _invite(
        client, **common, email="c@example.org", role="reviewer", groups=str(mine.id)
    )
    reviewer = accounts.find_by_email("c@example.org")
    assert reviewer.role is Role.reviewer
    assert [m.group_id for m in reviewer.memberships] == [mine.id]


def test_account_list_shows_only_accounts_in_scope(
    client, db, make_school, make_user, make_group
):
    school, elsewhere = make_school(), make_school(district="Other District")
    group, other_group = make_group(school), make_group(school)
    admin = make_user(Role.admin, school=school)
    facilitator = make_user(Role.facilitator, school=school, groups=[group])
    own_reviewer = make_user(Role.reviewer, school=school, groups=[group])
    other_reviewer = make_user(Role.reviewer, school=school, groups=[other_group])
    stranger = make_user(Role.admin, school=elsewhere)
    db.session.commit()
    login(client, admin, PASSWORD)
    html = client.get("/staff/accounts").get_data(as_text=True)
    assert own_reviewer.email in html and other_reviewer.email in html
    assert stranger.email not in html
    assert client.get(f"/staff/accounts/{stranger.id}").status_code == 404

    client.post("/staff/logout", data={"csrf_token": csrf_token(html)})
    login(client, facilitator, PASSWORD)
    html = client.get("/staff/accounts").get_data(as_text=True)
    assert own_reviewer.email in html
    assert other_reviewer.email not in html and admin.email not in html
    assert client.get(f"/staff/accounts/{other_reviewer.id}").status_code == 404
    assert client.get(f"/staff/accounts/{admin.id}").status_code == 404


# --- sessions end -------------------------------------------------------------------


def test_disabling_an_account_ends_its_sessions_at_once(
    app, client, db, make_school, make_user
):
    school = make_school()
    admin = make_user(Role.admin, school=school)
    leader = make_user(Role.leader, school=school)
    db.session.commit()
    victim = app.test_client()
    login(victim, leader, PASSWORD)
    assert victim.get("/review/").status_code == 200
    login(client, admin, PASSWORD)
    response = _post(
        client,
        f"/staff/accounts/{leader.id}/enabled",
        {"enable": "0"},
        page=f"/staff/accounts/{leader.id}",
    )
    assert response.status_code == 302
    assert victim.get("/review/").status_code == 302  # back to the sign-in page
    assert accounts.authenticate(leader.email, PASSWORD) is None
    assert [e.target for e in _events(db, "account.disable")] == [
        f"staff_user:{leader.id}"
    ]


def test_removing_a_group_membership_ends_the_members_sessions(
    app, client, db, make_school, make_user, make_group
):
    school = make_school()
    first, second = make_group(school), make_group(school)
    admin = make_user(Role.admin, school=school)
    reviewer = make_user(Role.reviewer, school=school, groups=[first, second])
    db.session.commit()
    member = app.test_client()
    login(member, reviewer, PASSWORD)
    login(client, admin, PASSWORD)
    response = _post(
        client, f"/staff/accounts/{reviewer.id}", {"groups": str(first.id)}
    )
    assert response.status_code == 302
    memberships = db.session.scalars(
        sa.select(GroupMembership.group_id).filter_by(user_id=reviewer.id)
    ).all()
    assert memberships == [first.id]
    assert member.get("/review/").status_code == 302


def test_adding_a_group_keeps_the_session(
    app, client, db, make_school, make_user, make_group
):
    school = make_school()
    first, second = make_group(school), make_group(school)
    admin = make_user(Role.admin, school=school)
    reviewer = make_user(Role.reviewer, school=school, groups=[first])
    db.session.commit()
    member = app.test_client()
    login(member, reviewer, PASSWORD)
    login(client, admin, PASSWORD)
    _post(
        client,
        f"/staff/accounts/{reviewer.id}",
        {"groups": [str(first.id), str(second.id)]},
    )
    assert member.get("/review/").status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_account(
    app, client, db, make_user
):
    leader = make_user(Role.leader)
    db.session.commit()
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, leader, PASSWORD)
    login(phone, leader, PASSWORD)
    response = _post(
        laptop, "/staff/account/sign-out-everywhere", {}, page="/staff/account"
    )
    assert response.status_code == 302
    assert phone.get("/review/").status_code == 302
    assert laptop.get("/review/").status_code == 302
    login(phone, leader, PASSWORD)  # signing in again works
    assert phone.get("/review/").status_code == 200


def test_logout_ends_the_session(client, db, make_user):
    leader = make_user(Role.leader)
    db.session.commit()
    login(client, leader, PASSWORD)
    html = client.get("/staff/account").get_data(as_text=True)
    client.post("/staff/logout", data={"csrf_token": csrf_token(html)})
    assert client.get("/review/").status_code == 302


def test_nobody_can_disable_themselves(client, db, make_user):
    admin = make_user(Role.admin)
    db.session.commit()
    login(client, admin, PASSWORD)
    assert client.get(f"/staff/accounts/{admin.id}").status_code == 404


# --- audit log ----------------------------------------------------------------------


def test_audit_log_shows_admins_their_schools_events_only(
    client, db, make_school, make_user
):
    school, elsewhere = make_school(), make_school(district="Elsewhere")
    admin = make_user(Role.admin, school=school)
    stranger = make_user(Role.admin, school=elsewhere)
    accounts.invite(
        admin, email="here@example.org", name="H", role=Role.leader, school=school
    )
    accounts.invite(
        stranger,
        email="there@example.org",
        name="T",
        role=Role.leader,
        school=elsewhere,
    )
    db.session.commit()
    login(client, admin, PASSWORD)
    html = client.get("/staff/audit").get_data(as_text=True)
    assert "account.invite" in html and admin.email in html
    assert stranger.email not in html


@pytest.mark.parametrize("role", [Role.leader, Role.facilitator, Role.reviewer])
def test_audit_log_is_for_admins_only(client, db, make_user, make_group, role):
    user = make_user(role, groups=[make_group()])
    db.session.commit()
    login(client, user, PASSWORD)
    assert client.get("/staff/audit").status_code == 403


def test_account_pages_read_in_spanish(client, db, make_user):
    admin = make_user(Role.admin)
    db.session.commit()
    login(client, admin, PASSWORD)
    html = client.get("/staff/accounts?lang=es").get_data(as_text=True)
    assert "Invitar a alguien" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 1


# --- layering ---------------------------------------------------------------------


@pytest.mark.parametrize("module", ["accounts", "scope", "findings"])
def test_account_and_scope_logic_does_not_import_the_web_layer(module):
    """The domain decides who sees what; the web layer only turns that into a 404."""
    import ast
    from pathlib import Path

    import voice

    source = Path(voice.__file__).parent / f"{module}.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {name for name in imported if name.startswith("voice.web")}
    assert not {name for name in imported if name in ("flask", "flask_login")}
