"""The group workspace, the school overview, moderation, and the share/answer loop."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.factories import PASSWORD
from tests.web.review_helpers import (
    add_comments,
    isolate_requests,
    login,
    make_wave,
    release_wave,
)
from voice.extensions import db as _db
from voice.models import (
    AuditEvent,
    Comment,
    Finding,
    Language,
    ModerationStatus,
    Response,
    Role,
    SurveyStatus,
)

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _fresh_requests(app):
    isolate_requests(app)


@pytest.fixture
def school_setup(db, make_school, make_group, make_user):
    """A school with a released group (bsu), a withheld one (tiny), and its people."""
    school = make_school(support_resources={"counselor": "Ms. Patel, room 114"})
    bsu = make_group(school, slug="bsu", name="Black Student Union")
    tiny = make_group(school, slug="tiny", name="Tiny Circle")
    survey = make_wave(school, [bsu, tiny])
    release_wave(
        survey,
        {"school": 47, "group:bsu": 61, "group:tiny": None},
        changes={"group:bsu": 6},
        previous_wave="Fall 2026",
    )
    people = {
        "admin": make_user(Role.admin, school=school),
        "leader": make_user(Role.leader, school=school),
        "facilitator": make_user(Role.facilitator, school=school, groups=[bsu, tiny]),
        "reviewer": make_user(Role.reviewer, school=school, groups=[bsu, tiny]),
    }
    db.session.commit()
    return {"school": school, "survey": survey, "bsu": bsu, "tiny": tiny, **people}


def _workspace(s, group: str = "bsu") -> str:
    return f"/review/surveys/{s['survey'].id}/groups/{s[group].id}"


def _as(app, user):
    client = app.test_client()
    login(client, user, PASSWORD)
    return client


def _post(client, url: str, data: dict, page: str):
    html = client.get(page).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_token(html)})


# --- figures come from the release, and only after the wave closes --------------------


def test_open_wave_shows_its_status_and_no_figure(
    app, db, make_school, make_group, make_user
):
    school = make_school()
    group = make_group(school)
    survey = make_wave(school, [group], status=SurveyStatus.open)
    for _ in range(7):
        db.session.add(
            Response(survey_id=survey.id, group_id=group.id, language=Language.en)
        )
    admin = make_user(Role.admin, school=school)
    facilitator = make_user(Role.facilitator, school=school, groups=[group])
    db.session.commit()
    url = f"/review/surveys/{survey.id}/groups/{group.id}"
    seen_by_facilitator = _as(app, facilitator).get(url).get_data(as_text=True)
    assert "still open" in seen_by_facilitator
    assert (
        "%" not in seen_by_facilitator and "responses so far" not in seen_by_facilitator
    )
    seen_by_admin = _as(app, admin).get(url).get_data(as_text=True)
    assert "About 5 responses so far (rounded to 5)" in seen_by_admin
    assert "%" not in seen_by_admin


def test_workspace_shows_the_groups_released_figures_beside_the_school(
    app, school_setup
):
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    assert "61%" in html and "47%" in html
    assert "+6" in html  # the released change since the previous wave
    assert "Biggest gaps against the whole school" in html
    assert html.index('id="participation"') < html.index('id="headlines"')
    assert html.index('id="headlines"') < html.index('id="scales"')


def test_withheld_group_shows_only_the_marker_and_why(app, school_setup):
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup, "tiny"))
        .get_data(as_text=True)
    )
    assert '<span class="withheld">Withheld</span>' in html
    assert "fewer than 10 students answered" in html
    assert "61%" not in html  # no other group's figure leaks in
    assert "47%" in html  # the whole school stays readable


def test_pages_never_read_answers(app, school_setup):
    """Invariant 2: figures come from the stored release, never from answer rows."""
    statements: list[str] = []

    def remember(conn, cursor, statement, *args):
        statements.append(statement.lower())

    with app.app_context():
        engine = _db.engine
    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        reviewer = _as(app, school_setup["reviewer"])
        leader = _as(app, school_setup["leader"])
        statements.clear()
        assert reviewer.get(_workspace(school_setup)).status_code == 200
        assert (
            leader.get(f"/review/surveys/{school_setup['survey'].id}").status_code
            == 200
        )
        assert reviewer.get("/review/").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    assert statements
    assert not [
        s for s in statements if re.search(r"\bfrom answer\b|\bjoin answer\b", s)
    ]


def test_every_chart_is_valid_svg_with_a_title_and_description(app, school_setup):
    html = (
        _as(app, school_setup["leader"])
        .get(f"/review/surveys/{school_setup['survey'].id}")
        .get_data(as_text=True)
    )
    charts = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(charts) >= 3
    for markup in charts:
        root = ET.fromstring(markup)
        assert root.get("role") == "img"
        labelled = root.get("aria-labelledby", "").split()
        ids = {el.get("id"): el for el in root.iter() if el.get("id")}
        assert {ids[i].tag for i in labelled} == {f"{SVG}title", f"{SVG}desc"}
        assert all((ids[i].text or "").strip() for i in labelled)
    assert html.count('<details class="chart-table">') == len(charts)


def test_workspace_reads_in_spanish(app, school_setup):
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup, "tiny") + "?lang=es")
        .get_data(as_text=True)
    )
    assert '<span class="withheld">Reservado</span>' in html
    assert "Participación" in html


def test_viewing_results_is_audited(app, db, school_setup):
    _as(app, school_setup["reviewer"]).get(_workspace(school_setup))
    event = db.session.scalar(sa.select(AuditEvent).filter_by(action="results.view"))
    assert event.actor_id == school_setup["reviewer"].id
    assert event.target == f"survey:{school_setup['survey'].id}"
    assert event.detail == {"group": "bsu"}


# --- comments -----------------------------------------------------------------------


def test_reviewers_see_only_approved_comments_redacted(app, db, school_setup):
    comments = add_comments(school_setup["survey"], school_setup["bsu"])
    comments[1].moderation = ModerationStatus.approved  # the one with a phone number
    db.session.commit()
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    assert "if you want to talk about the club" in html
    assert "555-123-4567" not in html and "[phone]" in html
    assert "say our names right" not in html  # still pending


def test_comments_of_an_unreleased_group_are_shown_to_nobody(app, db, school_setup):
    add_comments(
        school_setup["survey"],
        school_setup["tiny"],
        moderation=ModerationStatus.approved,
    )
    db.session.commit()
    url = _workspace(school_setup, "tiny")
    for role in ("reviewer", "facilitator", "admin"):
        client = _as(app, school_setup[role])
        assert "say our names right" not in client.get(url).get_data(as_text=True)
    moderation = _as(app, school_setup["facilitator"]).get(url + "/moderation")
    assert "say our names right" not in moderation.get_data(as_text=True)


def test_comment_order_does_not_follow_the_order_they_were_written(
    app, db, school_setup
):
    survey, group = school_setup["survey"], school_setup["bsu"]
    texts = [f"Comment number {n:02d} about lunch" for n in range(12)]
    for text in texts:
        response = Response(
            survey_id=survey.id, group_id=group.id, language=Language.en
        )
        response.comments.append(
            Comment(
                item_key="open_anything_else",
                text=text,
                moderation=ModerationStatus.approved,
            )
        )
        db.session.add(response)
        db.session.flush()
    db.session.commit()
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    shown = re.findall(r"Comment number (\d\d)", html)
    assert sorted(shown) == [f"{n:02d}" for n in range(12)]
    assert shown not in (
        [f"{n:02d}" for n in range(12)],
        [f"{n:02d}" for n in range(11, -1, -1)],
    )


def test_facilitator_approves_and_hides_comments_with_a_note(app, db, school_setup):
    comments = add_comments(school_setup["survey"], school_setup["bsu"])
    db.session.commit()
    facilitator = _as(app, school_setup["facilitator"])
    url = _workspace(school_setup) + "/moderation"
    for comment, decision in ((comments[0], "approved"), (comments[3], "hidden")):
        response = _post(
            facilitator,
            url,
            {"comment_id": str(comment.id), "decision": decision, "note": "checked"},
            page=url,
        )
        assert response.status_code == 302
    db.session.expire_all()
    assert comments[0].moderation is ModerationStatus.approved
    assert comments[3].moderation is ModerationStatus.hidden
    assert comments[3].moderation_note == "checked"
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.action.like("comment%"))
    ).all()
    assert actions.count("comment.approved") == actions.count("comment.hidden") == 1
    assert "comments.view" in actions  # reading the queue is logged too


def test_moderation_shows_at_risk_flags_with_the_schools_support(app, db, school_setup):
    add_comments(school_setup["survey"], school_setup["bsu"])
    db.session.commit()
    html = (
        _as(app, school_setup["facilitator"])
        .get(_workspace(school_setup) + "/moderation")
        .get_data(as_text=True)
    )
    assert html.count("May be at risk") == 1
    assert "Ms. Patel, room 114" in html


def test_comment_from_another_group_cannot_be_moderated(app, db, school_setup):
    other = add_comments(school_setup["survey"], school_setup["tiny"])
    db.session.commit()
    url = _workspace(school_setup) + "/moderation"
    response = _post(
        _as(app, school_setup["facilitator"]),
        url,
        {"comment_id": str(other[0].id), "decision": "approved"},
        page=url,
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert other[0].moderation is ModerationStatus.pending


# --- findings, sharing, answers -----------------------------------------------------


def _add(client, s, text: str, kind: str = "recommendation", **extra) -> Finding:
    url = _workspace(s)
    response = _post(
        client,
        url + "/findings",
        {"kind": kind, "text": text, "audience": "Leadership", **extra},
        page=url,
    )
    assert response.status_code == 302
    return _db.session.scalar(sa.select(Finding).filter_by(text=text))


def test_nothing_reaches_leaders_until_the_group_shares_it(app, db, school_setup):
    reviewer = _as(app, school_setup["reviewer"])
    leader = _as(app, school_setup["leader"])
    overview = f"/review/surveys/{school_setup['survey'].id}"
    finding = _add(reviewer, school_setup, "Start a peer mentoring program.")
    assert "peer mentoring" not in leader.get(overview).get_data(as_text=True)
    response = _post(
        reviewer,
        f"{_workspace(school_setup)}/findings/{finding.id}",
        {"action": "share"},
        page=_workspace(school_setup),
    )
    assert response.status_code == 302
    assert "peer mentoring" in leader.get(overview).get_data(as_text=True)


def test_leader_answers_a_shared_recommendation_and_the_group_sees_it(
    app, db, school_setup
):
    reviewer = _as(app, school_setup["reviewer"])
    finding = _add(reviewer, school_setup, "Hire a second counselor.")
    _post(
        reviewer,
        f"{_workspace(school_setup)}/findings/{finding.id}",
        {"action": "share"},
        page=_workspace(school_setup),
    )
    overview = f"/review/surveys/{school_setup['survey'].id}"
    response = _post(
        _as(app, school_setup["leader"]),
        f"{overview}/findings/{finding.id}/answer",
        {"answer": "in_progress", "note": "Budget request filed for next year."},
        page=overview,
    )
    assert response.status_code == 302
    html = reviewer.get(_workspace(school_setup)).get_data(as_text=True)
    assert "In progress" in html and "Budget request filed" in html
    actions = db.session.scalars(
        sa.select(AuditEvent.action)
        .where(AuditEvent.action.like("finding.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["finding.add", "finding.share", "finding.answer"]


def test_a_draft_cannot_be_answered(app, db, school_setup):
    finding = _add(_as(app, school_setup["reviewer"]), school_setup, "A draft idea.")
    overview = f"/review/surveys/{school_setup['survey'].id}"
    response = _post(
        _as(app, school_setup["leader"]),
        f"{overview}/findings/{finding.id}/answer",
        {"answer": "accepted"},
        page=overview,
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert finding.leader_answer is None


def test_shared_items_cannot_be_deleted(app, db, school_setup):
    reviewer = _as(app, school_setup["reviewer"])
    finding = _add(reviewer, school_setup, "Keep this one.", kind="finding")
    url = f"{_workspace(school_setup)}/findings/{finding.id}"
    _post(reviewer, url, {"action": "share"}, page=_workspace(school_setup))
    _post(reviewer, url, {"action": "delete"}, page=_workspace(school_setup))
    assert db.session.get(Finding, finding.id) is not None


def test_past_recommendations_show_their_answer_and_the_change_since(
    app, db, make_user, school_setup
):
    from datetime import UTC, datetime, timedelta

    school, bsu = school_setup["school"], school_setup["bsu"]
    fall = make_wave(
        school,
        [bsu],
        wave_label="Fall 2026",
        closes_at=datetime.now(UTC) - timedelta(days=120),
    )
    release_wave(fall, {"school": 44, "group:bsu": 55})
    db.session.add(
        Finding(
            survey_id=fall.id,
            group_id=bsu.id,
            kind="recommendation",
            text="Teach staff to say our names.",
            figure_key="scale:belonging",
            shared_at=fall.closes_at,
            leader_answer="accepted",
            leader_note="Done in August.",
        )
    )
    db.session.commit()
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    past = html[html.index('id="past"') :]
    assert "Teach staff to say our names." in past
    assert "Accepted" in past and "Done in August." in past
    assert (
        'Belonging: <span data-figure="group:bsu#scale:belonging#fav">61%</span>'
        in past
    )
    assert "+6" in past


def test_an_empty_finding_is_refused_and_the_rest_of_the_form_is_kept(
    app, db, school_setup
):
    reviewer = _as(app, school_setup["reviewer"])
    url = _workspace(school_setup)
    response = _post(
        reviewer,
        url + "/findings",
        {"kind": "recommendation", "text": "   ", "audience": "Counselors"},
        page=url,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="error"' in html and 'value="Counselors"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Finding)) == 0


def test_leaders_read_approved_comments_of_released_groups_only(app, db, school_setup):
    released = add_comments(school_setup["survey"], school_setup["bsu"])
    released[3].moderation = ModerationStatus.approved
    add_comments(
        school_setup["survey"],
        school_setup["tiny"],
        moderation=ModerationStatus.approved,
    )
    db.session.commit()
    html = (
        _as(app, school_setup["leader"])
        .get(f"/review/surveys/{school_setup['survey'].id}")
        .get_data(as_text=True)
    )
    assert html.count("The counselor really helped me this year.") == 1
    assert "say our names right" not in html  # pending in bsu, unreleased in tiny


def test_categorical_answers_are_compared_one_by_one_not_stacked(app, school_setup):
    """Shares of a question where several answers may be chosen can pass 100%."""
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    chart = re.search(r'<svg[^>]*id="d-item-safety_bullied".*?</svg>', html, re.S)
    assert 'class="chart chart-comparison"' in chart.group(0)
    overview = (
        _as(app, school_setup["leader"])
        .get(f"/review/surveys/{school_setup['survey'].id}")
        .get_data(as_text=True)
    )
    assert 'id="d-item-safety_bullied"' not in overview  # a table says it all
    assert re.search(
        r'<th scope="row">Yes</th><td class="num">'
        r'<span data-figure="school#item:safety_bullied#o=[^"]+">23%</span></td>',
        overview,
    )


# --- the test harness itself ----------------------------------------------------------


def test_each_request_gets_its_own_g_and_database_session(app, db):
    """The tests above would prove little if requests shared the test's context."""
    from flask import g

    seen = []

    @app.get("/_probe")
    def probe():
        seen.append((getattr(g, "leftover", None), _db.session()))
        g.leftover = "from a request"
        return ""

    g.leftover = "from the test"
    client = app.test_client()
    client.get("/_probe")
    client.get("/_probe")
    assert [leftover for leftover, _ in seen] == [None, None]
    sessions = [session for _, session in seen]
    assert sessions[0] is not sessions[1]
    assert _db.session() not in sessions


def test_each_scale_and_item_shows_its_gap_to_the_school_in_points(app, school_setup):
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    scales = html[html.index('id="scales"') :]
    # bsu 61% against the school's 47%: every scale and item of the release.
    rows = re.findall(r"Gap to the school</th>\s*<td[^>]*>([^<]*)</td>", scales)
    assert len(rows) == 5  # 2 scales + 3 items with a % favorable
    assert {row.split()[0] for row in rows} == {"+14"}


def test_a_withheld_groups_gap_shows_the_marker(app, school_setup):
    html = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup, "tiny"))
        .get_data(as_text=True)
    )
    scales = html[html.index('id="scales"') :]
    gaps = re.findall(r"Gap to the school</th>\s*<td[^>]*>(.*?)</td>", scales, re.S)
    assert gaps and all('<span class="withheld">Withheld</span>' in g for g in gaps)


@pytest.mark.parametrize("who", ["reviewer", "facilitator", "leader"])
def test_results_pages_carry_no_inline_style_the_csp_would_block(
    app, db, school_setup, who
):
    add_comments(school_setup["survey"], school_setup["bsu"])
    db.session.commit()
    client = _as(app, school_setup[who])
    overview = f"/review/surveys/{school_setup['survey'].id}"
    pages = (
        [overview]
        if who == "leader"
        else [_workspace(school_setup), _workspace(school_setup) + "/moderation"]
    )
    for url in pages:
        response = client.get(url)
        if response.status_code == 403:
            continue  # a reviewer does not moderate
        html = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "<svg" in html or "moderation" in url
        assert not re.search(r"<[a-zA-Z][^>]*\sstyle=", html), url
        assert "<style" not in html, url


def test_a_facilitator_is_told_how_many_comments_wait_for_a_decision(
    app, db, school_setup
):
    add_comments(school_setup["survey"], school_setup["bsu"])
    db.session.commit()
    seen = (
        _as(app, school_setup["facilitator"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    assert "4 comments are waiting for your decision" in seen
    by_reviewer = (
        _as(app, school_setup["reviewer"])
        .get(_workspace(school_setup))
        .get_data(as_text=True)
    )
    assert "waiting for your decision" not in by_reviewer
