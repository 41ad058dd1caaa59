"""Leadership PDFs over HTTP and from the command line, and their delivery by email.

Waves here carry the small hand-made release of ``tests/unit/report_data.py``, stored
as ``results.close_wave`` would store a real one.
"""

from __future__ import annotations

import email
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.factories import PASSWORD
from tests.privacy_attacks.seed import SURVEYS, make_wave
from tests.unit.report_data import make_release, pdf_text
from voice import report_service, reports, results
from voice.cli_reports import send_reports_after_close
from voice.instruments import load_instrument
from voice.models import (
    AccessMode,
    AuditEvent,
    Finding,
    FindingKind,
    Language,
    OutboundMail,
    Report,
    Role,
    Survey,
    SurveyAudience,
    SurveyStatus,
)

GROUPS = {
    "bsu": "Black Student Union",
    "lsa": "Latinx Student Alliance",
    "nsc": "Native Student Circle",
}
FINDING = "Teachers mispronounce our names and it makes us feel unseen."


@pytest.fixture
def wave(db, make_school, make_group):
    """A closed wave of three groups (one withheld) with a stored release."""
    school = make_school(name="Lincoln High School")
    groups = {
        slug: make_group(school, name=name, slug=slug) for slug, name in GROUPS.items()
    }
    closes = datetime.now(UTC) - timedelta(days=1)
    survey = Survey(
        school=school,
        slug="fall-2026",
        title="Climate and belonging",
        instrument_key="climate-belonging",
        instrument_version=1,
        instrument_snapshot={},
        wave_label="Fall 2026",
        opens_at=closes - timedelta(days=14),
        closes_at=closes,
        status=SurveyStatus.closed,
        access_mode=AccessMode.codes,
    )
    survey.audiences = [
        SurveyAudience(group=group, token=secrets.token_urlsafe(24))
        for group in groups.values()
    ]
    db.session.add(survey)
    db.session.flush()
    release = make_release()
    release = replace(
        release, wave=replace(release.wave, survey_id=survey.id, slug=survey.slug)
    )
    results.store_release(survey, release)
    db.session.commit()
    return survey, groups


def login(client, user) -> None:
    page = client.get("/staff/login")
    response = client.post(
        "/staff/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302


def school_url(survey) -> str:
    return f"/review/surveys/{survey.id}/summary.pdf"


def group_url(survey, group) -> str:
    return f"/review/surveys/{survey.id}/groups/{group.id}/summary.pdf"


def test_a_leader_downloads_the_school_summary(client, db, wave, make_user):
    survey, _ = wave
    leader = make_user(Role.leader, school=survey.school)
    db.session.commit()
    login(client, leader)
    response = client.get(school_url(survey))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert "fall-2026-school-summary-en.pdf" in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    assert "Executive summary" in pdf_text(response.data)
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "report.download")
    )
    assert event.actor_id == leader.id and event.detail["scope"] == "school"


def test_the_language_is_the_readers_choice(client, db, wave, make_user):
    survey, groups = wave
    leader = make_user(Role.leader, school=survey.school)
    db.session.commit()
    login(client, leader)
    response = client.get(group_url(survey, groups["bsu"]) + "?lang=es")
    assert response.status_code == 200
    text = " ".join(pdf_text(response.data).split())
    assert "Resumen ejecutivo" in text and "Unión de Estudiantes Negros" in text


def test_a_reviewer_gets_their_own_groups_summary_and_nothing_else(
    client, db, wave, make_user
):
    survey, groups = wave
    reviewer = make_user(Role.reviewer, school=survey.school, groups=[groups["bsu"]])
    db.session.commit()
    login(client, reviewer)
    assert client.get(group_url(survey, groups["lsa"])).status_code == 404
    assert client.get(school_url(survey)).status_code == 403
    response = client.get(group_url(survey, groups["bsu"]))
    assert response.status_code == 200
    assert "Black Student Union" in pdf_text(response.data)


def test_another_schools_leader_cannot_tell_the_reports_exist(
    client, db, wave, make_user, make_school
):
    survey, groups = wave
    stranger = make_user(Role.leader, school=make_school(district="Elsewhere"))
    db.session.commit()
    login(client, stranger)
    assert client.get(school_url(survey)).status_code == 404
    assert client.get(group_url(survey, groups["bsu"])).status_code == 404
    assert client.get("/review/surveys/99999/summary.pdf").status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, wave):
    survey, _ = wave
    response = client.get(school_url(survey))
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


def test_an_open_wave_has_no_summary(client, db, wave, make_user):
    survey, _ = wave
    survey.status = SurveyStatus.open
    leader = make_user(Role.leader, school=survey.school)
    db.session.commit()
    login(client, leader)
    assert client.get(school_url(survey)).status_code == 404


# --- the command line ---------------------------------------------------------------


def test_voice_report_writes_a_group_summary_in_spanish(runner, wave, tmp_path):
    survey, _ = wave
    output = tmp_path / "bsu.pdf"
    result = runner.invoke(
        args=["report", "fall-2026", "--group", "bsu", "--lang", "es", "-o", output]
    )
    assert result.exit_code == 0, result.output
    assert "Resumen ejecutivo" in pdf_text(output.read_bytes())


def test_voice_report_names_an_unknown_wave_or_group(runner, wave, tmp_path):
    survey, _ = wave
    output = tmp_path / "x.pdf"
    missing = runner.invoke(args=["report", "no-such-wave", "-o", output])
    assert missing.exit_code != 0 and "no wave 'no-such-wave'" in missing.output
    group = runner.invoke(args=["report", str(survey.id), "--group", "x", "-o", output])
    assert group.exit_code != 0 and "did not go to a group 'x'" in group.output
    assert not output.exists()


def outbox_messages(app) -> list[email.message.EmailMessage]:
    folder = app.config["OUTBOX_DIR"]
    return [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(Path(folder).glob("*.eml"))
    ]


def test_voice_report_send_mails_each_leader_the_pdf_in_their_language(
    app, runner, db, wave, make_user
):
    survey, groups = wave
    make_user(Role.leader, school=survey.school, email="principal@school.test")
    make_user(
        Role.leader,
        school=survey.school,
        email="directora@school.test",
        language=Language.es,
    )
    make_user(Role.facilitator, school=survey.school, email="facilitator@school.test")
    db.session.add(
        Finding(
            survey_id=survey.id,
            group_id=groups["bsu"].id,
            kind=FindingKind.recommendation,
            text=FINDING,
            shared_at=datetime.now(UTC),
        )
    )
    db.session.commit()
    result = runner.invoke(args=["report", "send", str(survey.id)])
    assert result.exit_code == 0, result.output
    messages = {m["To"]: m for m in outbox_messages(app)}
    assert set(messages) == {"principal@school.test", "directora@school.test"}
    spanish = messages["directora@school.test"]
    assert "resumen de la escuela" in spanish["Subject"]
    (attachment,) = spanish.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert FINDING in " ".join(pdf_text(attachment.get_content()).split())
    for message in messages.values():
        body = message.get_body().get_content()
        assert FINDING not in body and "%" not in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 2
    assert all(m.sent_at for m in db.session.scalars(sa.select(OutboundMail)))


def test_new_shared_recommendations_send_the_group_summary_once(
    app, db, wave, make_user
):
    survey, groups = wave
    make_user(Role.leader, school=survey.school, email="principal@school.test")
    db.session.add(
        Finding(
            survey_id=survey.id,
            group_id=groups["lsa"].id,
            kind=FindingKind.recommendation,
            text="Interpreters at family nights.",
            shared_at=datetime.now(UTC) - timedelta(minutes=5),
        )
    )
    db.session.flush()
    first = report_service.queue_new_recommendation_reports()
    db.session.commit()
    assert [m.recipient for m in first] == ["principal@school.test"]
    assert first[0].report.scope == f"group:{groups['lsa'].id}"
    assert report_service.queue_new_recommendation_reports() == []


def test_a_school_without_leaders_queues_nothing(db, wave):
    survey, _ = wave
    assert report_service.queue_release_reports(survey) == []


def test_close_due_mails_the_summary_of_new_recommendations(
    app, runner, db, wave, make_user
):
    survey, groups = wave
    make_user(Role.leader, school=survey.school, email="principal@school.test")
    db.session.add(
        Finding(
            survey_id=survey.id,
            group_id=groups["bsu"].id,
            kind=FindingKind.recommendation,
            text=FINDING,
            shared_at=datetime.now(UTC),
        )
    )
    db.session.commit()
    result = runner.invoke(args=["close-due"])
    assert result.exit_code == 0, result.output
    (message,) = outbox_messages(app)
    assert message["Subject"].strip().startswith("Black Student Union shared")
    body = message.get_body().get_content()
    assert FINDING not in body
    # The link opens the overview at its recommendations, where leaders answer.
    assert f"/review/surveys/{survey.id}?lang=en#recommendations" in body
    again = runner.invoke(args=["close-due"])
    assert again.exit_code == 0 and len(outbox_messages(app)) == 1


def test_a_wave_just_closed_sends_its_school_summary_and_a_failure_is_reported(
    app, db, wave, make_user, monkeypatch, capsys
):
    survey, _ = wave
    make_user(Role.leader, school=survey.school, email="principal@school.test")
    db.session.commit()
    send_reports_after_close([survey])
    (message,) = outbox_messages(app)
    assert message["Subject"].endswith("Fall 2026: school summary")

    def broken(*args, **kwargs):
        raise reports.RenderTimeout("the report took longer than 60 s to render")

    monkeypatch.setattr(report_service, "build_pdf", broken)
    with pytest.raises(SystemExit) as exited:
        send_reports_after_close([survey])
    assert exited.value.code == 1
    assert f"voice report send {survey.id}" in capsys.readouterr().err
    assert len(outbox_messages(app)) == 1


def test_close_due_closes_an_ended_wave_and_mails_each_leader_its_pdf(
    app, runner, db, make_user
):
    instrument = load_instrument(SURVEYS / "affinity-pulse.v1.yaml")
    ended = make_wave(
        instrument=instrument,
        sizes={"alpha": 15, "bravo": 12},
        closes_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    make_user(Role.leader, school=ended.school, email="principal@school.test")
    make_user(
        Role.leader,
        school=ended.school,
        email="directora@school.test",
        language=Language.es,
    )
    db.session.commit()
    result = runner.invoke(args=["close-due"])
    assert result.exit_code == 0, result.output
    assert "2 email(s) written to the outbox" in result.output
    db.session.expire_all()
    assert ended.survey.status is SurveyStatus.closed
    messages = {m["To"]: m for m in outbox_messages(app)}
    assert set(messages) == {"principal@school.test", "directora@school.test"}
    for address, summary in (
        ("principal@school.test", "Executive summary"),
        ("directora@school.test", "Resumen ejecutivo"),
    ):
        (attachment,) = messages[address].iter_attachments()
        assert attachment.get_content_type() == "application/pdf"
        assert summary in " ".join(pdf_text(attachment.get_content()).split())
    stored = db.session.scalars(sa.select(Report.language)).all()
    assert sorted(lang.value for lang in stored) == ["en", "es"]
    again = runner.invoke(args=["close-due"])
    assert again.exit_code == 0 and len(outbox_messages(app)) == 2
