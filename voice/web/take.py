"""The student flow: open a survey link, answer page by page, submit once, get support.

Nothing here learns who a student is (DESIGN invariant 1). Answers in progress travel
only in the page as one signed form state; the ballot code travels in that state as
a keyed hash; the submission is one transaction that burns the code and writes the
response; rate limits are keyed by the survey link, never by the client's address.

Repeats: a ballot code works once, enforced by the database. An open link cannot
stop one student answering twice; what it does stop is an accidental double:
Post/Redirect/Get after the submit, and a random nonce in the form state that is
remembered, for a day and with nothing else, in the rate-limit storage, so a double
click or a resubmitted page lands on the thank-you page instead of storing a second
response. With several workers that storage must be shared (``redis://``), or a
double click that reaches two workers can store two open-link responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from voice import operations
from voice.ballots import hash_code, is_well_formed, normalize_code
from voice.extensions import db, limiter
from voice.i18n import select_language
from voice.instruments import (
    AnswerError,
    CleanAnswers,
    Instrument,
    clean_answers,
    parse_instrument,
)
from voice.models import AccessMode, BallotCode, SurveyAudience, SurveyStatus
from voice.survey_form import (
    FormState,
    StateError,
    build_page,
    clean_page,
    dump_state,
    first_page_with_problem,
    load_state,
    split_posted,
    start_state,
    with_page_answers,
)

bp = Blueprint("take", __name__, url_prefix="/s")

#: Code attempts per survey link: a class entering codes together stays far below it,
#: and 60-bit codes make guessing at this pace hopeless (issue 3).
CODE_ATTEMPTS_LIMIT = "120 per minute"
#: Final submissions per survey link.
SUBMIT_LIMIT = "300 per minute"
#: Page turns per survey link.
PAGE_LIMIT = "1200 per minute"
#: How long a spent form nonce is remembered (seconds).
NONCE_MEMORY = 24 * 3600
#: Session key carrying a code from the QR link to the code field, once.
_CODE_FROM_QR = "take_code"


class Unavailable(Exception):
    """The survey link cannot be answered now; ``kind`` picks the friendly page."""

    def __init__(self, kind: str, status: int, audience: SurveyAudience | None = None):
        """Remember which page to show and with which status."""
        super().__init__(kind)
        self.kind = kind
        self.status = status
        self.audience = audience


@bp.errorhandler(Unavailable)
def unavailable(error: Unavailable) -> ResponseReturnValue:
    """Explain, in the student's language, why the survey cannot be answered."""
    db.session.rollback()
    survey = error.audience.survey if error.audience else None
    opens_on = (
        format_date(survey.opens_at, "long")
        if survey is not None
        and error.kind == "not_yet_open"
        and survey.status is SurveyStatus.open
        else None
    )
    return (
        render_template(
            "take/unavailable.html",
            kind=error.kind,
            audience=error.audience,
            survey=survey,
            opens_on=opens_on,
        ),
        error.status,
    )


def _link_key() -> str:
    # Per survey link, never per client (invariant 1).
    return "take:" + str((request.view_args or {}).get("token", ""))


def _not_submitting() -> bool:
    return request.form.get("action") != "submit"


@bp.get("/<token>")
def intro(token: str) -> ResponseReturnValue:
    """Show who asks, how long it takes, what is never stored; then start."""
    audience = _open_audience(token)
    if "code" in request.args:
        # The QR on a code card carries the code; keep it out of history and logs by
        # moving it to the session for exactly one redirect.
        session[_CODE_FROM_QR] = normalize_code(request.args["code"])[:40]
        lang = request.args.get("lang")
        return redirect(url_for(".intro", token=token, lang=lang), 303)
    code = session.pop(_CODE_FROM_QR, "")
    return _render_intro(audience, code=code)


@bp.post("/<token>/start")
@limiter.limit(lambda: CODE_ATTEMPTS_LIMIT, key_func=_link_key)
def start(token: str) -> ResponseReturnValue:
    """Check the ballot code (if the survey uses them) and show the first page."""
    audience = _open_audience(token)
    survey = audience.survey
    code_hash = None
    if survey.access_mode is AccessMode.codes:
        typed = request.form.get("code", "")[:100]
        if not is_well_formed(typed):
            return _render_intro(audience, code=typed, problem="malformed"), 422
        code_hash = hash_code(current_app.config["SECRET_KEY"], survey.id, typed)
        problem = _code_problem(audience, code_hash)
        if problem == "unknown":
            return _render_intro(audience, code=typed, problem=problem), 422
        if problem == "spent":
            return _render_intro(audience, code=typed, problem=problem), 409
    state = start_state(audience.id, code_hash)
    return _render_page(audience, _instrument(audience), state, state.answers)


@bp.get("/<token>/start")
@bp.get("/<token>/answers")
def back_to_intro(token: str) -> ResponseReturnValue:
    """Send a reloaded or bookmarked form address back to the survey's start."""
    return redirect(url_for(".intro", token=token, lang=request.args.get("lang")), 303)


@bp.post("/<token>/answers")
@limiter.limit(lambda: PAGE_LIMIT, key_func=_link_key)
@limiter.limit(lambda: SUBMIT_LIMIT, key_func=_link_key, exempt_when=_not_submitting)
def answers(token: str) -> ResponseReturnValue:
    """Take one page of answers, then turn the page, stay, or submit."""
    audience = _open_audience(token)
    instrument = _instrument(audience)
    try:
        state = load_state(
            request.form.get("state", ""),
            current_app.config["SECRET_KEY"],
            audience_id=audience.id,
        )
    except StateError:
        raise Unavailable("broken_state", 400, audience) from None
    if not 0 <= state.page < len(instrument.pages):
        raise Unavailable("broken_state", 400, audience)
    posted, unexpected = split_posted(request.form.lists())
    problems = [(name, "unknown_item") for name in unexpected]
    try:
        page_answers = clean_page(instrument, state.page, posted)
    except AnswerError as error:
        problems.extend(error.problems)
    if problems:
        return _render_page(audience, instrument, state, posted, problems), 422
    last = len(instrument.pages) - 1
    action = request.form.get("action", "next")
    if action == "submit" and state.page == last:
        return _submit(audience, instrument, state, page_answers)
    step = {"back": -1, "next": 1}.get(action, 0)
    go_to = min(max(state.page + step, 0), last)
    state = with_page_answers(state, instrument, page_answers, go_to=go_to)
    return _render_page(audience, instrument, state, state.answers)


@bp.get("/<token>/thanks")
def thanks(token: str) -> ResponseReturnValue:
    """Thank the student and show the school's support resources; nothing else."""
    audience = _audience(token)
    school = audience.survey.school
    return render_template(
        "take/thanks.html",
        audience=audience,
        school=school,
        resources=_support_resources(school.support_resources, select_language()),
    )


def _submit(
    audience: SurveyAudience,
    instrument: Instrument,
    state: FormState,
    page_answers: CleanAnswers,
) -> ResponseReturnValue:
    """Store the whole questionnaire in one transaction, then redirect (PRG)."""
    state = with_page_answers(state, instrument, page_answers, go_to=state.page)
    try:
        answers = clean_answers(instrument, state.answers)
    except AnswerError as error:
        index = first_page_with_problem(instrument, error.problems)
        state = replace(state, page=index)
        page = _render_page(audience, instrument, state, state.answers, error.problems)
        return page, 422
    lang = select_language()
    done = redirect(url_for(".thanks", token=audience.token, lang=lang), 303)
    if not _claim_nonce(state.nonce):
        return done  # a double click: the first request stores the answers
    try:
        operations.record_response(
            audience.survey, audience, lang, answers, code_hash=state.code_hash
        )
        db.session.commit()
    except operations.SurveyClosed:
        _release_nonce(state.nonce)
        raise Unavailable("closed", 410, audience) from None
    except (operations.BallotCodeSpent, operations.BallotCodeUnknown):
        db.session.rollback()
        return _render_intro(audience, code="", problem="spent"), 409
    except Exception:
        db.session.rollback()
        _release_nonce(state.nonce)
        raise
    return done


def _claim_nonce(nonce: str) -> bool:
    """Say whether this is the first submission of a form state (a double click is not).

    The nonce is kept in the rate-limit storage, with nothing else and for a day; it
    appears in no stored row, so it links nothing to the response.
    """
    if not limiter.enabled:
        return True
    return limiter.storage.incr(f"take-nonce:{nonce}", NONCE_MEMORY) == 1


def _release_nonce(nonce: str) -> None:
    """Forget a claimed nonce when nothing was stored, so the student can retry."""
    if limiter.enabled:
        limiter.storage.clear(f"take-nonce:{nonce}")


def _audience(token: str) -> SurveyAudience:
    """Return the survey link for ``token``, or the "unknown link" page."""
    audience = db.session.scalar(
        sa.select(SurveyAudience).where(SurveyAudience.token == token[:64])
    )
    if audience is None:
        raise Unavailable("unknown_link", 404)
    return audience


def _open_audience(token: str) -> SurveyAudience:
    """Return the survey link for ``token`` if its survey takes answers right now."""
    audience = _audience(token)
    availability = operations.survey_availability(audience.survey)
    if availability == "not_yet_open":
        raise Unavailable(availability, 403, audience)
    if availability == "closed":
        raise Unavailable(availability, 410, audience)
    return audience


def _instrument(audience: SurveyAudience) -> Instrument:
    """Return the instrument exactly as it was when this survey was published."""
    survey = audience.survey
    return parse_instrument(
        survey.instrument_snapshot, source=f"survey {survey.id} snapshot"
    )


def _code_problem(audience: SurveyAudience, code_hash: str) -> str | None:
    """Say what is wrong with a code for this link: ``unknown``, ``spent`` or nothing."""
    spent = db.session.scalar(
        sa.select(BallotCode.is_spent).where(
            BallotCode.survey_id == audience.survey_id,
            BallotCode.audience_id == audience.id,
            BallotCode.code_hash == code_hash,
        )
    )
    if spent is None:
        return "unknown"
    return "spent" if spent else None


def _render_intro(
    audience: SurveyAudience, *, code: str, problem: str | None = None
) -> str:
    """Render the start page, with the code field and its problem if any."""
    survey = audience.survey
    instrument = _instrument(audience)
    return render_template(
        "take/intro.html",
        audience=audience,
        survey=survey,
        school=survey.school,
        group_name=audience.group.display_name(select_language()),
        instrument=instrument,
        uses_codes=survey.access_mode is AccessMode.codes,
        code=code,
        problem=problem,
        languages=_languages(audience),
    )


def _render_page(
    audience: SurveyAudience,
    instrument: Instrument,
    state: FormState,
    values: Mapping[str, Sequence[str]],
    problems: Iterable[tuple[str, str]] = (),
) -> str:
    """Render the page the state points at, with ``values`` filled in."""
    lang = select_language()
    page = build_page(instrument, state.page, lang, values, problems)
    return render_template(
        "take/page.html",
        audience=audience,
        survey=audience.survey,
        page=page,
        state=dump_state(state, current_app.config["SECRET_KEY"]),
        problem_messages=problem_messages(),
        languages=_languages(audience),
    )


def _languages(audience: SurveyAudience) -> list[str]:
    """Return the languages this survey is offered in, in the app's order."""
    offered = audience.survey.languages or []
    return [code for code in current_app.config["LANGUAGES"] if code in offered]


def problem_messages() -> dict[str, str]:
    """Return each answer problem code as a message for the student, translated."""
    return {
        "unknown_item": _(
            "This page was changed after it was sent, so we could not save it. "
            "Please check your answers and try again."
        ),
        "wrong_type": _("Please choose one of the answers shown."),
        "out_of_range": _("Please choose one of the answers shown."),
        "invalid_choice": _("Please choose one of the answers shown."),
        "too_many_choices": _("You chose more answers than this question allows."),
        "duplicate_choice": _("Please choose each answer only once."),
        "exclusive_choice": _(
            "“Prefer not to answer” cannot be combined with other answers."
        ),
        "too_long": _("Your answer is too long. Please shorten it."),
        "required": _("Please answer this question."),
    }


#: Headings for the support resources the admin side stores under these keys.
_RESOURCE_HEADINGS = {
    "counselor": _l("Talk to a counselor"),
    "crisis_line": _l("Crisis line"),
    "text_line": _l("Text line"),
}


def _support_resources(raw: Any, lang: str) -> list[tuple[str | None, str]]:
    """Return the school's support resources as (heading, text), in ``lang``.

    A resource is plain text, or a mapping of language code to text.
    """
    if not isinstance(raw, dict):
        return []
    resources = []
    for key, value in raw.items():
        text = value
        if isinstance(value, dict):
            text = value.get(lang) or next(iter(value.values()), "")
        if isinstance(text, str) and text.strip():
            heading = _RESOURCE_HEADINGS.get(key)
            resources.append((str(heading) if heading else None, text.strip()))
    return resources
