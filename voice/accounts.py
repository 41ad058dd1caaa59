"""Staff accounts: password hashing, authentication, invitations, scope and sessions.

Accounts are created by invitation only: an admin or facilitator names the person,
their role and groups; the person opens a one-time link and chooses a password (no
default passwords, issue 5). The link is emailed to the person straight away
(:func:`mail_invitation`) and shown to the inviter as a fallback. Every change here
is written through ``audit.record`` and flushed; the calling view or command commits
(STYLE rule 4).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

from voice import audit, mail
from voice.extensions import db
from voice.models import (
    AffinityGroup,
    GroupMembership,
    Language,
    Role,
    School,
    StaffUser,
    utcnow,
)
from voice.scope import group_scope, school_scope

#: Verified against when the email is unknown, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")

#: How long an invitation link stays valid.
INVITE_LIFETIME = timedelta(days=7)
#: Shortest password accepted; length beats composition rules (NIST SP 800-63B).
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
#: Passwords people pick first; refused whatever their length.
_COMMON_PASSWORDS = frozenset(
    {
        "passwordpassword",
        "password1234",
        "password12345",
        "password123456",
        "123456789012",
        "1234567890123",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "changeme1234",
        "studentvoice",
        "studentvoice1",
        "studentvoice123",
    }
)


#: How each role is named to people (account pages, invitation emails).
ROLE_LABELS = {
    Role.admin: _l("Admin (equity coordinator)"),
    Role.facilitator: _l("Facilitator (staff adult of a group)"),
    Role.reviewer: _l("Student reviewer (student leader)"),
    Role.leader: _l("Leader (principal, district officer)"),
}


class AccountError(Exception):
    """An account change was refused; the message is safe to show to the person."""


class InvitationInvalid(AccountError):
    """The invitation link is unknown, already used, expired or for a disabled account."""


@dataclass(frozen=True)
class Invitation:
    """A new or renewed invitation: the account and the one-time token for its link."""

    user: StaffUser
    #: Shown once, in the link; only its hash is stored.
    token: str


def hash_password(password: str) -> str:
    """Hash with scrypt (werkzeug's default), salted."""
    return generate_password_hash(password, method="scrypt")


def authenticate(email: str, password: str) -> StaffUser | None:
    """Return the enabled account matching ``email`` and ``password``, else None."""
    user = find_by_email(email)
    if user is None or user.password_hash is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_enabled:
        return None
    return user


def find_by_email(email: str) -> StaffUser | None:
    """Return the account with ``email``, ignoring case and surrounding space."""
    return db.session.scalar(
        sa.select(StaffUser).where(
            sa.func.lower(StaffUser.email) == email.strip().lower()
        )
    )


def password_problem(password: str, *, email: str = "") -> str | None:
    """Say why ``password`` is too weak to accept, or return None if it will do.

    :param email: the account's email; a password built from it is refused
    :return: a translated sentence for the form, or None
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return _(
            "Use at least %(count)d characters. A few unrelated words work well.",
            count=MIN_PASSWORD_LENGTH,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return _("Use at most %(count)d characters.", count=MAX_PASSWORD_LENGTH)
    folded = password.strip().lower()
    local_part = email.split("@", 1)[0].lower()
    if (
        folded in _COMMON_PASSWORDS
        or len(set(folded)) < 4
        or (len(local_part) >= 4 and local_part in folded)
    ):
        return _("That password is too easy to guess. Please choose another.")
    return None


def _token_hash(token: str) -> str:
    # The token carries 256 random bits, so a fast hash is enough to make the stored
    # value useless to someone who reads the database.
    return hashlib.sha256(token.encode()).hexdigest()


def invite(
    actor: StaffUser,
    *,
    email: str,
    name: str,
    role: Role,
    school: School,
    groups: Iterable[AffinityGroup] = (),
    language: Language = Language.en,
) -> Invitation:
    """Create an account without a password and return its invitation.

    :raises AccountError: the email is taken or the actor may not grant that role
    """
    if role not in invitable_roles(actor):
        raise AccountError(_("You cannot invite accounts with that role."))
    email = email.strip()
    if find_by_email(email) is not None:
        raise AccountError(_("An account with that email already exists."))
    group_list = list(groups)
    if any(group.school_id != school.id for group in group_list):
        raise AccountError(_("Every group must belong to the account's school."))
    if role in (Role.facilitator, Role.reviewer) and not group_list:
        raise AccountError(_("Choose at least one group for this role."))
    user = StaffUser(
        email=email,
        name=name.strip(),
        role=role,
        school=school,
        language=language,
        password_hash=None,
    )
    # Admins and leaders see whole schools; memberships would only mislead.
    if role in (Role.facilitator, Role.reviewer):
        user.memberships = [GroupMembership(group=group) for group in group_list]
    db.session.add(user)
    db.session.flush()
    token = _renew_token(user)
    audit.record(
        actor,
        "account.invite",
        user,
        role=role,
        groups=sorted(group.slug for group in group_list),
    )
    return Invitation(user, token)


def renew_invitation(actor: StaffUser, user: StaffUser) -> Invitation:
    """Issue a fresh invitation link for an account that has not set a password.

    :raises AccountError: the account already has a password
    """
    if user.password_hash is not None:
        raise AccountError(_("This person has already set a password."))
    token = _renew_token(user)
    audit.record(actor, "account.invite_renew", user)
    return Invitation(user, token)


def _renew_token(user: StaffUser) -> str:
    token = secrets.token_urlsafe(32)
    user.invite_token_hash = _token_hash(token)
    user.invite_expires_at = utcnow() + INVITE_LIFETIME
    db.session.flush()
    return token


def mail_invitation(
    actor: StaffUser, user: StaffUser, link: str, settings: mail.MailSettings
) -> bool:
    """Email an invitation link to the invited person, in their language, at once.

    Sent directly rather than through the outbound mail queue: a queued mail would
    keep the one-time link in the database, where only its hash may ever be. Call
    it after the invitation is committed, so no link is mailed for an account that
    does not exist.

    :param link: the full invitation URL
    :return: True if handed to the SMTP server; False if no server is configured
        (``VOICE_SMTP_URL`` unset) and the message was only written to the outbox
        folder, so the inviter must pass the link on
    :raises mail.MailError: the server could not be reached or refused the mail
    """
    expires = user.invite_expires_at
    with force_locale(user.language.value):
        subject = _("Your Student Voice account at %(school)s", school=user.school.name)
        body = "\n\n".join(
            (
                _("Hello %(name)s,", name=user.name),
                _(
                    "%(inviter)s invited you to Student Voice at %(school)s, as "
                    "%(role)s.",
                    inviter=actor.name,
                    school=user.school.name,
                    role=str(ROLE_LABELS[user.role]),
                ),
                _(
                    "Choose your password with this link. It works once and expires "
                    "on %(date)s (UTC):",
                    date=expires.strftime("%Y-%m-%d %H:%M") if expires else "",
                )
                + "\n"
                + link,
                _(
                    "If you were not expecting this email, you can ignore it: the "
                    "account cannot be used until someone chooses a password "
                    "through the link."
                ),
            )
        )
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = user.email
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=_domain(settings.sender))
    message.set_content(body + "\n")
    mail.send(message, settings)
    return bool(settings.smtp_url)


def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def find_invitation(token: str) -> StaffUser:
    """Return the account a still-valid invitation token belongs to.

    :raises InvitationInvalid: unknown, used or expired token, or a disabled account
    """
    if not token or len(token) > 100:
        raise InvitationInvalid(_("This invitation link is not valid."))
    user = db.session.scalar(
        sa.select(StaffUser).where(StaffUser.invite_token_hash == _token_hash(token))
    )
    if (
        user is None
        or not user.is_enabled
        or user.invite_expires_at is None
        or user.invite_expires_at <= utcnow()
    ):
        raise InvitationInvalid(
            _(
                "This invitation link is not valid any more. Ask the person who "
                "invited you for a new one."
            )
        )
    return user


def accept_invitation(token: str, password: str) -> StaffUser:
    """Set the password chosen through an invitation link and spend the link.

    :raises InvitationInvalid: see :func:`find_invitation`
    :raises AccountError: the password is too weak
    """
    user = find_invitation(token)
    problem = password_problem(password, email=user.email)
    if problem:
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    user.invite_token_hash = None
    user.invite_expires_at = None
    end_sessions(user)
    audit.record(user, "account.accept_invite", user)
    return user


def invitable_roles(actor: StaffUser) -> tuple[Role, ...]:
    """Return the roles ``actor`` may give to new accounts, least privileged first."""
    if actor.role is Role.admin:
        return (Role.reviewer, Role.facilitator, Role.leader, Role.admin)
    if actor.role is Role.facilitator:
        return (Role.reviewer,)  # student leaders of the facilitator's own groups
    return ()


def manageable_groups(actor: StaffUser) -> list[AffinityGroup]:
    """Return the groups ``actor`` may put accounts into, by school and name."""
    if actor.role not in (Role.admin, Role.facilitator):
        return []
    return list(
        db.session.scalars(
            sa.select(AffinityGroup)
            .join(School)
            .where(AffinityGroup.id.in_(group_scope(actor)))
            .order_by(School.name, AffinityGroup.name)
        )
    )


def manageable_accounts(actor: StaffUser) -> sa.Select[tuple[StaffUser]]:
    """Return a query for the accounts ``actor`` may list and manage."""
    query = sa.select(StaffUser).order_by(StaffUser.name, StaffUser.email)
    if actor.role is Role.admin:
        in_scope = StaffUser.school_id.in_(school_scope(actor))
        if actor.district:
            in_scope = in_scope | (StaffUser.district == actor.district)
        return query.where(in_scope)
    if actor.role is Role.facilitator:
        mine = sa.select(GroupMembership.group_id).where(
            GroupMembership.user_id == actor.id
        )
        outside = sa.select(GroupMembership.user_id).where(
            GroupMembership.group_id.not_in(mine)
        )
        inside = sa.select(GroupMembership.user_id).where(
            GroupMembership.group_id.in_(mine)
        )
        # Only student reviewers whose every group is one of the facilitator's.
        return query.where(
            StaffUser.role == Role.reviewer,
            StaffUser.id.in_(inside),
            StaffUser.id.not_in(outside),
        )
    return query.where(sa.false())


def can_manage(actor: StaffUser, user: StaffUser) -> bool:
    """Say whether ``actor`` may change ``user`` (never themselves: no self-lockout)."""
    if actor.id == user.id:
        return False
    return (
        db.session.scalar(
            manageable_accounts(actor).where(StaffUser.id == user.id).limit(1)
        )
        is not None
    )


def end_sessions(user: StaffUser) -> None:
    """End every session of ``user`` on every device (the login id carries the version)."""
    user.session_version += 1
    db.session.flush()


def sign_out_everywhere(user: StaffUser) -> None:
    """End all of the person's own sessions, at their request."""
    end_sessions(user)
    audit.record(user, "account.sign_out_everywhere", user)


def set_enabled(actor: StaffUser, user: StaffUser, enabled: bool) -> None:
    """Enable or disable an account; disabling ends its sessions at once."""
    if user.is_enabled == enabled:
        return
    user.is_enabled = enabled
    end_sessions(user)
    audit.record(actor, "account.enable" if enabled else "account.disable", user)


def set_groups(
    actor: StaffUser, user: StaffUser, groups: Iterable[AffinityGroup]
) -> None:
    """Set which of the actor's manageable groups ``user`` belongs to.

    Memberships in groups the actor cannot manage are kept. Removing any membership
    ends the account's sessions, so the lost access takes effect on the next request.

    :raises AccountError: the role needs at least one group
    """
    allowed = {group.id for group in manageable_groups(actor)}
    wanted = {group.id for group in groups if group.id in allowed}
    current = {membership.group_id for membership in user.memberships}
    keep = {gid for gid in current if gid not in allowed} | wanted
    if user.role in (Role.facilitator, Role.reviewer) and not keep:
        raise AccountError(_("Choose at least one group for this role."))
    removed, added = current - keep, keep - current
    if not removed and not added:
        return
    user.memberships = [m for m in user.memberships if m.group_id in keep] + [
        GroupMembership(user_id=user.id, group_id=gid) for gid in sorted(added)
    ]
    if removed:
        end_sessions(user)
    db.session.flush()
    audit.record(
        actor, "account.groups", user, added=sorted(added), removed=sorted(removed)
    )
