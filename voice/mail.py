"""Delivery of reports to leaders: queued in the database, sent over SMTP, retried.

A mail is first an :class:`~voice.models.OutboundMail` row (queued in the same
transaction as the report it carries), then :func:`deliver_pending` tries to send
every unsent row. A failure is counted and kept with its error, retried on the next
run and reported to the caller, so nothing is silently lost. With ``VOICE_SMTP_URL``
unset (development) messages are written as ``.eml`` files to ``OUTBOX_DIR``.

``smtp://user:password@host:587`` uses STARTTLS whenever the server offers it and
refuses to send a password over a connection that is not encrypted;
``smtps://host:465`` is TLS from the start.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from voice.extensions import db
from voice.models import OutboundMail, Report, Survey, utcnow

#: Sends tried before a mail is given up on (it stays listed as undelivered).
MAX_ATTEMPTS = 5
#: Seconds to wait for the SMTP server.
SMTP_TIMEOUT = 30.0

log = logging.getLogger(__name__)


class MailError(Exception):
    """A mail could not be sent; the message says why (never a password)."""


@dataclass(frozen=True)
class MailSettings:
    """Where and as whom mail is sent."""

    sender: str
    #: ``smtp://`` or ``smtps://`` URL; None writes ``.eml`` files instead.
    smtp_url: str | None
    outbox_dir: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        """Read the settings from the app's config."""
        return cls(
            sender=config["MAIL_FROM"],
            smtp_url=config.get("SMTP_URL"),
            outbox_dir=config["OUTBOX_DIR"],
        )


@dataclass(frozen=True)
class Failure:
    """A mail that was not delivered, and why."""

    mail_id: int
    recipient: str
    attempts: int
    error: str


@dataclass(frozen=True)
class Delivery:
    """What one delivery run did."""

    sent: int
    #: Failed in this run and will be retried.
    failed: tuple[Failure, ...]
    #: Failed ``MAX_ATTEMPTS`` times; kept, reported, not retried automatically.
    given_up: tuple[Failure, ...]


def queue(
    *, recipient: str, subject: str, body: str, report: Report | None = None
) -> OutboundMail:
    """Add a mail to the queue (flush only; it is sent after the caller commits)."""
    row = OutboundMail(recipient=recipient, subject=subject, body=body, report=report)
    db.session.add(row)
    db.session.flush()
    return row


def build_message(row: OutboundMail, sender: str) -> EmailMessage:
    """Turn a queued mail into a MIME message, with its report attached."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = make_msgid(domain=_domain_of(sender))
    message.set_content(row.body)
    report = row.report
    if report is not None:
        message.add_attachment(
            report.pdf,
            maintype="application",
            subtype="pdf",
            filename=_attachment_name(report),
        )
    return message


def _domain_of(sender: str) -> str:
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return address.rsplit("@", 1)[-1] or "localhost"


def _attachment_name(report: Report) -> str:
    survey = db.session.get(Survey, report.survey_id)
    slug = survey.slug if survey is not None else f"survey-{report.survey_id}"
    part = "school" if report.scope == "school" else report.scope.replace(":", "-")
    return f"{slug}-{part}-summary-{report.language.value}.pdf"


def send(message: EmailMessage, settings: MailSettings) -> None:
    """Send one message over SMTP, or write it to the outbox folder.

    :raises MailError: on any delivery failure (connection, refusal, bad URL)
    """
    if not settings.smtp_url:
        _write_outbox(message, Path(settings.outbox_dir))
        return
    try:
        _send_smtp(message, settings.smtp_url)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(f"{type(error).__name__}: {error}") from error


def _write_outbox(message: EmailMessage, folder: Path) -> Path:
    """Write ``message`` as an ``.eml`` file, atomically, and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(8)}.eml"
    partial = path.with_suffix(".part")
    partial.write_bytes(message.as_bytes())
    partial.replace(path)
    return path


def _send_smtp(message: EmailMessage, url: str) -> None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailError("VOICE_SMTP_URL must be smtp://host:port or smtps://host:port")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else ""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if scheme == "smtps":
        client = smtplib.SMTP_SSL(
            parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT, context=context
        )
    else:
        client = smtplib.SMTP(parts.hostname, parts.port or 587, timeout=SMTP_TIMEOUT)
    with client:
        client.ehlo()
        if scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        elif scheme == "smtp" and user:
            raise MailError(
                "the SMTP server does not offer STARTTLS; refusing to send the "
                "password unencrypted"
            )
        if user:
            client.login(user, password)
        client.send_message(message)


def deliver_pending(
    settings: MailSettings, *, max_attempts: int = MAX_ATTEMPTS
) -> Delivery:
    """Try to send every queued mail that has not been sent or given up on.

    Each result is flushed as it happens; the caller commits once at the end.

    :return: how many were sent, which failed now, which have been given up on
    """
    pending = db.session.scalars(
        sa.select(OutboundMail)
        .where(OutboundMail.sent_at.is_(None), OutboundMail.attempts < max_attempts)
        .order_by(OutboundMail.id)
    ).all()
    sent = 0
    failed = []
    for row in pending:
        row.attempts += 1
        try:
            send(build_message(row, settings.sender), settings)
        except MailError as error:
            row.last_error = str(error)[:1000]
            failed.append(Failure(row.id, row.recipient, row.attempts, row.last_error))
            log.warning("mail %s to %s failed: %s", row.id, row.recipient, error)
        else:
            row.sent_at = utcnow()
            row.last_error = ""
            sent += 1
        db.session.flush()
    return Delivery(
        sent=sent,
        failed=tuple(f for f in failed if f.attempts < max_attempts),
        given_up=tuple(
            Failure(row.id, row.recipient, row.attempts, row.last_error)
            for row in undelivered()
            if row.attempts >= max_attempts
        ),
    )


def undelivered() -> list[OutboundMail]:
    """Return every mail not sent yet, oldest first."""
    return list(
        db.session.scalars(
            sa.select(OutboundMail)
            .where(OutboundMail.sent_at.is_(None))
            .order_by(OutboundMail.id)
        )
    )
