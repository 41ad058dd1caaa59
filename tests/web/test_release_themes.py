"""Comment themes in the release: computed at close, quoted after moderation, shown.

A real pulse wave is closed through ``results.close_wave``, with comments on three
topics, one naming a teacher with an email, one at-risk disclosure and one slur, so
every theme and quote on a page or in a PDF comes the way production makes it.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.factories import PASSWORD
from tests.privacy_attacks.seed import SURVEYS, make_wave
from tests.unit.report_data import pdf_text
from tests.web.review_helpers import isolate_requests, login
from voice import release_themes, results
from voice.instruments import load_instrument
from voice.models import (
    AuditEvent,
    Comment,
    ModerationStatus,
    Release,
    Response,
    Role,
    ThemeOverride,
)
from voice.release import canonical_json

PULSE = load_instrument(SURVEYS / "affinity-pulse.v1.yaml")
ITEM = "pulse_open_next_step"
#: alpha and bravo are released (k = 10); charlie and delta are withheld.
SIZES = {"alpha": 45, "bravo": 14, "charlie": 7, "delta": 8}

TOPICS = {
    "lunch": (
        [
            "The lunch line is so long that",
            "Honestly at lunch",
            "In the cafeteria",
        ],
        [
            "we only get twenty minutes to eat our food.",
            "the food runs out before the last grade even gets served.",
            "there are never enough tables so people eat on the floor.",
            "the cafeteria food is cold and the portions are tiny.",
            "we need more time to eat lunch and more healthy options.",
        ],
    ),
    "teachers": (
        ["Some teachers", "A lot of my teachers", "The teachers here"],
        [
            "never learn how to pronounce our names even after we correct them.",
            "only call on the students who already have good grades.",
            "treat us like we are trouble before we even say anything.",
            "should ask students how we are doing and not just about homework.",
            "give detentions to our group for things others get away with.",
        ],
    ),
    "clubs": (
        ["After school", "Our club meetings", "The student clubs"],
        [
            "clubs are the only place I feel like I belong at this school.",
            "need a real room and a budget, we meet in a hallway.",
            "should get announced so new students know they exist.",
            "are cancelled whenever the gym is needed for sports.",
            "help freshmen find friends, please fund more of them.",
        ],
    ),
}
NAMED = (
    "In the cafeteria Mr. Johnson yells about lunch, email him at "
    "jsmith@lincoln-high.org and Maria Lopez saw it too."
)
AT_RISK = "In the cafeteria I eat alone and sometimes I want to kill myself."
SLUR = "At lunch the kids in the line call me a fag every single day."


def _sentences() -> dict[str, list[str]]:
    return {
        topic: [f"{a} {b}" for b, a in itertools.product(ends, starts)]
        for topic, (starts, ends) in TOPICS.items()
    }


@pytest.fixture(autouse=True)
def _fresh_requests(app):
    isolate_requests(app)


@pytest.fixture
def themed(db, make_user):
    """A closed pulse wave whose responses carry comments, and its people."""
    seeded = make_wave(instrument=PULSE, sizes=SIZES)
    seeded.school.redaction_names = ["Maria Lopez"]
    sentences = _sentences()
    texts = {
        "alpha": [NAMED, AT_RISK, SLUR]
        + sentences["lunch"][:12]
        + sentences["teachers"][:15]
        + sentences["clubs"][:15],
        "bravo": [
            "Also, " + s for s in sentences["clubs"][:7] + sentences["teachers"][:7]
        ],
        "charlie": ["Charlie group only: " + s for s in sentences["lunch"][:7]],
        "delta": ["Delta group only: " + s for s in sentences["lunch"][:8]],
    }
    for slug, group in seeded.groups.items():
        responses = db.session.scalars(
            sa.select(Response).where(
                Response.survey_id == seeded.survey.id, Response.group_id == group.id
            )
        ).all()
        for response, text in zip(responses, texts[slug], strict=True):
            response.comments.append(Comment(item_key=ITEM, text=text))
    db.session.flush()
    results.close_wave(seeded.survey)
    people = {
        "admin": make_user(Role.admin, school=seeded.school),
        "facilitator": make_user(
            Role.facilitator, school=seeded.school, groups=[seeded.groups["alpha"]]
        ),
        "reviewer": make_user(
            Role.reviewer, school=seeded.school, groups=[seeded.groups["alpha"]]
        ),
        "other_facilitator": make_user(
            Role.facilitator, school=seeded.school, groups=[seeded.groups["bravo"]]
        ),
    }
    db.session.commit()
    return {"seeded": seeded, "survey": seeded.survey, **people, **seeded.groups}


def _release(w):
    return results.stored_release(w["survey"])


def _themes(w, population: str | None = None):
    return [
        t
        for t in _release(w).themes
        if population is None or t["population"] == population
    ]


def _comments(db, w, group: str | None = None) -> list[Comment]:
    query = (
        sa.select(Comment)
        .join(Response, Comment.response_id == Response.id)
        .where(Response.survey_id == w["survey"].id)
    )
    if group:
        query = query.where(Response.group_id == w[group].id)
    return list(db.session.scalars(query))


def _approve_all(db, w, group: str = "alpha") -> None:
    for comment in _comments(db, w, group):
        comment.moderation = ModerationStatus.approved
    db.session.commit()


def _as(app, user):
    client = app.test_client()
    login(client, user, PASSWORD)
    return client


def _workspace(w, group: str = "alpha") -> str:
    return f"/review/surveys/{w['survey'].id}/groups/{w[group].id}"


def _change(app, user, w, group: str = "alpha", **data):
    client = _as(app, user)
    page = client.get(_workspace(w, group)).get_data(as_text=True)
    return client.post(
        _workspace(w, group) + "/themes",
        data={**data, "csrf_token": csrf_token(page)},
    )


def _versions(db, w) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).where(Release.survey_id == w["survey"].id)
    )


def _quotes(themes) -> list[str]:
    return [q["text"] for t in themes for q in t["quotes"]]


# --- what closing a wave stores --------------------------------------------------------


def test_closing_a_wave_stores_themes_of_the_school_and_released_groups_only(themed):
    release = _release(themed)
    released = {p.key for p in release.populations if p.participation is not None}
    assert {"school", "group:alpha", "group:bravo"} <= released
    assert not {"group:charlie", "group:delta"} & released
    populations = {t["population"] for t in _themes(themed)}
    assert populations == {"school", "group:alpha", "group:bravo"}
    # The withheld groups' words reach no theme, not even the school's.
    text = canonical_json(list(release.themes)).lower()
    assert "charlie" not in text and "delta" not in text


def test_theme_sizes_are_rounded_and_themes_below_k_fold_into_other(themed):
    k = _release(themed).k
    for population in ("school", "group:alpha", "group:bravo"):
        shown = _themes(themed, population)
        assert shown, population
        others = [t for t in shown if t["other"]]
        assert len(others) <= 1 and (not others or shown[-1]["other"])
        for theme in shown:
            if theme["size"] is None:
                assert theme["other"]  # only "Other comments" can be withheld
                continue
            assert int(theme["size"]) % 5 == 0 and int(theme["size"]) >= k
            if theme["other"]:
                assert theme["quotes"] == [] and theme["parts"][0]["candidates"] == []


def test_nothing_is_quoted_before_a_facilitator_approves_it(themed):
    assert _quotes(_themes(themed)) == []
    assert all(t["parts"][0]["candidates"] for t in _themes(themed) if not t["other"])


def test_closing_stores_each_comment_redacted_masked_and_flagged(db, themed):
    by_original = {c.text: c for c in _comments(db, themed)}
    named = by_original[NAMED].redacted_text
    assert "Johnson" not in named and "jsmith" not in named and "Maria" not in named
    assert "[name]" in named and "[email]" in named
    assert by_original[AT_RISK].flags["categories"] == ["self_harm"]
    assert "fag" not in by_original[SLUR].redacted_text
    assert "f***" in by_original[SLUR].redacted_text
    assert by_original[SLUR].flags["bias"] == 1


def test_labels_never_show_a_slur_or_a_placeholder(themed):
    for theme in _themes(themed):
        label = theme["label"]["en"].lower()
        assert "fag" not in label and "[" not in label


# --- moderation and the immutable release ----------------------------------------------


def test_publishing_quotes_shows_approved_comments_only_never_at_risk_ones(
    app, db, themed
):
    approved = _comments(db, themed, "alpha")[::2]
    for comment in approved:
        comment.moderation = ModerationStatus.approved
    db.session.commit()
    before = _release(themed)
    response = _change(app, themed["facilitator"], themed, action="quotes")
    assert response.status_code == 302
    after = _release(themed)
    assert after.sha256 != before.sha256 and _versions(db, themed) == 2
    # Every figure is carried over unchanged; only the themes differ.
    assert after.cells == before.cells and after.populations == before.populations
    quoted = _quotes(after.themes)
    assert quoted
    allowed = {c.redacted_text for c in approved if not c.flags["categories"]}
    assert set(quoted) <= allowed
    assert all(len(t["quotes"]) <= 3 for t in after.themes)
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "themes.publish")
    )
    assert event is not None and event.actor_id == themed["facilitator"].id


def test_an_approved_at_risk_comment_is_never_quoted(app, db, themed):
    _approve_all(db, themed)
    release_themes.republish(themed["survey"], actor=None, reason="test")
    db.session.commit()
    risky = next(c for c in _comments(db, themed) if c.text == AT_RISK)
    assert risky.redacted_text not in _quotes(_themes(themed))
    ref = release_themes.comment_ref(risky.id)
    assert ref not in canonical_json(list(_release(themed).themes))


def test_hiding_a_quoted_comment_withdraws_it_in_the_same_commit(app, db, themed):
    _approve_all(db, themed)
    release_themes.republish(themed["survey"], actor=None, reason="test")
    db.session.commit()
    quoted = _themes(themed, "group:alpha")[0]["quotes"][0]["text"]
    comment = next(c for c in _comments(db, themed) if c.redacted_text == quoted)
    client = _as(app, themed["facilitator"])
    page = f"{_workspace(themed)}/moderation"
    html = client.get(page).get_data(as_text=True)
    response = client.post(
        page,
        data={
            "comment_id": str(comment.id),
            "decision": "hidden",
            "note": "",
            "csrf_token": csrf_token(html),
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert quoted not in _quotes(_themes(themed))
    assert _versions(db, themed) == 3
    workspace = client.get(_workspace(themed)).get_data(as_text=True)
    assert quoted not in workspace


def test_the_workspace_offers_to_update_quotes_only_when_approvals_change_them(
    app, db, themed
):
    page = _as(app, themed["facilitator"]).get(_workspace(themed))
    assert "Update the quotes" not in page.get_data(as_text=True)
    _approve_all(db, themed)
    html = _as(app, themed["facilitator"]).get(_workspace(themed)).get_data(True)
    assert "Update the quotes" in html
    assert _versions(db, themed) == 1  # reading a page never publishes anything


# --- the workspace ---------------------------------------------------------------------


def test_the_workspace_shows_the_groups_themes_with_sizes_and_quotes(app, db, themed):
    _approve_all(db, themed)
    release_themes.republish(themed["survey"], actor=None, reason="test")
    db.session.commit()
    html = _as(app, themed["reviewer"]).get(_workspace(themed)).get_data(as_text=True)
    section = html[html.index('id="themes"') : html.index('id="comments"')]
    for theme in _themes(themed, "group:alpha"):
        assert theme["label"]["en"].split(",")[0] in section
        for quote in theme["quotes"]:
            assert quote["text"].replace("'", "&#39;") in section
    assert "About " in section and " comments" in section
    assert "Rename or merge" not in section  # reviewers read, facilitators change
    # Nothing of another group's themes.
    for theme in _themes(themed, "group:bravo"):
        for part in theme["parts"]:
            assert part["key"] not in section


def test_the_themes_read_in_spanish(app, themed):
    html = _as(app, themed["facilitator"]).get(_workspace(themed) + "?lang=es")
    text = html.get_data(as_text=True)
    assert "Temas en los comentarios de su grupo" in text
    assert "Unos " in text and "Renombrar o unir" in text


def test_a_withheld_group_shows_no_theme(app, db, themed, make_user):
    facilitator = make_user(
        Role.facilitator, school=themed["seeded"].school, groups=[themed["charlie"]]
    )
    db.session.commit()
    html = _as(app, facilitator).get(_workspace(themed, "charlie")).get_data(True)
    assert "Themes are shown only when your group" in html
    assert "Charlie group only" not in html


# --- rename and merge ------------------------------------------------------------------


def test_a_facilitator_renames_a_theme_and_the_pdf_shows_the_new_name(app, db, themed):
    key = _themes(themed, "group:alpha")[0]["key"]
    response = _change(
        app,
        themed["facilitator"],
        themed,
        action="rename",
        theme_key=key,
        label="Lunch is too short",
    )
    assert response.status_code == 302
    renamed = next(t for t in _themes(themed) if t["key"] == key)
    assert renamed["label"] == {"en": "Lunch is too short", "es": "Lunch is too short"}
    assert db.session.scalar(sa.select(ThemeOverride.label)) == "Lunch is too short"
    client = _as(app, themed["reviewer"])
    assert "Lunch is too short" in client.get(_workspace(themed)).get_data(True)
    pdf = client.get(_workspace(themed) + "/summary.pdf")
    assert pdf.status_code == 200
    assert "Lunch is too short" in " ".join(pdf_text(pdf.data).split())


def test_merging_two_themes_adds_their_released_sizes_and_reset_undoes_it(
    app, db, themed
):
    first, second = [t for t in _themes(themed, "group:alpha") if not t["other"]][:2]
    _change(
        app,
        themed["facilitator"],
        themed,
        action="merge",
        theme_key=second["key"],
        into=first["key"],
    )
    merged = [t for t in _themes(themed, "group:alpha") if t["key"] == first["key"]]
    assert len(merged) == 1 and merged[0]["merged"] == [second["key"]]
    assert int(merged[0]["size"]) == int(first["size"]) + int(second["size"])
    assert second["key"] not in {t["key"] for t in _themes(themed)}
    _change(app, themed["facilitator"], themed, action="reset", theme_key=first["key"])
    keys = {t["key"] for t in _themes(themed, "group:alpha")}
    assert {first["key"], second["key"]} <= keys


def test_a_theme_of_another_group_or_a_reviewer_cannot_change_themes(app, db, themed):
    bravo_key = _themes(themed, "group:bravo")[0]["key"]
    # The alpha facilitator names a bravo theme through the alpha page: refused.
    _change(
        app,
        themed["facilitator"],
        themed,
        action="rename",
        theme_key=bravo_key,
        label="Taken over",
    )
    assert "Taken over" not in canonical_json(list(_release(themed).themes))
    # bravo's page is not theirs at all, and reviewers may not change themes.
    client = _as(app, themed["facilitator"])
    html = client.get(_workspace(themed)).get_data(as_text=True)
    response = client.post(
        _workspace(themed, "bravo") + "/themes",
        data={"action": "quotes", "csrf_token": csrf_token(html)},
    )
    assert response.status_code == 404
    response = _change(app, themed["reviewer"], themed, action="quotes")
    assert response.status_code == 403
    assert _versions(db, themed) == 1


def test_a_rename_carries_over_to_the_next_wave_of_the_survey(app, db, themed):
    alpha = _themes(themed, "group:alpha")
    clubs = next(t for t in alpha if "club" in t["label"]["en"])
    _change(
        app,
        themed["facilitator"],
        themed,
        action="rename",
        theme_key=clubs["key"],
        label="Clubs need support",
    )
    later = themed["survey"].closes_at + timedelta(days=90)
    seeded = themed["seeded"]
    nxt = make_wave(
        school=seeded.school,
        instrument=PULSE,
        sizes=SIZES,
        closes_at=later,
        wave_label="Spring 2027",
        seed=3,
    )
    sentences = _sentences()
    mix = sentences["lunch"] + sentences["teachers"] + sentences["clubs"]
    responses = db.session.scalars(
        sa.select(Response).where(
            Response.survey_id == nxt.survey.id,
            Response.group_id == nxt.groups["alpha"].id,
        )
    ).all()
    for response, text in zip(responses, mix, strict=True):
        response.comments.append(Comment(item_key=ITEM, text=text))
    db.session.flush()
    results.close_wave(nxt.survey)
    db.session.commit()
    labels = [
        t["label"]["en"]
        for t in results.stored_release(nxt.survey).themes
        if t["population"] == "group:alpha"
    ]
    assert "Clubs need support" in labels


def test_every_theme_change_is_audited(app, db, themed):
    key = _themes(themed, "group:alpha")[0]["key"]
    _change(
        app, themed["facilitator"], themed, action="rename", theme_key=key, label="X"
    )
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"theme.rename", "themes.publish"} <= actions


# --- privacy ---------------------------------------------------------------------------

ALLOWED_KEYS = {
    "key",
    "population",
    "label",
    "renamed",
    "keywords",
    "size",
    "sentiment",
    "language",
    "other",
    "engine",
    "merged",
    "quotes",
    "parts",
}


def test_themes_carry_no_demographic_detail_and_no_database_key(db, themed):
    _approve_all(db, themed)
    release_themes.republish(themed["survey"], actor=None, reason="test")
    db.session.commit()
    text = canonical_json(list(_release(themed).themes))
    assert "dim:" not in text
    for dimension in PULSE.dimensions:
        assert f'"{dimension.key}' not in text
    for comment in _comments(db, themed):
        assert str(comment.id) not in text and comment.id.hex not in text
    for theme in _themes(themed):
        assert set(theme) == ALLOWED_KEYS
        for quote in theme["quotes"]:
            assert set(quote) == {"ref", "text"}
        assert theme["population"] in {"school", "group:alpha", "group:bravo"}
        assert re.fullmatch(r"(school|group:[a-z]+)/(\d+|other)", theme["key"])
