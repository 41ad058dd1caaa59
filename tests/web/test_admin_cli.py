"""``voice surveys ...`` and ``voice codes``: the publishing functions from a terminal."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from voice.ballots import hash_code
from voice.models import AuditEvent, BallotCode, Survey, SurveyStatus


@pytest.fixture
def school(db, make_school, make_group):
    school = make_school(slug="lincoln", name="Lincoln High")
    make_group(school, name="Black Student Union", slug="bsu", expected_size=60)
    make_group(school, name="Native Student Circle", slug="nsc", expected_size=7)
    db.session.commit()
    return school


def _create(runner, *extra: str):
    return runner.invoke(
        args=[
            "surveys",
            "create",
            "--school",
            "lincoln",
            "--instrument",
            "affinity-pulse.v1",
            "--title",
            "Pulse",
            "--wave",
            "Fall 2026",
            "--group",
            "bsu",
            "--group",
            "nsc",
            "--json",
            *extra,
        ]
    )


def test_create_makes_a_draft_and_prints_it_as_json(runner, school, db):
    result = _create(runner)
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["status"] == "draft" and row["access"] == "codes" and row["k"] == 10
    survey = db.session.get(Survey, row["id"])
    assert {a.group.slug for a in survey.audiences} == {"bsu", "nsc"}
    event = db.session.scalar(sa.select(AuditEvent))
    assert event.action == "survey.create" and event.actor_email == "command line"


def test_create_refuses_k_below_five(runner, school, db):
    result = _create(runner, "--k", "4")
    assert result.exit_code != 0
    assert "k must be at least 5" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0


def test_create_refuses_an_unknown_group(runner, school):
    result = _create(runner, "--group", "chess-club")
    assert result.exit_code != 0 and "chess-club" in result.output


def test_list_and_links_print_json(runner, school, app):
    survey_id = json.loads(_create(runner, "--publish").output)["id"]
    listed = json.loads(runner.invoke(args=["surveys", "list", "--json"]).output)
    assert [(r["id"], r["status"], r["responses_rounded"]) for r in listed] == [
        (survey_id, "open", 0)
    ]
    result = runner.invoke(args=["surveys", "links", str(survey_id), "--json"])
    links = json.loads(result.output)
    assert [row["group"] for row in links] == ["bsu", "nsc"]
    assert all(row["link"].startswith(app.config["BASE_URL"] + "/s/") for row in links)


def test_codes_csv_prints_codes_whose_hashes_alone_are_stored(runner, school, db, app):
    survey_id = json.loads(_create(runner).output)["id"]
    result = runner.invoke(
        args=["codes", str(survey_id), "--group", "bsu", "--count", "30", "--csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 30 and {row["group"] for row in rows} == {"bsu"}
    stored = set(db.session.scalars(sa.select(BallotCode.code_hash)))
    secret = app.config["SECRET_KEY"]
    assert {hash_code(secret, survey_id, row["code"]) for row in rows} == stored
    assert not {row["code"] for row in rows} & stored


def test_codes_carry_at_least_60_random_bits(runner, school):
    from voice.ballots import ALPHABET, normalize_code

    survey_id = json.loads(_create(runner).output)["id"]
    result = runner.invoke(
        args=["codes", str(survey_id), "--group", "nsc", "--count", "200"]
    )
    codes = result.output.split()
    assert len(set(codes)) == 200
    bare = {normalize_code(code) for code in codes}
    length = {len(code) for code in bare}
    assert len(length) == 1 and all(set(code) <= set(ALPHABET) for code in bare)
    assert len(ALPHABET) ** length.pop() >= 2**60
    used = {symbol for code in bare for symbol in code}
    assert len(used) > 25  # a generator stuck on a few symbols would show here


def test_codes_are_refused_for_open_link_surveys(runner, school):
    survey_id = json.loads(_create(runner, "--access", "link").output)["id"]
    result = runner.invoke(
        args=["codes", str(survey_id), "--group", "bsu", "--count", "3"]
    )
    assert result.exit_code != 0 and "open links" in result.output


def test_publish_and_close_from_the_command_line(runner, school, db):
    survey_id = json.loads(_create(runner).output)["id"]
    assert runner.invoke(args=["surveys", "publish", str(survey_id)]).exit_code == 0
    result = runner.invoke(args=["surveys", "close", str(survey_id)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Survey, survey_id).status is SurveyStatus.closed
