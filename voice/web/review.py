"""Results for the people allowed to read them: group workspaces and school overviews.

Every figure on these pages comes from the wave's stored protected release
(``results.stored_release``); nothing here reads answers (DESIGN invariant 2). While
a wave is open the pages show its status and nothing else, except the rounded
participation count for admins. Reviewers and facilitators reach only their own
groups, leaders and admins their own schools; anything else is a 404, whether it
exists or not (invariant 5). Every page that reveals results is written to the audit
log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from voice import audit, findings, results
from voice.extensions import db
from voice.i18n import select_language
from voice.models import (
    AffinityGroup,
    Finding,
    FindingKind,
    LeaderAnswer,
    ModerationStatus,
    Role,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
from voice.release import (
    SCHOOL,
    WITHHELD_TEXT,
    ProtectedRelease,
    ReleasedMeasure,
    figure_key,
)
from voice.web import page_figures
from voice.web import review_figures as figures
from voice.web.access import (
    SCHOOL_ROLES,
    audience_group_or_404,
    group_scope,
    role_required,
    school_scope,
    scoped_or_404,
)

bp = Blueprint("review", __name__, url_prefix="/review")

GROUP_ROLES = (Role.facilitator, Role.reviewer)
WORKSPACE_ROLES = (Role.admin, Role.facilitator, Role.reviewer)

ANSWER_LABELS = {
    LeaderAnswer.accepted: _l("Accepted"),
    LeaderAnswer.in_progress: _l("In progress"),
    LeaderAnswer.not_now: _l("Not now"),
}


@bp.context_processor
def _page_context() -> dict[str, object]:
    return {
        # The one marker of every withheld figure, in the reader's language.
        "withheld": WITHHELD_TEXT.get(select_language(), WITHHELD_TEXT["en"]),
        # CSV/JSON downloads live in the exports blueprint; link them when present.
        "can_export": "exports.release_file" in current_app.view_functions,
    }


# --- forms --------------------------------------------------------------------------


class FindingForm(FlaskForm):
    """A new finding or recommendation, saved as a draft."""

    kind = RadioField(
        _l("What is it?"),
        choices=[
            SelectChoice("finding", _l("A finding: what the data shows")),
            SelectChoice("recommendation", _l("A recommendation: what should change")),
        ],
        default="finding",
    )
    text = TextAreaField(
        _l("Text"),
        validators=[DataRequired(), Length(max=findings.MAX_FINDING_LENGTH)],
    )
    audience = StringField(
        _l("For whom (recommendations)"), validators=[Optional(), Length(max=200)]
    )
    figure_key = SelectField(_l("About which figure (optional)"), default="")


class AnswerForm(FlaskForm):
    """A leader's answer to a shared recommendation."""

    answer = RadioField(
        _l("Your answer"),
        choices=[SelectChoice(a.value, label) for a, label in ANSWER_LABELS.items()],
        validators=[DataRequired()],
    )
    note = TextAreaField(
        _l("Note to the group"),
        validators=[Optional(), Length(max=findings.MAX_FINDING_LENGTH)],
    )


class ModerationForm(FlaskForm):
    """Approve or hide one comment, with a note why."""

    comment_id = HiddenField(validators=[DataRequired()])
    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("approved", _l("Approve")),
            SelectChoice("hidden", _l("Hide")),
        ],
        validators=[DataRequired()],
    )
    note = StringField(_l("Note (why)"), validators=[Optional(), Length(max=1000)])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


# --- loading within scope -----------------------------------------------------------


def _survey_or_404(survey_id: int) -> Survey:
    """Load a survey in the reader's schools; drafts are visible to admins only."""
    survey = scoped_or_404(Survey, survey_id)
    if survey.status is SurveyStatus.draft and current_user.role is not Role.admin:
        abort(404)
    return survey


def _finding_or_404(
    survey: Survey, finding_id: int, group_id: int | None = None
) -> Finding:
    """Load a finding of this wave (and group, if given), else 404."""
    finding = db.session.get(Finding, finding_id)
    if (
        finding is None
        or finding.survey_id != survey.id
        or (group_id is not None and finding.group_id != group_id)
    ):
        abort(404)
    return finding


def _release_or_none(survey: Survey) -> ProtectedRelease | None:
    """Return the wave's release, only once the wave is closed (invariant 2)."""
    if survey.status is not SurveyStatus.closed:
        return None
    return results.stored_release(survey)


# --- earlier waves -----------------------------------------------------------------


def _previous_release(survey: Survey) -> ProtectedRelease | None:
    before = results.previous_wave(survey)
    return results.stored_release(before) if before is not None else None


@dataclass(frozen=True)
class PastRecommendation:
    """An earlier wave's recommendation, its answer, and where its figure is now."""

    finding: Finding
    wave_label: str
    #: Title of the linked figure, if the recommendation named one.
    figure: str | None
    #: The linked figure in this wave's release, for the group (None if absent).
    now: ReleasedMeasure | None
    #: Release key of the group's % favorable on the linked figure.
    now_key: str | None = None


def _past(
    survey: Survey, group: AffinityGroup, release: ProtectedRelease, lang: str
) -> list[PastRecommendation]:
    """Put the group's earlier recommendations next to this wave's released figure."""
    waves = {wave.id: wave.wave_label for wave in findings.earlier_waves(survey)}
    key = figures.group_key(group)
    past = []
    for finding in findings.past_recommendations(survey, group):
        measure_key = finding.figure_key
        known = measure_key is not None and measure_key in release.cells[SCHOOL]
        past.append(
            PastRecommendation(
                finding=finding,
                wave_label=waves.get(finding.survey_id, ""),
                figure=release.measure(measure_key).title.get(lang) if known else None,
                now=release.cells.get(key, {}).get(measure_key) if known else None,
                now_key=figure_key(key, measure_key, "fav") if known else None,
            )
        )
    return past


# --- pages --------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyRow:
    """One wave in the survey list, with the links this reader may follow."""

    survey: Survey
    groups: tuple[AffinityGroup, ...]
    #: Rounded participation while open, for admins only.
    participation: int | None
    has_release: bool


@bp.get("/")
@role_required(Role.admin, Role.leader, Role.facilitator, Role.reviewer)
def survey_list():
    """List the waves the reader may follow, newest first, with their status."""
    query = (
        sa.select(Survey)
        .where(Survey.school_id.in_(school_scope(current_user)))
        .order_by(Survey.opens_at.desc(), Survey.id.desc())
    )
    if current_user.role is not Role.admin:
        query = query.where(Survey.status != SurveyStatus.draft)
    if current_user.role in GROUP_ROLES:
        query = query.where(
            Survey.id.in_(
                sa.select(SurveyAudience.survey_id).where(
                    SurveyAudience.group_id.in_(group_scope(current_user))
                )
            )
        )
    visible = set(db.session.scalars(group_scope(current_user)))
    rows = []
    for survey in db.session.scalars(query):
        open_admin = (
            current_user.role is Role.admin and survey.status is SurveyStatus.open
        )
        rows.append(
            SurveyRow(
                survey=survey,
                groups=tuple(
                    sorted(
                        (a.group for a in survey.audiences if a.group_id in visible),
                        key=lambda g: g.name,
                    )
                ),
                participation=results.open_participation(survey)
                if open_admin
                else None,
                has_release=_release_or_none(survey) is not None,
            )
        )
    return render_template(
        "review/survey_list.html",
        rows=rows,
        school_wide=current_user.role in SCHOOL_ROLES,
        workspace_roles=WORKSPACE_ROLES,
    )


@bp.get("/surveys/<int:survey_id>/groups/<int:group_id>")
@role_required(*WORKSPACE_ROLES)
def workspace(survey_id: int, group_id: int):
    """Show one group's results for one wave, then its findings and recommendations."""
    survey = _survey_or_404(survey_id)
    group = audience_group_or_404(survey, group_id)
    lang = select_language()
    release = _release_or_none(survey)
    if release is None:
        return render_template(
            "review/not_yet.html",
            survey=survey,
            group=group,
            participation=(
                results.open_participation(survey)
                if current_user.role is Role.admin
                and survey.status is SurveyStatus.open
                else None
            ),
        )
    form = FindingForm()
    form.figure_key.choices = figures.figure_choices(release, lang)
    return _render_workspace(survey, group, release, form)


def _render_workspace(
    survey: Survey, group: AffinityGroup, release: ProtectedRelease, form: FindingForm
):
    """Render a group's released results and its findings (reading them is audited)."""
    lang = select_language()
    key = figures.group_key(group)
    released = figures.is_released(release, key)
    drawn = page_figures.workspace(
        release, _previous_release(survey), key, lang, group.display_name(lang)
    )
    items = findings.group_findings(survey, group)
    can_moderate = current_user.role in (Role.admin, Role.facilitator)
    audit.record(current_user, "results.view", survey, group=group.slug)
    db.session.commit()
    return (
        render_template(
            "review/workspace.html",
            survey=survey,
            group=group,
            release=release,
            population=release.population(key) if key in release.cells else None,
            released=released,
            **drawn,
            comments=findings.group_comments(
                survey,
                group,
                secret=current_app.config["SECRET_KEY"],
                approved_only=True,
            )
            if released
            else [],
            findings=[f for f in items if f.kind is FindingKind.finding],
            recommendations=[f for f in items if f.kind is FindingKind.recommendation],
            past=_past(survey, group, release, lang),
            form=form,
            action_form=ActionForm(),
            can_write=current_user.role in GROUP_ROLES,
            can_moderate=can_moderate,
            # Only a number, and only for a released group's moderators (invariant 3).
            pending_comments=findings.count_pending(survey, group)
            if released and can_moderate
            else 0,
            answer_labels=ANSWER_LABELS,
        ),
        422 if form.errors else 200,
    )


@bp.post("/surveys/<int:survey_id>/groups/<int:group_id>/findings")
@role_required(*GROUP_ROLES)
def add_finding(survey_id: int, group_id: int):
    """Save a draft finding or recommendation for the group."""
    survey = _survey_or_404(survey_id)
    group = audience_group_or_404(survey, group_id)
    release = _release_or_none(survey)
    if release is None:
        abort(404)
    form = FindingForm()
    form.figure_key.choices = figures.figure_choices(release, select_language())
    if not form.validate_on_submit():
        return _render_workspace(survey, group, release, form)
    try:
        findings.add_finding(
            current_user,
            survey,
            group,
            kind=FindingKind(form.kind.data),
            text=form.text.data,
            audience=form.audience.data or "",
            figure_key=form.figure_key.data or None,
            figure_keys={m.key for m in release.measures},
        )
    except findings.FindingError as error:
        form.text.errors.append(str(error))
        return _render_workspace(survey, group, release, form)
    db.session.commit()
    flash(_("Saved as a draft. Only your group can see it."), "success")
    return redirect(
        url_for("review.workspace", survey_id=survey.id, group_id=group.id) + "#ours"
    )


@bp.post("/surveys/<int:survey_id>/groups/<int:group_id>/findings/<int:finding_id>")
@role_required(*GROUP_ROLES)
def change_finding(survey_id: int, group_id: int, finding_id: int):
    """Share a draft with leadership, or delete it."""
    survey = _survey_or_404(survey_id)
    group = audience_group_or_404(survey, group_id)
    finding = _finding_or_404(survey, finding_id, group.id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if request.form.get("action") == "share":
            findings.share(current_user, finding)
            message = _("Shared with school leadership.")
        elif request.form.get("action") == "delete":
            findings.delete_draft(current_user, finding)
            message = _("Draft deleted.")
        else:
            abort(400)
    except findings.FindingError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(
        url_for("review.workspace", survey_id=survey.id, group_id=group.id) + "#ours"
    )


@bp.route(
    "/surveys/<int:survey_id>/groups/<int:group_id>/moderation",
    methods=["GET", "POST"],
)
@role_required(Role.admin, Role.facilitator)
def moderation(survey_id: int, group_id: int):
    """Let a facilitator approve or hide each comment before reviewers see it."""
    survey = _survey_or_404(survey_id)
    group = audience_group_or_404(survey, group_id)
    release = _release_or_none(survey)
    # Comments of an unreleased group are shown to nobody, moderators included
    # (DESIGN invariant 3): a handful of comments could identify their writers.
    if release is None or not figures.is_released(release, figures.group_key(group)):
        return render_template(
            "review/moderation.html", survey=survey, group=group, comments=None
        )
    form = ModerationForm()
    if form.validate_on_submit():
        try:
            comment_id = uuid.UUID(form.comment_id.data)
            findings.moderate(
                current_user,
                survey,
                group,
                comment_id,
                ModerationStatus(form.decision.data),
                form.note.data or "",
            )
        except (ValueError, findings.FindingError):
            abort(404)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(request.path + "#queue")
    if form.is_submitted():
        flash(_("Choose approve or hide, then save."), "error")
        return redirect(request.path + "#queue")
    comments = findings.group_comments(
        survey, group, secret=current_app.config["SECRET_KEY"], approved_only=False
    )
    audit.record(current_user, "comments.view", survey, group=group.slug)
    db.session.commit()
    return render_template(
        "review/moderation.html",
        survey=survey,
        group=group,
        comments=comments,
        pending=[c for c in comments if c.moderation is ModerationStatus.pending],
        decided=[c for c in comments if c.moderation is not ModerationStatus.pending],
        support=group.school.support_resources or {},
        titles={m.key.split(":", 1)[1]: m.title for m in release.items},
    )


@bp.get("/surveys/<int:survey_id>")
@role_required(Role.admin, Role.leader)
def overview(survey_id: int):
    """Show leaders and admins all released groups side by side, and what they shared."""
    survey = _survey_or_404(survey_id)
    lang = select_language()
    release = _release_or_none(survey)
    if release is None:
        return render_template(
            "review/not_yet.html",
            survey=survey,
            group=None,
            participation=(
                results.open_participation(survey)
                if current_user.role is Role.admin
                and survey.status is SurveyStatus.open
                else None
            ),
        )
    drawn = page_figures.overview(release, lang)
    shared = findings.shared_findings(survey)
    group_rows = {g.slug: g for g in _survey_groups(survey)}
    audit.record(current_user, "results.view", survey, scope="school")
    db.session.commit()
    return render_template(
        "review/overview.html",
        survey=survey,
        release=release,
        **drawn,
        shared=shared,
        group_rows=group_rows,
        comments={
            p.group: findings.group_comments(
                survey,
                group_rows[p.group],
                secret=current_app.config["SECRET_KEY"],
                approved_only=True,
            )
            for p in drawn["groups"]
            if p.participation is not None and p.group in group_rows
        },
        answer_form=AnswerForm(),
        answer_labels=ANSWER_LABELS,
        can_answer=current_user.role is Role.leader,
    )


def _survey_groups(survey: Survey) -> list[AffinityGroup]:
    """Return the groups a wave went to, by name."""
    return sorted((a.group for a in survey.audiences), key=lambda g: g.name)


@bp.post("/surveys/<int:survey_id>/findings/<int:finding_id>/answer")
@role_required(Role.leader)
def answer(survey_id: int, finding_id: int):
    """Record a leader's answer to a shared recommendation."""
    survey = _survey_or_404(survey_id)
    finding = _finding_or_404(survey, finding_id)
    if finding.shared_at is None:
        abort(404)  # a draft does not exist as far as leaders can tell
    form = AnswerForm()
    back = url_for("review.overview", survey_id=survey.id) + f"#rec-{finding.id}"
    if not form.validate_on_submit():
        flash(_("Please choose an answer."), "error")
        return redirect(back)
    try:
        findings.answer(
            current_user, finding, LeaderAnswer(form.answer.data), form.note.data or ""
        )
    except findings.FindingError as error:
        flash(str(error), "error")
        return redirect(back)
    db.session.commit()
    flash(_("Your answer is saved. The group will see it."), "success")
    return redirect(back)
