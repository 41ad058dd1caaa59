"""Report emails go through a real SMTP server, and a failed send is never lost."""

from __future__ import annotations

import email
import socket
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from voice import mail
from voice.models import Language, OutboundMail, Report, Survey

PDF = b"%PDF-1.7\n% a stand-in report\n%%EOF\n"


class Collector:
    """An aiosmtpd handler that keeps what it accepts; it can refuse recipients."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.refuse = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 for the test's duration."""
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, f"smtp://127.0.0.1:{controller.port}"
    controller.stop()


@pytest.fixture
def report(db, make_school):
    """A stored report (a stand-in PDF) of a wave, ready to be mailed."""
    closes = datetime.now(UTC)
    survey = Survey(
        school=make_school(),
        slug="spring-2027",
        title="Climate and belonging",
        instrument_key="climate-belonging",
        instrument_version=1,
        instrument_snapshot={},
        wave_label="Spring 2027",
        opens_at=closes - timedelta(days=7),
        closes_at=closes,
    )
    db.session.add(survey)
    db.session.flush()
    row = Report(
        survey_id=survey.id,
        scope="school",
        language=Language.en,
        release_sha256="0" * 64,
        sha256="1" * 64,
        pdf=PDF,
    )
    db.session.add(row)
    db.session.flush()
    return row


def settings(app, url: str | None) -> mail.MailSettings:
    return mail.MailSettings(
        sender="Student Voice <reports@school.test>",
        smtp_url=url,
        outbox_dir=app.config["OUTBOX_DIR"],
    )


def queued(report, recipient="principal@school.test") -> OutboundMail:
    return mail.queue(
        recipient=recipient,
        subject="Climate and belonging, Spring 2027: school summary",
        body="The school summary is attached as a PDF.\n",
        report=report,
    )


def test_a_queued_report_arrives_over_smtp_with_its_pdf(app, db, smtp, report):
    handler, url = smtp
    row = queued(report)
    delivery = mail.deliver_pending(settings(app, url))
    assert (delivery.sent, delivery.failed, delivery.given_up) == (1, (), ())
    (envelope,) = handler.envelopes
    assert envelope.mail_from == "reports@school.test"
    assert envelope.rcpt_tos == ["principal@school.test"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"].endswith("school summary")
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "spring-2027-school-summary-en.pdf"
    assert attachment.get_content() == PDF
    assert row.sent_at is not None and row.attempts == 1 and row.last_error == ""


def test_a_failed_send_is_kept_and_delivered_on_the_next_run(app, db, report):
    port = free_port()
    row = queued(report)
    first = mail.deliver_pending(settings(app, f"smtp://127.0.0.1:{port}"))
    assert first.sent == 0
    assert [f.mail_id for f in first.failed] == [row.id]
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        second = mail.deliver_pending(settings(app, f"smtp://127.0.0.1:{port}"))
    finally:
        controller.stop()
    assert second.sent == 1 and len(handler.envelopes) == 1
    assert row.sent_at is not None and row.attempts == 2


def test_a_mail_that_keeps_failing_is_given_up_on_but_still_listed(app, db, report):
    url = f"smtp://127.0.0.1:{free_port()}"
    row = queued(report)
    mail.deliver_pending(settings(app, url), max_attempts=2)
    last = mail.deliver_pending(settings(app, url), max_attempts=2)
    assert [f.mail_id for f in last.given_up] == [row.id] and last.failed == ()
    again = mail.deliver_pending(settings(app, url), max_attempts=2)
    assert row.attempts == 2 and again.given_up[0].attempts == 2
    assert mail.undelivered() == [row]


def test_a_refused_recipient_is_a_failure_not_a_loss(app, db, smtp, report):
    handler, url = smtp
    handler.refuse = True
    row = queued(report)
    delivery = mail.deliver_pending(settings(app, url))
    assert delivery.sent == 0 and "No such mailbox" in delivery.failed[0].error
    assert row.sent_at is None and handler.envelopes == []


def test_a_password_is_never_sent_over_a_connection_without_starttls(
    app, db, smtp, report
):
    handler, url = smtp
    queued(report)
    with_password = url.replace("smtp://", "smtp://reports:hunter2@")
    delivery = mail.deliver_pending(settings(app, with_password))
    (failure,) = delivery.failed
    assert "STARTTLS" in failure.error and "hunter2" not in failure.error
    assert handler.envelopes == []


def test_without_an_smtp_url_mail_is_written_to_the_outbox(app, db, report):
    row = queued(report)
    delivery = mail.deliver_pending(settings(app, None))
    assert delivery.sent == 1 and row.sent_at is not None
    (path,) = Path(app.config["OUTBOX_DIR"]).glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "principal@school.test"
    assert next(message.iter_attachments()).get_content() == PDF


def test_voice_report_deliver_reports_failures_and_exits_non_zero(
    app, db, runner, report
):
    queued(report)
    db.session.commit()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    result = runner.invoke(args=["report", "deliver"])
    assert result.exit_code == 1
    assert "Not delivered yet (will retry)" in result.output
    listing = runner.invoke(args=["report", "outbox"])
    assert "principal@school.test: 1 attempt(s); last error:" in listing.output


# --- invitations are emailed to the invited person -------------------------------------


def _invite_through_the_form(app, db, make_school, make_user, make_group, **fields):
    """Sign an admin in and invite a facilitator; return the page the admin sees."""
    import re

    from tests.conftest import csrf_token
    from tests.factories import PASSWORD
    from tests.web.review_helpers import isolate_requests, login
    from voice.models import Role

    isolate_requests(app)
    school = make_school(name="Lincoln High")
    group = make_group(school)
    admin = make_user(Role.admin, school=school, name="Alex Rivera")
    db.session.commit()
    client = app.test_client()
    login(client, admin, PASSWORD)
    page = client.get("/staff/accounts/invite").get_data(as_text=True)
    school_id = re.search(r'name="school"[^>]*value="(\d+)"', page) or re.search(
        r'value="(\d+)"[^>]*name="school"', page
    )
    response = client.post(
        "/staff/accounts/invite",
        data={
            "name": "Jordan Ellis",
            "email": "jordan@example.org",
            "role": "facilitator",
            "school": school_id.group(1) if school_id else str(school.id),
            "groups": str(group.id),
            "language": "en",
            "csrf_token": csrf_token(page),
            **fields,
        },
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body[body.find("<main") :][:3000]
    return client, response.get_data(as_text=True)


def _link_in(text: str) -> str:
    import re

    return re.search(r"https?://\S+/staff/invitation/[A-Za-z0-9_-]+", text).group(0)


def test_an_invitation_is_emailed_in_the_invited_persons_language(
    app, db, smtp, make_school, make_user, make_group
):
    handler, url = smtp
    app.config["SMTP_URL"] = url
    _, page = _invite_through_the_form(
        app, db, make_school, make_user, make_group, language="es"
    )
    assert "Invitation sent to Jordan Ellis" in page
    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == ["jordan@example.org"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "Tu cuenta de Voz Estudiantil en Lincoln High"
    body = message.get_content()
    assert "Alex Rivera te invitó" in body
    link = _link_in(body)
    assert link == _link_in(page)  # the fallback on the page is the same link
    # The one-time link lives only in the email and the page, never in the database.
    token = link.rsplit("/", 1)[1]
    assert not [row for row in mail.undelivered() if token in row.body]
    newcomer = app.test_client()
    assert newcomer.get(link).status_code == 200


def test_a_failed_invitation_email_shows_the_inviter_the_link_instead(
    app, db, smtp, make_school, make_user, make_group
):
    handler, url = smtp
    handler.refuse = True
    app.config["SMTP_URL"] = url
    _, page = _invite_through_the_form(app, db, make_school, make_user, make_group)
    assert handler.envelopes == []
    assert "The invitation email could not be sent" in page
    assert "Send this link to jordan@example.org yourself" in page
    assert app.test_client().get(_link_in(page)).status_code == 200


def test_without_an_smtp_url_the_invitation_is_saved_and_the_inviter_told(
    app, db, make_school, make_user, make_group
):
    app.config["SMTP_URL"] = None
    _, page = _invite_through_the_form(app, db, make_school, make_user, make_group)
    assert "No mail server is set up" in page
    (path,) = Path(app.config["OUTBOX_DIR"]).glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "jordan@example.org"
    assert _link_in(message.get_content()) == _link_in(page)
