"""Staff accounts: invitations, the account list, access changes, sessions, audit log.

Thin views (STYLE rule 3): each parses a form, calls one function of
:mod:`voice.accounts`, commits once and redirects. Who may manage whom is decided
there; a row outside the actor's reach is a 404, so ids reveal nothing.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length
from wtforms.widgets import CheckboxInput, ListWidget

from voice import accounts, mail
from voice.extensions import db, limiter
from voice.i18n import select_language
from voice.models import AffinityGroup, AuditEvent, Language, Role, StaffUser
from voice.web.access import role_required, school_scope, schools_in_scope

bp = Blueprint("accounts", __name__, url_prefix="/staff")

#: Audit events shown per page.
AUDIT_PAGE_SIZE = 50

ROLE_LABELS = accounts.ROLE_LABELS

log = logging.getLogger(__name__)


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes, usable without JavaScript."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class InviteForm(FlaskForm):
    """Who to invite, with which role and groups."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)],
    )
    role = SelectField(_l("Role"))
    school = SelectField(_l("School"), coerce=int)
    groups = MultiCheckboxField(_l("Groups"), coerce=int)
    language = SelectField(
        _l("Language"),
        choices=[SelectChoice("en", "English"), SelectChoice("es", "Español")],
    )


class GroupsForm(FlaskForm):
    """Which groups an account belongs to."""

    groups = MultiCheckboxField(_l("Groups"), coerce=int)


class AcceptInviteForm(FlaskForm):
    """Choose a password for a new account."""

    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=200)]
    )
    confirm = PasswordField(
        _l("Type it again"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
    )


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def _group_choices(groups: list[AffinityGroup], lang: str) -> list[SelectChoice]:
    several_schools = len({group.school_id for group in groups}) > 1
    return [
        SelectChoice(
            group.id,
            f"{group.display_name(lang)} ({group.school.name})"
            if several_schools
            else group.display_name(lang),
        )
        for group in groups
    ]


def _managed_or_404(user_id: int) -> StaffUser:
    """Load an account the signed-in person may manage, else 404 (exists or not)."""
    user = db.session.get(StaffUser, user_id)
    if user is None or not accounts.can_manage(current_user, user):
        abort(404)
    return user


@bp.get("/accounts")
@role_required(Role.admin, Role.facilitator)
def account_list():
    """List the accounts the signed-in person manages."""
    users = db.session.scalars(accounts.manageable_accounts(current_user)).all()
    return render_template(
        "accounts/account_list.html",
        users=users,
        role_labels=ROLE_LABELS,
        can_invite=bool(accounts.invitable_roles(current_user)),
    )


@bp.route("/accounts/invite", methods=["GET", "POST"])
@role_required(Role.admin, Role.facilitator)
def invite():
    """Create an account and show its one-time invitation link once."""
    lang = select_language()
    form = InviteForm()
    roles = accounts.invitable_roles(current_user)
    form.role.choices = [SelectChoice(r.value, str(ROLE_LABELS[r])) for r in roles]
    groups = accounts.manageable_groups(current_user)
    form.groups.choices = _group_choices(groups, lang)
    schools = schools_in_scope(current_user)
    form.school.choices = [SelectChoice(s.id, s.name) for s in schools]
    if request.method == "GET" and len(roles) == 1:
        form.role.data = roles[0].value
    if form.validate_on_submit():
        school = next(s for s in schools if s.id == form.school.data)
        chosen = [g for g in groups if g.id in set(form.groups.data or ())]
        try:
            invitation = accounts.invite(
                current_user,
                email=form.email.data,
                name=form.name.data,
                role=Role(form.role.data),
                school=school,
                groups=chosen,
                language=Language(form.language.data),
            )
        except accounts.AccountError as error:
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            return _invited(invitation)
    return (
        render_template(
            "accounts/invite.html", form=form, single_school=len(schools) == 1
        ),
        422 if form.errors else 200,
    )


@bp.route("/accounts/<int:user_id>", methods=["GET", "POST"])
@role_required(Role.admin, Role.facilitator)
def account_detail(user_id: int):
    """Show one account and change its groups."""
    user = _managed_or_404(user_id)
    form = GroupsForm()
    groups = accounts.manageable_groups(current_user)
    form.groups.choices = _group_choices(groups, select_language())
    if request.method == "GET":
        form.groups.data = [m.group_id for m in user.memberships]
    if form.validate_on_submit():
        chosen = [g for g in groups if g.id in set(form.groups.data or ())]
        try:
            accounts.set_groups(current_user, user, chosen)
        except accounts.AccountError as error:
            form.groups.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("Groups saved."), "success")
            return redirect(url_for("accounts.account_detail", user_id=user.id))
    return (
        render_template(
            "accounts/account_detail.html",
            user=user,
            form=form,
            action_form=ActionForm(),
            role_labels=ROLE_LABELS,
            group_scoped=user.role in (Role.facilitator, Role.reviewer),
        ),
        422 if form.errors else 200,
    )


@bp.post("/accounts/<int:user_id>/enabled")
@role_required(Role.admin, Role.facilitator)
def set_enabled(user_id: int):
    """Disable an account (ending its sessions) or enable it again."""
    user = _managed_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    enable = request.form.get("enable") == "1"
    accounts.set_enabled(current_user, user, enable)
    db.session.commit()
    flash(
        _("The account is enabled.")
        if enable
        else _("The account is disabled and signed out everywhere."),
        "success",
    )
    return redirect(url_for("accounts.account_detail", user_id=user.id))


@bp.post("/accounts/<int:user_id>/invitation")
@role_required(Role.admin, Role.facilitator)
def renew_invitation(user_id: int):
    """Issue a new invitation link, for a person who lost or let theirs expire."""
    user = _managed_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        invitation = accounts.renew_invitation(current_user, user)
    except accounts.AccountError as error:
        flash(str(error), "error")
        return redirect(url_for("accounts.account_detail", user_id=user.id))
    db.session.commit()
    return _invited(invitation)


def _invited(invitation: accounts.Invitation) -> str:
    """Email a committed invitation, then show the inviter how it went and the link.

    Rendered, not redirected: the token exists only in this response and the email.
    """
    link = url_for("accounts.accept_invite", token=invitation.token, _external=True)
    try:
        sent = accounts.mail_invitation(
            current_user,
            invitation.user,
            link,
            mail.MailSettings.from_config(current_app.config),
        )
    except mail.MailError as error:
        log.warning(
            "invitation mail to account %s failed: %s", invitation.user.id, error
        )
        delivery = "failed"
    else:
        delivery = "sent" if sent else "outbox"
    return render_template(
        "accounts/invited.html", user=invitation.user, link=link, delivery=delivery
    )


def _invite_rate_key() -> str:
    # Per link, never per client address (invariant 1 applies to staff too).
    return "invite:" + (request.view_args or {}).get("token", "")[:12]


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", key_func=_invite_rate_key, methods=["POST"])
@limiter.limit("100 per minute", key_func=lambda: "invite:all", methods=["POST"])
def accept_invite(token: str):
    """Let an invited person choose a password, then sign them in."""
    try:
        user = accounts.find_invitation(token)
    except accounts.InvitationInvalid as error:
        return render_template("accounts/invite_invalid.html", message=str(error)), 404
    if current_user.is_authenticated:
        logout_user()
    form = AcceptInviteForm()
    if form.validate_on_submit():
        try:
            accounts.accept_invitation(token, form.password.data)
        except accounts.AccountError as error:
            form.password.errors.append(str(error))
        else:
            login_user(user)
            db.session.commit()
            flash(_("Welcome! Your password is set."), "success")
            return redirect(url_for("review.survey_list"))
    return (
        render_template("accounts/accept_invite.html", form=form, user=user),
        422 if form.errors else 200,
    )


@bp.get("/account")
@login_required
def my_account():
    """Show the signed-in person their account and a way to end every session."""
    return render_template(
        "accounts/my_account.html",
        action_form=ActionForm(),
        role_labels=ROLE_LABELS,
    )


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """End this person's sessions on every device, this one included."""
    if not ActionForm().validate_on_submit():
        abort(400)
    accounts.sign_out_everywhere(current_user)
    db.session.commit()
    logout_user()
    flash(_("You are signed out on every device."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/audit")
@role_required(Role.admin)
def audit_log():
    """Show admins who did what, and when, at their schools."""
    page = request.args.get("page", 1, type=int) or 1
    actors = sa.select(StaffUser.id).where(
        StaffUser.school_id.in_(school_scope(current_user))
        | ((StaffUser.district == current_user.district) & (StaffUser.district != ""))
    )
    pagination = db.paginate(
        sa.select(AuditEvent)
        .where(AuditEvent.actor_id.in_(actors))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()),
        page=max(page, 1),
        per_page=AUDIT_PAGE_SIZE,
        error_out=False,
    )
    return render_template("accounts/audit_log.html", pagination=pagination)
