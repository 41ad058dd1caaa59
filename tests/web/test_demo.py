"""``voice demo`` loads a usable demo school and can be run again."""

from __future__ import annotations

import json

import sqlalchemy as sa

from voice.models import (
    AffinityGroup,
    Release,
    Response,
    Role,
    School,
    StaffUser,
    Survey,
    SurveyStatus,
)


def test_demo_runs_twice_and_leaves_one_complete_demo_school(runner, db):
    first = runner.invoke(args=["demo", "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["demo", "--json"])
    assert second.exit_code == 0, second.output

    logins = json.loads(second.output)["logins"]
    assert {login["role"] for login in logins} == {role.value for role in Role}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(School)) == 1
    groups = db.session.scalars(sa.select(AffinityGroup)).all()
    assert 4 <= len(groups) <= 5
    assert any(group.expected_size < 10 for group in groups)  # one group below k

    surveys = db.session.scalars(sa.select(Survey)).all()
    closed = [s for s in surveys if s.status is SurveyStatus.closed]
    assert len(closed) == 2 and any(s.status is SurveyStatus.open for s in surveys)
    for survey in closed:
        assert db.session.scalar(
            sa.select(Release).where(Release.survey_id == survey.id)
        )
    responses = db.session.scalar(sa.select(sa.func.count()).select_from(Response))
    assert responses >= 300
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 4
    assert json.loads(second.output)["student_link"].split("/s/")[1]


def test_demo_logins_work(runner, client):
    result = runner.invoke(args=["demo", "--json"])
    login = json.loads(result.output)["logins"][0]
    page = client.get("/staff/login")
    from tests.conftest import csrf_token

    response = client.post(
        "/staff/login",
        data={
            "email": login["email"],
            "password": login["password"],
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302


def test_demo_shows_a_whole_cycle_of_inquiry(runner, db):
    """A newcomer finds quotes, shared items and a leader's answer, not empty pages."""
    from voice import results
    from voice.models import Comment, Finding, LeaderAnswer, ModerationStatus

    assert runner.invoke(args=["demo"]).exit_code == 0
    approved = db.session.scalars(
        sa.select(Comment).where(Comment.moderation == ModerationStatus.approved)
    ).all()
    assert approved
    assert not any((c.flags or {}).get("categories") for c in approved)
    shared = db.session.scalars(
        sa.select(Finding).where(Finding.shared_at.is_not(None))
    ).all()
    assert {f.kind.value for f in shared} == {"finding", "recommendation"}
    assert any(f.leader_answer is LeaderAnswer.in_progress for f in shared)
    release = results.stored_release(db.session.get(Survey, shared[0].survey_id))
    assert any(theme.get("quotes") for theme in release.themes)
