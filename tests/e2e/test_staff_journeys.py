"""A facilitator moderates, reads and recommends; a leader reads the PDF and answers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import ARTIFACTS, LAPTOP
from tests.factories import PASSWORD
from tests.web.review_helpers import add_comments, make_wave, release_wave
from voice.models import Comment, Finding, LeaderAnswer, ModerationStatus, Role

pytestmark = pytest.mark.e2e
RECOMMENDATION = "Start a peer mentoring program for new students."


@pytest.fixture
def school(db, make_school, make_group, make_user):
    """A closed wave with a stored release, comments to moderate, and its people."""
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
    add_comments(survey, bsu)
    people = {
        "facilitator": make_user(Role.facilitator, school=school, groups=[bsu]),
        "leader": make_user(Role.leader, school=school),
    }
    db.session.commit()
    ids = {
        "survey": survey.id,
        "bsu": bsu.id,
        **{role: user.email for role, user in people.items()},
    }
    db.session.commit()  # reading the ids began a transaction: SQLite would stay locked
    return ids


def press(page_or_form, selector: str, page=None) -> None:
    """Press a submit button and wait for the page it leads to."""
    with (page or page_or_form).expect_navigation():
        page_or_form.locator(selector).first.click()


def sign_in(page, seen, email: str) -> None:
    """Sign in through the login page."""
    page.goto("/staff/login")
    seen.check("sign in")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', PASSWORD)
    press(page, 'button:has-text("Sign in")')
    assert "/staff/login" not in page.url, page.inner_text("main")[:300]


def test_facilitator_moderates_reads_and_shares_a_recommendation(db, visit, school):
    page, seen = visit("facilitator", LAPTOP)
    sign_in(page, seen, school["facilitator"])
    workspace = f"/review/surveys/{school['survey']}/groups/{school['bsu']}"

    page.goto(workspace)
    seen.check("workspace")
    press(page, "text=Moderate comments")
    seen.check("moderation queue")
    first = page.locator("form.decision").first
    first.locator('input[value="approved"]').check()
    press(first, 'button:has-text("Save")', page)
    seen.check("after approving")

    page.goto(workspace)
    body = page.inner_text("body")
    assert "Black Student Union" in body
    assert "61%" in body
    page.check('input[name="kind"][value="recommendation"]')
    page.fill('textarea[name="text"]', RECOMMENDATION)
    seen.check("recommendation written")
    press(page, 'button:has-text("Save as draft")')
    press(page, 'button:has-text("Share with leadership")')
    seen.check("recommendation shared")

    db.session.expire_all()
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Comment)
        .where(Comment.moderation == ModerationStatus.approved)
    )
    finding = db.session.scalar(sa.select(Finding))
    assert finding.text == RECOMMENDATION
    assert finding.shared_at is not None


def test_leader_downloads_the_pdf_and_answers_the_recommendation(
    db, visit, school, browser
):
    # The group shares first, in its own browser.
    group_page, group_seen = visit("leader-setup", LAPTOP)
    sign_in(group_page, group_seen, school["facilitator"])
    group_page.goto(f"/review/surveys/{school['survey']}/groups/{school['bsu']}")
    group_page.check('input[name="kind"][value="recommendation"]')
    group_page.fill('textarea[name="text"]', RECOMMENDATION)
    press(group_page, 'button:has-text("Save as draft")')
    press(group_page, 'button:has-text("Share with leadership")')

    page, seen = visit("leader", LAPTOP)
    sign_in(page, seen, school["leader"])
    page.goto(f"/review/surveys/{school['survey']}")
    seen.check("school overview")
    assert RECOMMENDATION in page.inner_text("body")

    href = page.get_attribute('a:has-text("PDF summary")', "href")
    pdf = page.request.get(href)
    assert pdf.status == 200
    assert pdf.headers["content-type"].startswith("application/pdf")
    body = pdf.body()
    assert body.startswith(b"%PDF")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "leader-summary.pdf").write_bytes(body)

    form = page.locator("form.answer-form").first
    form.locator('input[value="in_progress"]').check()
    form.locator("textarea").fill("Budget request filed for next year.")
    press(form, 'button:has-text("Save answer")', page)
    seen.check("recommendation answered")

    db.session.expire_all()
    finding = db.session.scalar(sa.select(Finding))
    assert finding.leader_answer is LeaderAnswer.in_progress
