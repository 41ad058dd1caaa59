"""A group's comment themes: shown in the workspace, renamed and merged by moderators.

Themes live in the wave's stored release (``voice.release_themes``); the workspace
partial ``templates/review/_themes.html`` reads them through :func:`theme_panel`.
Facilitators of the group and admins may rename a theme, merge two, undo either,
and publish the quotes their approvals allow; each of these stores a new release
version with the same figures (DESIGN invariant 2) and is audited (invariant 5).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length, Optional

from voice import release_themes, results
from voice.extensions import db
from voice.models import (
    AffinityGroup,
    Role,
    StaffUser,
    Survey,
    SurveyStatus,
)
from voice.release import GROUP, ProtectedRelease
from voice.web.access import (
    audience_group_or_404,
    role_required,
    scoped_or_404,
)

bp = Blueprint("themes", __name__, url_prefix="/review")

MODERATOR_ROLES = (Role.admin, Role.facilitator)
ACTIONS = ("rename", "merge", "reset", "quotes")


class ThemeActionForm(FlaskForm):
    """One change to a group's themes; which fields count depends on ``action``."""

    action = HiddenField(validators=[DataRequired()])
    theme_key = HiddenField(validators=[Optional(), Length(max=120)])
    label = StringField(
        validators=[Optional(), Length(max=release_themes.MAX_LABEL_LENGTH)]
    )
    into = StringField(validators=[Optional(), Length(max=120)])


def population_key(group: AffinityGroup) -> str:
    """Return the release key of a group's population."""
    return f"{GROUP}:{group.slug}"


@bp.app_template_global("theme_panel")
def theme_panel(
    survey: Survey,
    group: AffinityGroup,
    release: ProtectedRelease,
    lang: str,
    *,
    can_moderate: bool = False,
) -> release_themes.ThemePanel:
    """Return the group's themes from the stored release, for the workspace partial."""
    return release_themes.theme_panel(
        survey, release, population_key(group), lang, for_moderator=can_moderate
    )


def _wave_and_group(survey_id: int, group_id: int) -> tuple[Survey, AffinityGroup]:
    """Load a closed wave and one of its groups in the reader's scope, else 404."""
    survey = scoped_or_404(Survey, survey_id)
    group = audience_group_or_404(survey, group_id)
    if survey.status is not SurveyStatus.closed:
        abort(404)
    if results.stored_release(survey) is None:
        abort(404)
    return survey, group


@bp.post("/surveys/<int:survey_id>/groups/<int:group_id>/themes")
@role_required(*MODERATOR_ROLES)
def change_theme(survey_id: int, group_id: int):
    """Rename, merge or reset one of the group's themes, or publish approved quotes."""
    survey, group = _wave_and_group(survey_id, group_id)
    form = ThemeActionForm()
    if not form.validate_on_submit() or form.action.data not in ACTIONS:
        abort(400)
    population = population_key(group)
    key = form.theme_key.data or ""
    try:
        if form.action.data == "rename":
            release_themes.rename_theme(
                _actor(), survey, population, key, form.label.data or ""
            )
            message = _("Theme renamed.")
        elif form.action.data == "merge":
            release_themes.merge_themes(
                _actor(), survey, population, key, form.into.data or ""
            )
            message = _("Themes merged.")
        elif form.action.data == "reset":
            release_themes.reset_theme(_actor(), survey, population, key)
            message = _("The theme is back as it was found.")
        else:
            changed = release_themes.republish(
                survey, actor=_actor(), reason="approved quotes"
            )
            message = (
                _("The themes now quote the comments you approved.")
                if changed is not None
                else _("The quotes were already up to date.")
            )
    except release_themes.ThemeError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(
        url_for("review.workspace", survey_id=survey.id, group_id=group.id, **_lang())
        + "#themes"
    )


def _actor() -> StaffUser:
    """Return the signed-in account as a model row (not the request proxy)."""
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _lang() -> dict[str, str]:
    """Keep a language chosen in the URL across the redirect."""
    lang = request.args.get("lang")
    return {"lang": lang} if lang else {}
