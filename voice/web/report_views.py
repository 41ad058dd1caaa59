"""Leadership PDFs to download: the school summary and each group's summary.

Leaders and admins get the school summary of their schools; group summaries also go
to the group's facilitators and student reviewers. Anything outside the reader's
scope is a 404, whether it exists or not (DESIGN invariant 5), and every download is
written to the audit log.
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, send_file
from flask_login import current_user

from voice import audit, report_service, reports
from voice.extensions import db
from voice.i18n import select_language
from voice.models import AffinityGroup, Role, Survey, SurveyStatus
from voice.web.access import (
    audience_group_or_404,
    role_required,
    scoped_or_404,
)

bp = Blueprint("reports", __name__, url_prefix="/review")

GROUP_REPORT_ROLES = (Role.admin, Role.leader, Role.facilitator, Role.reviewer)


def _closed_survey_or_404(survey_id: int) -> Survey:
    """Load a wave in the reader's schools whose release is published, else 404."""
    survey = scoped_or_404(Survey, survey_id)
    if survey.status is not SurveyStatus.closed:
        abort(404)
    return survey


def _pdf_response(survey: Survey, group: AffinityGroup | None):
    """Render the report in the reader's language, log the download, send it."""
    lang = select_language()
    try:
        built = report_service.build_pdf(survey, group=group, lang=lang)
    except report_service.ReportUnavailable:
        abort(404)
    except reports.ReportError:
        abort(503)
    audit.record(
        current_user,
        "report.download",
        survey,
        scope=built.scope,
        lang=lang,
    )
    db.session.commit()
    return send_file(
        io.BytesIO(built.pdf),
        mimetype="application/pdf",
        download_name=built.filename,
        max_age=0,
    )


@bp.get("/surveys/<int:survey_id>/summary.pdf")
@role_required(Role.admin, Role.leader)
def school_summary(survey_id: int):
    """Download the school summary of a wave as a PDF."""
    return _pdf_response(_closed_survey_or_404(survey_id), None)


@bp.get("/surveys/<int:survey_id>/groups/<int:group_id>/summary.pdf")
@role_required(*GROUP_REPORT_ROLES)
def group_summary(survey_id: int, group_id: int):
    """Download one group's summary of a wave as a PDF."""
    survey = _closed_survey_or_404(survey_id)
    return _pdf_response(survey, audience_group_or_404(survey, group_id))
