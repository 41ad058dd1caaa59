"""A group's cycle of inquiry: moderated comments, findings, recommendations, answers.

A group reads its released results and its approved comments, writes findings (what
the data shows) and recommendations (what should change, for whom) as drafts, and
shares the ones it chooses with leadership. Leaders answer each shared
recommendation; the group sees the answer, and in later waves sees its past
recommendations next to the change in the figure they were about.

Writes add and flush and go through ``audit.record``; the view commits (STYLE rule 4).
Nothing here computes a figure: results come only from the protected release.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from voice import audit, redact
from voice.extensions import db
from voice.models import (
    AffinityGroup,
    Comment,
    Finding,
    FindingKind,
    LeaderAnswer,
    ModerationStatus,
    Response,
    StaffUser,
    Survey,
    SurveyStatus,
    utcnow,
)

#: Longest finding or recommendation accepted, in characters.
MAX_FINDING_LENGTH = 2000


class FindingError(Exception):
    """A change to a finding was refused; the message is safe to show."""


@dataclass(frozen=True)
class ShownComment:
    """A comment as staff may see it: redacted text and flags, never who or when."""

    id: str
    item_key: str
    #: The redacted text; the original is never shown to anyone.
    text: str
    moderation: ModerationStatus
    note: str
    #: Sorted risk categories (``redact.RISK_CATEGORIES``) found in the comment.
    risks: tuple[str, ...]


def _order_key(secret: str, comment: Comment) -> str:
    # A keyed hash of the random id: a stable order that says nothing about when a
    # comment was written, even if ids ever became time-ordered (invariant 3).
    return hmac.new(secret.encode(), comment.id.bytes, hashlib.sha256).hexdigest()


def _shown(
    comment: Comment, lang: str, names: Sequence[str], ids: Sequence[str]
) -> ShownComment:
    text = comment.redacted_text or (
        # The release pipeline fills redacted_text; redact here only if it has not.
        redact.redact(
            comment.text, lang=lang, names=names, student_id_patterns=ids
        ).text
    )
    flags = comment.flags or {}
    if "categories" in flags:
        risks = tuple(sorted(flags["categories"]))
    elif flags.get("at_risk") is not None:
        risks = ("at_risk",) if flags["at_risk"] else ()
    else:
        risks = redact.flag(comment.text, lang=lang).categories
    return ShownComment(
        id=str(comment.id),
        item_key=comment.item_key,
        text=text,
        moderation=comment.moderation,
        note=comment.moderation_note,
        risks=risks,
    )


def group_comments(
    survey: Survey,
    group: AffinityGroup,
    *,
    secret: str,
    approved_only: bool,
) -> list[ShownComment]:
    """Return a group's comments on a wave, redacted, in a time-blind order.

    The caller checks first that the wave is closed and the group released.

    :param secret: the app's secret key, for the order (see ``_order_key``)
    :param approved_only: True for reviewers and leaders, False for moderators
    """
    query = (
        sa.select(Comment, Response.language)
        .join(Response, Comment.response_id == Response.id)
        .where(Response.survey_id == survey.id, Response.group_id == group.id)
    )
    if approved_only:
        query = query.where(Comment.moderation == ModerationStatus.approved)
    rows = db.session.execute(query).all()
    school = group.school
    names = tuple(school.redaction_names or ())
    ids = tuple(school.student_id_patterns or ())
    ordered = sorted(
        rows, key=lambda row: (row[0].item_key, _order_key(secret, row[0]))
    )
    return [
        _shown(comment, language.value, names, ids) for comment, language in ordered
    ]


def count_pending(survey: Survey, group: AffinityGroup) -> int:
    """Count a group's comments on a wave still waiting for a moderator's decision."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Comment)
            .join(Response, Comment.response_id == Response.id)
            .where(
                Response.survey_id == survey.id,
                Response.group_id == group.id,
                Comment.moderation == ModerationStatus.pending,
            )
        )
        or 0
    )


def moderate(
    actor: StaffUser,
    survey: Survey,
    group: AffinityGroup,
    comment_id: uuid.UUID,
    status: ModerationStatus,
    note: str,
) -> Comment:
    """Approve or hide one comment of a group's wave, with the moderator's note.

    :raises FindingError: the comment is not one of this group's on this wave
    """
    comment = db.session.scalar(
        sa.select(Comment)
        .join(Response, Comment.response_id == Response.id)
        .where(
            Comment.id == comment_id,
            Response.survey_id == survey.id,
            Response.group_id == group.id,
        )
    )
    if comment is None:
        raise FindingError(_("That comment is not in this queue."))
    comment.moderation = status
    comment.moderation_note = note.strip()[:1000]
    db.session.flush()
    audit.record(
        actor,
        f"comment.{status.value}",
        f"survey:{survey.id}/group:{group.id}",
        note=bool(comment.moderation_note),
    )
    return comment


def group_findings(survey: Survey, group: AffinityGroup) -> list[Finding]:
    """Return everything a group wrote on a wave: findings first, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Finding)
            .where(Finding.survey_id == survey.id, Finding.group_id == group.id)
            .order_by(Finding.kind, Finding.created_at, Finding.id)
        )
    )


def shared_findings(survey: Survey) -> list[Finding]:
    """Return what groups have shared with leadership on a wave, by group."""
    return list(
        db.session.scalars(
            sa.select(Finding)
            .join(AffinityGroup, Finding.group_id == AffinityGroup.id)
            .where(Finding.survey_id == survey.id, Finding.shared_at.is_not(None))
            .order_by(AffinityGroup.name, Finding.kind, Finding.shared_at, Finding.id)
        )
    )


def earlier_waves(survey: Survey) -> list[Survey]:
    """Return the closed earlier waves of the same instrument at the same school."""
    return list(
        db.session.scalars(
            sa.select(Survey)
            .where(
                Survey.school_id == survey.school_id,
                Survey.instrument_key == survey.instrument_key,
                Survey.status == SurveyStatus.closed,
                Survey.closes_at < survey.closes_at,
                Survey.id != survey.id,
            )
            .order_by(Survey.closes_at.desc())
        )
    )


def past_recommendations(survey: Survey, group: AffinityGroup) -> list[Finding]:
    """Return the group's shared recommendations from earlier waves, newest first."""
    earlier = [wave.id for wave in earlier_waves(survey)]
    if not earlier:
        return []
    return list(
        db.session.scalars(
            sa.select(Finding)
            .join(Survey, Finding.survey_id == Survey.id)
            .where(
                Finding.survey_id.in_(earlier),
                Finding.group_id == group.id,
                Finding.kind == FindingKind.recommendation,
                Finding.shared_at.is_not(None),
            )
            .order_by(Survey.closes_at.desc(), Finding.id)
        )
    )


def _clean_text(text: str) -> str:
    cleaned = redact.normalize(text)
    if not cleaned:
        raise FindingError(_("Please write something first."))
    if len(cleaned) > MAX_FINDING_LENGTH:
        raise FindingError(
            _("Please keep it under %(count)d characters.", count=MAX_FINDING_LENGTH)
        )
    return cleaned


def add_finding(
    actor: StaffUser,
    survey: Survey,
    group: AffinityGroup,
    *,
    kind: FindingKind,
    text: str,
    audience: str = "",
    figure_key: str | None = None,
    figure_keys: Collection[str] = (),
) -> Finding:
    """Save a draft finding or recommendation for the group; leaders cannot see it.

    :param figure_key: a measure key of the wave's release, or None
    :param figure_keys: the keys the release offers (a figure_key must be one)
    :raises FindingError: empty or too long text, or an unknown figure
    """
    if figure_key and figure_key not in figure_keys:
        raise FindingError(_("Choose a figure from the list."))
    finding = Finding(
        survey_id=survey.id,
        group_id=group.id,
        kind=kind,
        text=_clean_text(text),
        audience=audience.strip()[:200] if kind is FindingKind.recommendation else "",
        figure_key=figure_key or None,
        author_id=actor.id,
    )
    db.session.add(finding)
    db.session.flush()
    audit.record(actor, "finding.add", finding, kind=kind)
    return finding


def delete_draft(actor: StaffUser, finding: Finding) -> None:
    """Delete a draft; shared items stay, since leaders may already have read them.

    :raises FindingError: the item is already shared
    """
    if finding.shared_at is not None:
        raise FindingError(_("Shared items cannot be deleted."))
    audit.record(actor, "finding.delete", finding, kind=finding.kind)
    db.session.delete(finding)
    db.session.flush()


def share(actor: StaffUser, finding: Finding) -> None:
    """Share a draft with leadership; from now on leaders see it (and may answer)."""
    if finding.shared_at is not None:
        return
    finding.shared_at = utcnow()
    db.session.flush()
    audit.record(actor, "finding.share", finding, kind=finding.kind)


def answer(
    actor: StaffUser, finding: Finding, response: LeaderAnswer, note: str
) -> None:
    """Record a leader's answer to a shared recommendation; the group will see it.

    :raises FindingError: the item is not a shared recommendation
    """
    if finding.kind is not FindingKind.recommendation or finding.shared_at is None:
        raise FindingError(_("Only shared recommendations can be answered."))
    finding.leader_answer = response
    finding.leader_note = redact.normalize(note)[:MAX_FINDING_LENGTH]
    finding.answered_by_id = actor.id
    finding.answered_at = utcnow()
    db.session.flush()
    audit.record(actor, "finding.answer", finding, answer=response)
