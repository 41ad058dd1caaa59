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

import functools
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
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
from flask_babel import format_date, get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from voice import operations
from voice.ballots import hash_code, is_well_formed, normalize_code
from voice.database import begin_writing, is_sqlite, reads_only
from voice.extensions import db, limiter
from voice.i18n import select_language
from voice.instruments import (
    AnswerError,
    CleanAnswers,
    Instrument,
    clean_answers,
    parse_instrument,
)
from voice.models import (
    AccessMode,
    AffinityGroup,
    BallotCode,
    School,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
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
#: How long a spent form nonce is remembered (seconds).
NONCE_MEMORY = 24 * 3600
#: Session key carrying a code from the QR link to the code field, once.
_CODE_FROM_QR = "take_code"

log = logging.getLogger(__name__)
#: Makes claiming a nonce atomic between the threads of one process: the in-memory
#: storage reads the new count back outside its own lock.
_NONCE_LOCK = threading.Lock()


class Unavailable(Exception):
    """The survey link cannot be answered now; ``kind`` picks the friendly page."""

    def __init__(self, kind: str, status: int, audience: SurveyLink | None = None):
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


@bp.context_processor
def _catalog_once() -> dict[str, Any]:
    """Give the student templates ``_``/``gettext``/``ngettext`` bound to one catalog.

    Flask-Babel's template functions look the catalog up again on every call (about
    20 microseconds each, a dozen per page); these look it up once per render and
    otherwise behave exactly like Jinja's new-style gettext (autoescaped, always
    %-formatted).
    """
    catalog = get_translations()
    gettext = _new_style(catalog.ugettext)
    return {
        "_": gettext,
        "gettext": gettext,
        "ngettext": _new_style_n(catalog.ungettext),
    }


def _new_style(lookup: Any) -> Any:
    @pass_context
    def gettext(context: Context, string: str, /, **variables: Any) -> str:
        text = lookup(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return gettext


def _new_style_n(lookup: Any) -> Any:
    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, num: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        text = lookup(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return ngettext


def _link_key() -> str:
    # Per survey link, never per client (invariant 1).
    return "take:" + str((request.view_args or {}).get("token", ""))


def _not_submitting() -> bool:
    # Page turns write nothing and cost what opening the link costs, which is not
    # limited either; only submissions, which write, count against the link.
    return request.form.get("action") != "submit"


def _no_code_typed() -> bool:
    # Only a typed code is a guess; open-link surveys post none, so a whole group
    # starting at once never meets the code-attempt limit.
    return "code" not in request.form


@bp.get("/<token>")
def intro(token: str) -> ResponseReturnValue:
    """Show who asks, how long it takes, what is never stored; then start."""
    audience, instrument = _open_audience(token)
    if "code" in request.args:
        # The QR on a code card carries the code; keep it out of history and logs by
        # moving it to the session for exactly one redirect.
        session[_CODE_FROM_QR] = normalize_code(request.args["code"])[:40]
        lang = request.args.get("lang")
        return redirect(url_for(".intro", token=token, lang=lang), 303)
    # Popping an absent key would still rewrite the session cookie.
    code = session.pop(_CODE_FROM_QR, "") if _CODE_FROM_QR in session else ""
    return _render_intro(audience, instrument, code=code)


@bp.post("/<token>/start")
@reads_only()
@limiter.limit(
    lambda: CODE_ATTEMPTS_LIMIT, key_func=_link_key, exempt_when=_no_code_typed
)
def start(token: str) -> ResponseReturnValue:
    """Check the ballot code (if the survey uses them) and show the first page."""
    audience, instrument = _open_audience(token)
    survey = audience.survey
    code_hash = None
    if survey.access_mode is AccessMode.codes:
        typed = request.form.get("code", "")[:100]
        if not is_well_formed(typed):
            page = _render_intro(audience, instrument, code=typed, problem="malformed")
            return page, 422
        code_hash = hash_code(current_app.config["SECRET_KEY"], survey.id, typed)
        problem = _code_problem(audience, code_hash)
        if problem is not None:
            page = _render_intro(audience, instrument, code=typed, problem=problem)
            return page, 422 if problem == "unknown" else 409
    state = start_state(audience.id, code_hash)
    return _render_page(audience, instrument, state, state.answers)


@bp.get("/<token>/start")
@bp.get("/<token>/answers")
def back_to_intro(token: str) -> ResponseReturnValue:
    """Send a reloaded or bookmarked form address back to the survey's start."""
    return redirect(url_for(".intro", token=token, lang=request.args.get("lang")), 303)


@bp.post("/<token>/answers")
@reads_only()  # a submission calls begin_writing() once its reads are done
@limiter.limit(lambda: SUBMIT_LIMIT, key_func=_link_key, exempt_when=_not_submitting)
def answers(token: str) -> ResponseReturnValue:
    """Take one page of answers, then turn the page, stay, or submit."""
    audience, instrument = _open_audience(token)
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
    audience, _snapshot = _audience(token)
    survey = audience.survey
    return render_template(
        "take/thanks.html",
        audience=audience,
        survey=survey,
        resources=_support_resources(survey.support_resources, select_language()),
    )


def _submit(
    audience: SurveyLink,
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
    if is_sqlite(db.engine):
        # The reads are done: end their transaction, so that SQLite's one write lock
        # is held only while the rows are written (record_response re-reads the
        # survey's window inside the writing transaction).
        db.session.rollback()
    if not _claim_nonce(state.nonce):
        return done  # a double click: the first request stores the answers
    begin_writing()
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
        return _render_intro(audience, instrument, code="", problem="spent"), 409
    except Exception:
        db.session.rollback()
        _release_nonce(state.nonce)
        raise
    return done


def _claim_nonce(nonce: str) -> bool:
    """Say whether this is the first submission of a form state (a double click is not).

    The nonce is kept in the rate-limit storage, with nothing else and for a day; it
    appears in no stored row and shares no transaction with the response, so it links
    nothing to it. ``voice serve`` refuses per-process (``memory://``) storage with
    several workers, where a double click reaching two workers would go unnoticed.
    If the storage cannot be reached the submission goes ahead: losing an answer is
    worse than the rare double click the nonce is there to catch.
    """
    if not limiter.enabled:
        return True
    try:
        with _NONCE_LOCK:
            return limiter.storage.incr(f"take-nonce:{nonce}", NONCE_MEMORY) == 1
    except Exception as error:  # any storage backend's connection error
        log.warning("double-submit check skipped: %s", type(error).__name__)
        return True


def _release_nonce(nonce: str) -> None:
    """Forget a claimed nonce when nothing was stored, so the student can retry."""
    if not limiter.enabled:
        return
    try:
        limiter.storage.clear(f"take-nonce:{nonce}")
    except Exception as error:  # the claim then lapses after a day
        log.warning("could not release a double-submit nonce: %s", type(error).__name__)


@dataclass(frozen=True)
class LinkSurvey:
    """What the student flow needs of a survey: its window, mode and wording."""

    id: int
    status: SurveyStatus
    opens_at: datetime
    closes_at: datetime
    access_mode: AccessMode
    languages: tuple[str, ...]
    min_cell: int
    wave_label: str
    school_name: str
    #: The school's support resources, as the admin side stores them.
    support_resources: Any


@dataclass(frozen=True)
class SurveyLink:
    """A survey link (``SurveyAudience``) as a student reaches it, read in one query."""

    id: int
    token: str
    survey_id: int
    group_id: int
    group_name: str
    group_name_es: str
    survey: LinkSurvey

    def group_display_name(self, lang: str) -> str:
        """Return the group's name in ``lang``, falling back to English."""
        if lang == "es" and self.group_name_es:
            return self.group_name_es
        return self.group_name


#: One query for every student request: the link, its survey, school and group as
#: plain values (no ORM objects to build), and the instrument snapshot as text, which
#: ``_instrument`` parses once per worker. Built once, run with the token bound.
_LINK_QUERY = (
    sa.select(
        SurveyAudience.id,
        SurveyAudience.token,
        SurveyAudience.survey_id,
        SurveyAudience.group_id,
        AffinityGroup.name.label("group_name"),
        AffinityGroup.name_es.label("group_name_es"),
        Survey.status,
        Survey.opens_at,
        Survey.closes_at,
        Survey.access_mode,
        Survey.languages,
        Survey.min_cell,
        Survey.wave_label,
        School.name.label("school_name"),
        School.support_resources,
        sa.cast(Survey.instrument_snapshot, sa.Text).label("snapshot"),
    )
    .join(Survey, Survey.id == SurveyAudience.survey_id)
    .join(School, School.id == Survey.school_id)
    .join(AffinityGroup, AffinityGroup.id == SurveyAudience.group_id)
    .where(SurveyAudience.token == sa.bindparam("token"))
)


#: Survey links read recently, by token: (read at, link, snapshot). Only links that
#: exist are kept, so random tokens cannot fill it.
_LINK_CACHE: dict[str, tuple[float, SurveyLink, str]] = {}
_LINK_CACHE_SIZE = 1024


def _audience(token: str) -> tuple[SurveyLink, str]:
    """Return the survey link for ``token`` and its instrument snapshot as JSON text.

    A link read less than ``LINK_CACHE_SECONDS`` ago is reused without a query.

    :raises Unavailable: ``unknown_link`` when no link has this token
    """
    token = token[:64]
    ttl = current_app.config["LINK_CACHE_SECONDS"]
    now = time.monotonic()
    cached = _LINK_CACHE.get(token)
    if cached is not None and now - cached[0] < ttl:
        return cached[1], cached[2]
    link, snapshot = _read_link(token)
    if ttl > 0:
        if len(_LINK_CACHE) >= _LINK_CACHE_SIZE:
            _LINK_CACHE.clear()
        _LINK_CACHE[token] = (now, link, snapshot)
    return link, snapshot


def _read_link(token: str) -> tuple[SurveyLink, str]:
    """Read the survey link for ``token`` in one query (see :func:`_audience`)."""
    row = db.session.execute(_LINK_QUERY, {"token": token}).first()
    if row is None:
        raise Unavailable("unknown_link", 404)
    survey = LinkSurvey(
        id=row.survey_id,
        status=row.status,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        access_mode=row.access_mode,
        languages=tuple(row.languages or ()),
        min_cell=row.min_cell,
        wave_label=row.wave_label,
        school_name=row.school_name,
        support_resources=row.support_resources,
    )
    link = SurveyLink(
        id=row.id,
        token=row.token,
        survey_id=row.survey_id,
        group_id=row.group_id,
        group_name=row.group_name,
        group_name_es=row.group_name_es,
        survey=survey,
    )
    return link, row.snapshot


def _open_audience(token: str) -> tuple[SurveyLink, Instrument]:
    """Return the survey link for ``token`` and its instrument, if it takes answers."""
    audience, snapshot = _audience(token)
    availability = operations.survey_availability(audience.survey)
    if availability == "not_yet_open":
        raise Unavailable(availability, 403, audience)
    if availability == "closed":
        raise Unavailable(availability, 410, audience)
    return audience, _instrument(audience.survey_id, snapshot)


@functools.lru_cache(maxsize=64)
def _instrument(survey_id: int, snapshot: str) -> Instrument:
    """Return the instrument exactly as it was when this survey was published.

    Cached by the snapshot's text, so a worker parses each published instrument once
    and a changed snapshot can never be served from the cache.
    """
    return parse_instrument(json.loads(snapshot), source=f"survey {survey_id} snapshot")


def _code_problem(audience: SurveyLink, code_hash: str) -> str | None:
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
    audience: SurveyLink,
    instrument: Instrument,
    *,
    code: str,
    problem: str | None = None,
) -> str:
    """Render the start page, with the code field and its problem if any."""
    survey = audience.survey
    return render_template(
        "take/intro.html",
        audience=audience,
        survey=survey,
        group_name=audience.group_display_name(select_language()),
        instrument=instrument,
        uses_codes=survey.access_mode is AccessMode.codes,
        code=code,
        problem=problem,
        languages=_languages(audience),
    )


def _render_page(
    audience: SurveyLink,
    instrument: Instrument,
    state: FormState,
    values: Mapping[str, Sequence[str]],
    problems: Iterable[tuple[str, str]] = (),
) -> str:
    """Render the page the state points at, with ``values`` filled in."""
    lang = select_language()
    problems = tuple(problems)
    page = build_page(instrument, state.page, lang, values, problems)
    return render_template(
        "take/page.html",
        audience=audience,
        survey=audience.survey,
        page=page,
        state=dump_state(state, current_app.config["SECRET_KEY"]),
        problem_messages=problem_messages() if problems else {},
        languages=_languages(audience),
    )


def _languages(audience: SurveyLink) -> list[str]:
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
