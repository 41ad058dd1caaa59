"""Leadership reports from the database: load, render, store and queue for email.

The glue between the pure :mod:`voice.reports` and the app. It loads a wave's stored
protected release (the only source of figures, DESIGN invariant 2) and the findings
groups chose to share, renders ``templates/report/summary.html`` in the reader's
language, turns it into a PDF with :func:`voice.reports.render_pdf`, and, for
delivery, stores a :class:`~voice.models.Report` and queues one email per leader.

Writes add and flush; the view or command commits (STYLE rule 4).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from voice import findings, mail, reports, results
from voice.extensions import db
from voice.models import (
    AccessMode,
    AffinityGroup,
    Finding,
    FindingKind,
    Language,
    OutboundMail,
    Report,
    Role,
    School,
    StaffUser,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
from voice.publishing import codes_issued
from voice.release import GROUP, SCHOOL

#: ``Report.scope`` of a school summary; a group summary is ``group:<group id>``.
SCHOOL_SCOPE = "school"


class ReportUnavailable(reports.ReportError):
    """The wave has no published release yet, so there is nothing to report."""


@dataclass(frozen=True)
class BuiltReport:
    """A rendered PDF with what it was built from."""

    survey: Survey
    group: AffinityGroup | None
    lang: str
    release_sha256: str
    pdf: bytes

    @property
    def scope(self) -> str:
        """Return the ``Report.scope`` value of this report."""
        return SCHOOL_SCOPE if self.group is None else f"group:{self.group.id}"

    @property
    def filename(self) -> str:
        """Return a download name that says what the file is."""
        part = "school" if self.group is None else self.group.slug
        return f"{self.survey.slug}-{part}-summary-{self.lang}.pdf"


def report_languages() -> tuple[str, ...]:
    """Return the languages reports can be written in."""
    return tuple(current_app.config["LANGUAGES"])


def build_context(
    survey: Survey, *, group: AffinityGroup | None, lang: str
) -> tuple[reports.ReportContext, str]:
    """Lay out a report of a closed wave from its stored release.

    :return: the context and the release's content hash
    :raises ReportUnavailable: if the wave is not closed or has no release
    :raises reports.ReportError: if the group is not part of the release
    """
    release = results.stored_release(survey)
    if survey.status is not SurveyStatus.closed or release is None:
        raise ReportUnavailable(_("This wave has no published results yet."))
    scope = SCHOOL if group is None else f"{GROUP}:{group.slug}"
    with force_locale(lang):
        context = reports.build_report_context(
            release,
            scope=scope,
            lang=lang,
            findings=_shared(survey),
            school=reports.SchoolInfo(survey.school.name, survey.school.district),
            survey_meta=reports.SurveyMeta(
                title=survey.title,
                wave_label=survey.wave_label,
                generated_on=datetime.now(UTC).date(),
                invited=_invited(survey, group),
            ),
            gettext=_,
        )
    return context, release.sha256


def render_html(context: reports.ReportContext) -> str:
    """Render a report's HTML in the report's own language."""
    with force_locale(context.lang):
        return render_template("report/summary.html", report=context)


def build_pdf(
    survey: Survey, *, group: AffinityGroup | None = None, lang: str = "en"
) -> BuiltReport:
    """Render one report to PDF (nothing is stored).

    :raises ReportUnavailable: if the wave has no published release
    :raises reports.ReportError: if rendering fails or runs out of time or memory
    """
    context, release_sha = build_context(survey, group=group, lang=lang)
    pdf = reports.render_pdf(
        render_html(context),
        timeout=current_app.config.get("REPORT_TIMEOUT", reports.RENDER_TIMEOUT),
        memory_mb=current_app.config.get("REPORT_MEMORY_MB", reports.RENDER_MEMORY_MB),
    )
    return BuiltReport(survey, group, lang, release_sha, pdf)


def store(built: BuiltReport) -> Report:
    """Keep a generated PDF so the emailed file can be found again (flush only)."""
    row = Report(
        survey_id=built.survey.id,
        scope=built.scope,
        language=Language(built.lang),
        release_sha256=built.release_sha256,
        sha256=hashlib.sha256(built.pdf).hexdigest(),
        pdf=built.pdf,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _shared(survey: Survey) -> list[reports.SharedFinding]:
    """Return what groups shared with leadership, as plain values."""
    return [
        reports.SharedFinding(
            group=f"{GROUP}:{finding.group.slug}",
            kind=finding.kind.value,
            text=finding.text,
            audience=finding.audience,
            answer=finding.leader_answer.value if finding.leader_answer else None,
            answer_note=finding.leader_note,
        )
        for finding in findings.shared_findings(survey)
    ]


def _invited(survey: Survey, group: AffinityGroup | None) -> int | None:
    """Return the ballot codes printed for the scope (None for open links)."""
    if survey.access_mode is not AccessMode.codes:
        return None
    issued = codes_issued(survey)
    if group is None:
        return sum(issued.values()) or None
    audience_id = db.session.scalar(
        sa.select(SurveyAudience.id).where(
            SurveyAudience.survey_id == survey.id,
            SurveyAudience.group_id == group.id,
        )
    )
    return issued.get(audience_id) or None


# --- delivery -----------------------------------------------------------------------


def leaders_of(school: School) -> list[StaffUser]:
    """Return the enabled leaders who may read the school's reports (invariant 5)."""
    return list(
        db.session.scalars(
            sa.select(StaffUser)
            .where(
                StaffUser.role == Role.leader,
                StaffUser.is_enabled.is_(True),
                StaffUser.password_hash.is_not(None),
                sa.or_(
                    StaffUser.school_id == school.id,
                    sa.and_(
                        StaffUser.district != "",
                        StaffUser.district == school.district,
                    ),
                ),
            )
            .order_by(StaffUser.email)
        )
    )


def queue_report(
    survey: Survey, *, group: AffinityGroup | None = None
) -> list[OutboundMail]:
    """Render the report once per language its leaders read, store it, queue mails.

    Flush only; the caller commits, then calls :func:`voice.mail.deliver_pending`.

    :return: the queued mails (none when the school has no leader)
    :raises ReportUnavailable: if the wave has no published release
    """
    recipients = leaders_of(survey.school)
    # Render every language first, so a failed render leaves nothing half-queued.
    pdfs = {
        lang: build_pdf(survey, group=group, lang=lang)
        for lang in dict.fromkeys(leader.language.value for leader in recipients)
    }
    stored = {lang: store(built) for lang, built in pdfs.items()}
    queued = []
    for leader in recipients:
        lang = leader.language.value
        with force_locale(lang):
            subject, body = _message(survey, group, leader)
        queued.append(
            mail.queue(
                recipient=leader.email, subject=subject, body=body, report=stored[lang]
            )
        )
    return queued


def queue_release_reports(survey: Survey) -> list[OutboundMail]:
    """Send the school summary to the school's leaders when a wave's release is out.

    Called by ``voice close-due`` after it closes a wave (flush only).
    """
    return queue_report(survey)


def queue_new_recommendation_reports(
    *, errors: list[str] | None = None
) -> list[OutboundMail]:
    """Send a group summary wherever a group shared recommendations since its last one.

    Meant for the cron run of ``voice close-due``: a group's sharing time is staff
    activity, never a student's, so mailing on it reveals nothing about students.

    :param errors: when given, a report that cannot be rendered is described here
        and skipped (it is tried again on the next run); otherwise its error is raised
    :raises reports.ReportError: if a report cannot be rendered and ``errors`` is None
    """
    latest_shared = (
        sa.select(
            Finding.survey_id,
            Finding.group_id,
            sa.func.max(Finding.shared_at).label("shared_at"),
        )
        .where(
            Finding.kind == FindingKind.recommendation,
            Finding.shared_at.is_not(None),
        )
        .group_by(Finding.survey_id, Finding.group_id)
    )
    queued = []
    for survey_id, group_id, shared_at in db.session.execute(latest_shared).all():
        last_sent = db.session.scalar(
            sa.select(sa.func.max(Report.generated_at)).where(
                Report.survey_id == survey_id, Report.scope == f"group:{group_id}"
            )
        )
        if last_sent is not None and _aware(last_sent) >= _aware(shared_at):
            continue
        survey = db.session.get(Survey, survey_id)
        group = db.session.get(AffinityGroup, group_id)
        if survey is None or group is None or survey.status is not SurveyStatus.closed:
            continue
        try:
            queued.extend(queue_report(survey, group=group))
        except reports.ReportError as error:
            if errors is None:
                raise
            errors.append(f"{survey.slug}, {group.slug}: {error}")
    return queued


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _message(
    survey: Survey, group: AffinityGroup | None, leader: StaffUser
) -> tuple[str, str]:
    """Write a report email: who it is for, what is attached, where to read more.

    Deliberately no figure and no student's words: the body says only what the
    attachment is, so it depends on no single submission (issue 6).
    """
    lang = leader.language.value
    base = current_app.config["BASE_URL"].rstrip("/")
    if group is None:
        subject = _(
            "%(survey)s, %(wave)s: school summary",
            survey=survey.title,
            wave=survey.wave_label,
        )
        link = f"{base}/review/surveys/{survey.id}?lang={lang}"
        what = _(
            "The results of %(survey)s (%(wave)s) at %(school)s are published. "
            "The school summary is attached as a PDF.",
            survey=survey.title,
            wave=survey.wave_label,
            school=survey.school.name,
        )
    else:
        name = group.display_name(lang)
        subject = _(
            "%(group)s shared recommendations: %(survey)s, %(wave)s",
            group=name,
            survey=survey.title,
            wave=survey.wave_label,
        )
        link = f"{base}/review/surveys/{survey.id}?lang={lang}#recommendations"
        what = _(
            "%(group)s shared new recommendations with leadership after reading its "
            "results of %(survey)s (%(wave)s). The group's summary, with its "
            "recommendations, is attached as a PDF.",
            group=name,
            survey=survey.title,
            wave=survey.wave_label,
        )
    body = "\n\n".join(
        (
            _("Hello %(name)s,", name=leader.name),
            what,
            _(
                "Read it online and answer the recommendations here: %(link)s",
                link=link,
            ),
            _(
                "Every figure passed small-cell suppression; withheld figures protect "
                "students' anonymity."
            ),
            _("Student Voice"),
        )
    )
    return subject, body + "\n"
