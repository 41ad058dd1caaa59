"""CSV and JSON downloads of a closed wave's protected release.

DESIGN invariants 2, 3 and 5: the files come from the stored release only, the same
figures and the same withheld set as every page, and each reader gets only the
populations their role may see. School-wide roles (admin, leader) get the whole
lattice; a facilitator or student reviewer gets their own groups' rows and the whole
school as a comparison. No query parameter other than ``lang`` is read, so nothing
in the URL can lower ``k`` or ask for raw data.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort
from flask_login import current_user

from voice import audit, exports, results
from voice.extensions import db
from voice.i18n import select_language
from voice.models import AffinityGroup, Role, Survey, SurveyAudience, SurveyStatus
from voice.release import ProtectedRelease
from voice.web.access import SCHOOL_ROLES, group_scope, role_required, scoped_or_404

bp = Blueprint("exports", __name__, url_prefix="/exports")

_FORMATS = {
    "csv": ("text/csv; charset=utf-8", exports.to_csv),
    "json": ("application/json", exports.to_json),
}


def _readable_groups(survey: Survey) -> list[str] | None:
    """Return the group slugs the reader may see in this wave; None means all.

    :raises werkzeug.exceptions.NotFound: if a group-scoped reader has no group in it
    """
    if current_user.role in SCHOOL_ROLES:
        return None
    slugs = list(
        db.session.scalars(
            sa.select(AffinityGroup.slug)
            .join(SurveyAudience, SurveyAudience.group_id == AffinityGroup.id)
            .where(
                SurveyAudience.survey_id == survey.id,
                AffinityGroup.id.in_(group_scope(current_user)),
            )
        )
    )
    if not slugs:
        abort(404)
    return slugs


def _release_or_404(survey: Survey) -> ProtectedRelease:
    """Return the closed wave's release; an open or draft wave has none to give."""
    release = (
        results.stored_release(survey) if survey.status is SurveyStatus.closed else None
    )
    if release is None:
        abort(404)
    return release


@bp.get("/surveys/<int:survey_id>/release.<fmt>")
@role_required(Role.admin, Role.leader, Role.facilitator, Role.reviewer)
def release_file(survey_id: int, fmt: str) -> Response:
    """Download the wave's released figures as CSV or JSON."""
    if fmt not in _FORMATS:
        abort(404)
    survey = scoped_or_404(Survey, survey_id)
    groups = _readable_groups(survey)
    release = _release_or_404(survey)
    lang = select_language()
    mimetype, write = _FORMATS[fmt]
    body = write(release, release.visible_populations(groups), lang)
    audit.record(
        current_user,
        "release.export",
        survey,
        format=fmt,
        release=release.sha256,
        groups=groups if groups is not None else "all",
    )
    db.session.commit()
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{survey.slug}-release.{fmt}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
