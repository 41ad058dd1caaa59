"""CSV and JSON downloads of a release, and the release layer's commands.

The wave uses the short affinity-pulse instrument so a release builds in about a
second; the privacy attacks in tests/privacy_attacks/ use richer data.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.privacy_attacks.seed import SURVEYS, make_wave
from tests.web.admin_helpers import login
from voice import results
from voice.instruments import load_instrument
from voice.models import AuditEvent, Release, Role, SurveyStatus
from voice.release import WITHHELD_TOKEN

SIZES = {"alpha": 30, "bravo": 12, "charlie": 7}


@pytest.fixture
def pulse_wave(db):
    """A closed pulse wave with groups of 30, 12 and 7."""
    instrument = load_instrument(SURVEYS / "affinity-pulse.v1.yaml")
    seeded = make_wave(instrument=instrument, sizes=SIZES)
    results.close_wave(seeded.survey)
    db.session.commit()
    return seeded


def url(seeded, fmt: str = "csv") -> str:
    return f"/exports/surveys/{seeded.survey.id}/release.{fmt}"


def rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_signed_out_visitors_are_sent_to_sign_in(client, pulse_wave):
    response = client.get(url(pulse_wave))
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


def test_an_admin_downloads_every_population_and_it_is_not_cached(
    client, make_user, pulse_wave
):
    login(client, make_user(Role.admin, school=pulse_wave.school))
    response = client.get(url(pulse_wave))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "no-store" in response.headers["Cache-Control"]
    assert "attachment" in response.headers["Content-Disposition"]
    populations = {row["population"] for row in rows(response)}
    assert populations == {"school", "group:alpha", "group:bravo", "group:charlie"}


def test_a_facilitator_sees_their_group_and_the_school_only(
    client, make_user, pulse_wave
):
    group = pulse_wave.groups["bravo"]
    login(client, make_user(Role.facilitator, school=pulse_wave.school, groups=[group]))
    csv_rows = rows(client.get(url(pulse_wave)))
    assert {row["population"] for row in csv_rows} == {"school", "group:bravo"}
    data = client.get(url(pulse_wave, "json")).get_json()
    assert set(data["cells"]) == {"school", "group:bravo"}
    assert {p["key"] for p in data["populations"]} == {"school", "group:bravo"}


def test_staff_of_another_school_get_a_404(client, make_user, make_school, pulse_wave):
    login(client, make_user(Role.admin, school=make_school()))
    assert client.get(url(pulse_wave)).status_code == 404


def test_a_facilitator_of_a_group_outside_the_wave_gets_a_404(
    client, make_user, make_group, pulse_wave
):
    other = make_group(school=pulse_wave.school)
    login(client, make_user(Role.facilitator, school=pulse_wave.school, groups=[other]))
    assert client.get(url(pulse_wave)).status_code == 404


def test_an_open_wave_has_nothing_to_download(client, make_user, db):
    instrument = load_instrument(SURVEYS / "affinity-pulse.v1.yaml")
    seeded = make_wave(instrument=instrument, sizes=SIZES)
    db.session.commit()
    login(client, make_user(Role.admin, school=seeded.school))
    assert client.get(url(seeded)).status_code == 404
    assert client.get(url(seeded, "json")).status_code == 404


def test_an_unknown_format_is_a_404(client, make_user, pulse_wave):
    login(client, make_user(Role.admin, school=pulse_wave.school))
    assert client.get(url(pulse_wave, "xlsx")).status_code == 404


def test_csv_and_json_withhold_exactly_the_same_figures(client, make_user, pulse_wave):
    login(client, make_user(Role.leader, school=pulse_wave.school))
    csv_withheld = {
        (row["population"], row["measure"], row["figure"])
        for row in rows(client.get(url(pulse_wave)))
        if row["value"] == WITHHELD_TOKEN
    }
    data = client.get(url(pulse_wave, "json")).get_json()
    json_withheld = set()
    for population in data["populations"]:
        if population["participation"] is None:
            json_withheld.add((population["key"], "participation", "n"))
    for key, row in data["cells"].items():
        for measure, cell in row.items():
            if cell["n"] is None:
                json_withheld.add((key, measure, "n"))
            if cell["favorable"] is None:
                json_withheld.add((key, measure, "favorable"))
            if cell["mean"] is None:
                json_withheld.add((key, measure, "mean"))
            for value, share in cell["distribution"]:
                if share is None:
                    json_withheld.add((key, measure, f"option:{value}"))
    assert csv_withheld
    assert csv_withheld == json_withheld


def test_query_strings_cannot_lower_k_or_ask_for_raw_figures(
    client, make_user, pulse_wave
):
    login(client, make_user(Role.admin, school=pulse_wave.school))
    plain = client.get(url(pulse_wave)).get_data()
    for query in ("k=1", "min_n=0", "raw=1", "k=1&raw=1&min_cell=0&suppress=0"):
        assert client.get(f"{url(pulse_wave)}?{query}").get_data() == plain


def test_every_download_is_written_to_the_audit_log(client, make_user, db, pulse_wave):
    login(client, make_user(Role.admin, school=pulse_wave.school))
    client.get(url(pulse_wave, "json"))
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "release.export")
    )
    assert event is not None and event.detail["format"] == "json"


def test_the_export_command_writes_the_same_csv_as_the_download(
    client, runner, make_user, pulse_wave, tmp_path
):
    login(client, make_user(Role.admin, school=pulse_wave.school))
    served = client.get(url(pulse_wave)).get_data()
    target = tmp_path / "release.csv"
    args = ["export", str(pulse_wave.survey.id), "--format", "csv", "--output"]
    result = runner.invoke(args=[*args, str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == served


def test_the_export_command_refuses_a_wave_without_a_release(runner, db):
    instrument = load_instrument(SURVEYS / "affinity-pulse.v1.yaml")
    seeded = make_wave(instrument=instrument, sizes={"alpha": 12})
    db.session.commit()
    result = runner.invoke(args=["export", seeded.survey.slug, "--format", "json"])
    assert result.exit_code != 0
    assert "no release" in result.output


def test_close_due_closes_ended_waves_and_leaves_open_ones(runner, db):
    instrument = load_instrument(SURVEYS / "affinity-pulse.v1.yaml")
    ended = make_wave(
        instrument=instrument,
        sizes={"alpha": 15},
        closes_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    running = make_wave(instrument=instrument, sizes={"alpha": 15}, school=ended.school)
    db.session.commit()
    result = runner.invoke(args=["close-due"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert ended.survey.status is SurveyStatus.closed
    assert running.survey.status is SurveyStatus.open
    stored = db.session.scalars(sa.select(Release.survey_id)).all()
    assert stored == [ended.survey.id]
    assert json.loads(json.dumps(results.stored_release(ended.survey).to_json()))


def test_the_reseal_command_reseals_open_waves_only_when_due(runner, db):
    instrument = load_instrument(SURVEYS / "affinity-pulse.v1.yaml")
    seeded = make_wave(instrument=instrument, sizes={"alpha": 5})
    db.session.commit()
    assert "Resealed 1" in runner.invoke(args=["reseal"]).output
    assert "Resealed 0" in runner.invoke(args=["reseal"]).output
    db.session.expire_all()
    assert seeded.survey.resealed_at is not None
