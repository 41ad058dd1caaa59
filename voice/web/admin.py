"""Admin pages: create and publish waves, hand out links, posters and ballot codes.

Views are thin: parse the form, call :mod:`voice.publishing`, commit once, respond.
Every row is loaded through :func:`voice.web.access.scoped_or_404`, so another
school's ids answer 404 exactly like ids that do not exist (invariant 5).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from voice import publishing, qr, reports
from voice.extensions import db
from voice.instruments import Instrument, load_library
from voice.models import (
    AccessMode,
    AffinityGroup,
    Role,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
from voice.web.access import (
    role_required,
    school_scope,
    schools_in_scope,
    scoped_or_404,
)
from voice.web.admin_forms import (
    ActionForm,
    CodesForm,
    GroupForm,
    SurveyForm,
    WindowForm,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")

admin_only = role_required(Role.admin)


@bp.context_processor
def _clock() -> dict[str, datetime]:
    return {"now": datetime.now(UTC)}


def _library() -> dict[str, Instrument]:
    return load_library(current_app.config["SURVEYS_DIR"])


def _base_url() -> str:
    return current_app.config["BASE_URL"]


def _audience_or_404(survey: Survey, group_id: int) -> SurveyAudience:
    for audience in survey.audiences:
        if audience.group_id == group_id:
            return audience
    abort(404)


# --- surveys ----------------------------------------------------------------------


@bp.get("/")
@bp.get("/surveys")
@admin_only
def survey_list():
    """List the waves of the admin's schools with their rounded participation."""
    surveys = list(
        db.session.scalars(
            sa.select(Survey)
            .where(Survey.school_id.in_(school_scope(current_user)))
            .order_by(Survey.opens_at.desc(), Survey.id.desc())
        )
    )
    return render_template(
        "admin/survey_list.html",
        surveys=surveys,
        participation=publishing.participation(s.id for s in surveys),
        show_school=len({s.school_id for s in surveys}) > 1,
    )


@bp.route("/surveys/new", methods=["GET", "POST"])
@admin_only
def create_survey():
    """Create a draft wave from an instrument of the library."""
    library = _library()
    schools = schools_in_scope(current_user)
    if not schools:
        abort(404)
    form = SurveyForm()
    lang = current_user.language.value
    form.instrument.choices = [
        SelectChoice(key, f"{inst.title.get(lang)} (v{inst.version})")
        for key, inst in library.items()
    ]
    form.school.choices = [SelectChoice(s.id, s.name) for s in schools]
    if len(schools) == 1:
        form.school.data = schools[0].id
    groups = list(
        db.session.scalars(
            sa.select(AffinityGroup)
            .where(AffinityGroup.school_id.in_(s.id for s in schools))
            .order_by(AffinityGroup.name)
        )
    )
    form.groups.choices = [SelectChoice(group.id, group.name) for group in groups]
    form.languages.choices = [
        SelectChoice(code, name)
        for code, name in (("en", "English"), ("es", "Español"))
        if code in current_app.config["LANGUAGES"]
    ]
    if not form.is_submitted():
        opens = datetime.now(UTC).replace(second=0, microsecond=0)
        form.opens_at.data = opens.replace(tzinfo=None)
        form.closes_at.data = (opens + timedelta(days=14)).replace(tzinfo=None)
        form.min_cell.data = current_app.config["MIN_CELL"]
        form.languages.data = [choice.value for choice in form.languages.choices]
    if form.validate_on_submit():
        school = next(s for s in schools if s.id == form.school.data)
        plan = publishing.SurveyPlan(
            school=school,
            instrument=library[form.instrument.data],
            title=form.title.data,
            wave_label=form.wave_label.data,
            groups=tuple(g for g in groups if g.id in form.groups.data),
            languages=tuple(form.languages.data),
            opens_at=form.opens_at.data,
            closes_at=form.closes_at.data,
            min_cell=form.min_cell.data,
            access_mode=AccessMode(form.access_mode.data),
        )
        try:
            survey = publishing.create_survey(
                plan,
                actor=current_user,
                supported_languages=current_app.config["LANGUAGES"],
            )
        except publishing.PublishingError as error:
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash(_("Draft created. Check the groups, then publish."), "success")
            return redirect(url_for("admin.survey_detail", survey_id=survey.id))
    return render_template(
        "admin/create_survey.html",
        form=form,
        library=library,
        groups=groups,
        show_school=len(schools) > 1,
    ), 422 if form.errors or form.form_errors else 200


@bp.get("/surveys/<int:survey_id>")
@admin_only
def survey_detail(survey_id: int):
    """Show a wave: its window, group readiness, links, posters and codes."""
    survey = scoped_or_404(Survey, survey_id)
    audiences = sorted(survey.audiences, key=lambda a: a.group.name.casefold())
    window = WindowForm(
        opens_at=survey.opens_at.replace(tzinfo=None),
        closes_at=survey.closes_at.replace(tzinfo=None),
    )
    return render_template(
        "admin/survey_detail.html",
        survey=survey,
        audiences=audiences,
        readiness={
            a.id: publishing.readiness(a.group.expected_size, survey.min_cell)
            for a in audiences
        },
        links={a.id: publishing.audience_link(_base_url(), a) for a in audiences},
        issued=publishing.codes_issued(survey),
        participation=publishing.participation([survey.id])[survey.id],
        action=ActionForm(),
        window=window,
    )


@bp.post("/surveys/<int:survey_id>/publish")
@admin_only
def publish_survey(survey_id: int):
    """Open a draft wave to students."""
    survey = scoped_or_404(Survey, survey_id)
    return _act(survey, publishing.publish, _("The survey is published."))


@bp.post("/surveys/<int:survey_id>/close")
@admin_only
def close_survey(survey_id: int):
    """Close an open wave now and build its release."""
    survey = scoped_or_404(Survey, survey_id)
    response = _act(survey, publishing.close, _("The survey is closed."))
    if survey.status is SurveyStatus.closed:
        publishing.compact_storage()
    return response


def _act(survey: Survey, action, done: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action(survey, actor=current_user)
    except publishing.PublishingError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("admin.survey_detail", survey_id=survey.id))


@bp.post("/surveys/<int:survey_id>/window")
@admin_only
def reschedule_survey(survey_id: int):
    """Move the opening or closing time of a wave that has not closed."""
    survey = scoped_or_404(Survey, survey_id)
    form = WindowForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("admin.survey_detail", survey_id=survey.id))
    return _act(
        survey,
        lambda s, actor: publishing.reschedule(
            s, form.opens_at.data, form.closes_at.data, actor=actor
        ),
        _("The window is saved."),
    )


# --- posters and codes ------------------------------------------------------------


def _poster_texts(survey: Survey, group: AffinityGroup) -> list[dict[str, str]]:
    """Return the poster's words in each of the survey's languages."""
    texts = []
    for lang in survey.languages:
        with force_locale(lang):
            texts.append(
                {
                    "lang": lang,
                    "group": group.display_name(lang),
                    "call": _("Your voice counts. Tell us how school is going."),
                    "scan": _(
                        "Scan the code with your phone's camera, or type the address "
                        "below."
                    ),
                    "anonymous": _(
                        "It is anonymous: your name, account, device, address and the "
                        "time you answer are never stored, and small groups are never "
                        "shown."
                    ),
                    "label": _("QR code that opens the survey"),
                }
            )
    return texts


@bp.get("/surveys/<int:survey_id>/groups/<int:group_id>/poster")
@admin_only
def poster(survey_id: int, group_id: int):
    """Show a print-ready QR poster of one group's link."""
    survey = scoped_or_404(Survey, survey_id)
    audience = _audience_or_404(survey, group_id)
    link = publishing.audience_link(_base_url(), audience)
    texts = _poster_texts(survey, audience.group)
    return render_template(
        "admin/poster.html",
        survey=survey,
        audience=audience,
        link=link,
        texts=texts,
        svg=qr.qr_svg(link, label=texts[0]["label"], css_class="qr poster-qr"),
    )


def _poster_document(survey: Survey, audience: SurveyAudience) -> str:
    """Return the standalone A4 poster SVG of one group's link."""
    texts = _poster_texts(survey, audience.group)
    return qr.poster_svg(
        link=publishing.audience_link(_base_url(), audience),
        headings=[survey.title, *dict.fromkeys(t["group"] for t in texts)],
        lines=[t[key] for t in texts for key in ("call", "scan", "anonymous")],
        label=texts[0]["label"],
    )


def _download(body: str | bytes, mimetype: str, name: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/surveys/<int:survey_id>/groups/<int:group_id>/poster.svg")
@admin_only
def poster_svg(survey_id: int, group_id: int):
    """Download one group's poster as a standalone SVG file."""
    survey = scoped_or_404(Survey, survey_id)
    audience = _audience_or_404(survey, group_id)
    name = f"{survey.slug}-{audience.group.slug}-poster.svg"
    return _download(_poster_document(survey, audience), "image/svg+xml", name)


@bp.get("/surveys/<int:survey_id>/groups/<int:group_id>/poster.pdf")
@admin_only
def poster_pdf(survey_id: int, group_id: int):
    """Download one group's poster as an A4 PDF (rendered by WeasyPrint, sandboxed)."""
    survey = scoped_or_404(Survey, survey_id)
    audience = _audience_or_404(survey, group_id)
    svg = _poster_document(survey, audience).split("?>", 1)[1]
    html = render_template(
        "admin/poster_pdf.html", survey=survey, audience=audience, svg=svg
    )
    try:
        pdf = reports.render_pdf(html)
    except reports.ReportError:
        abort(503)
    name = f"{survey.slug}-{audience.group.slug}-poster.pdf"
    return _download(pdf, "application/pdf", name)


@bp.route(
    "/surveys/<int:survey_id>/groups/<int:group_id>/codes", methods=["GET", "POST"]
)
@admin_only
def issue_codes(survey_id: int, group_id: int):
    """Print a batch of ballot codes: the only time the plain codes exist."""
    survey = scoped_or_404(Survey, survey_id)
    audience = _audience_or_404(survey, group_id)
    if survey.access_mode is not AccessMode.codes:
        abort(404)
    form = CodesForm()
    if form.validate_on_submit():
        try:
            codes = publishing.issue_codes(
                audience,
                form.count.data,
                secret_key=current_app.config["SECRET_KEY"],
                actor=current_user,
            )
        except publishing.PublishingError as error:
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            # No redirect on purpose: these codes are shown in this response only.
            if form.output.data == "csv":
                name = f"{survey.slug}-{audience.group.slug}-codes.csv"
                csv_text = publishing.codes_csv(_base_url(), audience, codes)
                return _download(csv_text, "text/csv", name)
            return _code_sheet(survey, audience, codes)
    return render_template(
        "admin/issue_codes.html",
        survey=survey,
        audience=audience,
        form=form,
        issued=publishing.codes_issued(survey).get(audience.id, 0),
    ), 422 if form.errors or form.form_errors else 200


def _code_sheet(survey: Survey, audience: SurveyAudience, codes: list[str]):
    """Render cut-apart cards, each with its QR code, typed code and instructions."""
    instructions = []
    for lang in survey.languages:
        with force_locale(lang):
            instructions.append(
                {
                    "lang": lang,
                    "text": _(
                        "Scan the QR code, or open your group's survey link and type "
                        "this code. It works once. Your answers are anonymous."
                    ),
                    "code": _("Code"),
                }
            )
    with force_locale(survey.languages[0]):
        label = _("QR code that opens the survey with this code")
    sheets = qr.code_cards(
        [(c, publishing.code_link(_base_url(), audience, c)) for c in codes],
        label=label,
    )
    return render_template(
        "admin/code_sheet.html",
        survey=survey,
        audience=audience,
        sheets=sheets,
        count=len(codes),
        link=publishing.audience_link(_base_url(), audience),
        instructions=instructions,
    )


# --- groups -----------------------------------------------------------------------


@bp.get("/groups")
@admin_only
def group_list():
    """List the affinity groups of the admin's schools with their expected sizes."""
    groups = list(
        db.session.scalars(
            sa.select(AffinityGroup)
            .where(AffinityGroup.school_id.in_(school_scope(current_user)))
            .order_by(AffinityGroup.name)
        )
    )
    k = current_app.config["MIN_CELL"]
    return render_template(
        "admin/group_list.html",
        groups=groups,
        k=k,
        readiness={g.id: publishing.readiness(g.expected_size, k) for g in groups},
        show_school=len({g.school_id for g in groups}) > 1,
    )


@bp.route("/groups/new", methods=["GET", "POST"])
@admin_only
def create_group():
    """Add an affinity group to one of the admin's schools."""
    schools = schools_in_scope(current_user)
    if not schools:
        abort(404)
    form = GroupForm()
    form.school.choices = [SelectChoice(s.id, s.name) for s in schools]
    if len(schools) == 1:
        form.school.data = schools[0].id
    if form.validate_on_submit():
        school = next(s for s in schools if s.id == form.school.data)
        try:
            publishing.create_group(school, _group_draft(form), actor=current_user)
        except publishing.PublishingError as error:
            form.name.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("The group is saved."), "success")
            return redirect(url_for("admin.group_list"))
    return render_template(
        "admin/group_form.html", form=form, group=None, show_school=len(schools) > 1
    ), 422 if form.errors else 200


@bp.route("/groups/<int:group_id>/edit", methods=["GET", "POST"])
@admin_only
def edit_group(group_id: int):
    """Change a group's names, description or expected size."""
    group = scoped_or_404(AffinityGroup, group_id)
    form = GroupForm(obj=group)
    form.school.choices = [SelectChoice(group.school_id, group.school.name)]
    form.school.data = group.school_id
    if form.validate_on_submit():
        try:
            publishing.update_group(group, _group_draft(form), actor=current_user)
        except publishing.PublishingError as error:
            db.session.rollback()
            form.name.errors.append(str(error))
        else:
            db.session.commit()
            flash(_("The group is saved."), "success")
            return redirect(url_for("admin.group_list"))
    return render_template(
        "admin/group_form.html", form=form, group=group, show_school=False
    ), 422 if form.errors else 200


def _group_draft(form: GroupForm) -> publishing.GroupDraft:
    return publishing.GroupDraft(
        name=form.name.data or "",
        name_es=form.name_es.data or "",
        description=form.description.data or "",
        expected_size=form.expected_size.data,
    )
