"""A clear "try again" page while the database is away, never a 500 (issue 7).

When PostgreSQL restarts, a network link drops, or SQLite stays locked past its busy
timeout, SQLAlchemy raises ``OperationalError`` (``InterfaceError`` for a connection
that died, ``TimeoutError`` when the pool is exhausted). The view's transaction never
committed, so nothing was stored. A student gets a 503 page that carries every field
they posted, so "Try again" sends the same answers, signed form state and form token
to the same address (invariant 4: keep what the student entered). Staff get the same
apology without their form echoed back (it may hold a password). The pool's pre-ping
replaces dead connections on the next request, so the service recovers without a
restart. A final submission turned away by its link's rate limit gets the same page
(429), with the answers kept, instead of the generic "too many tries".
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, current_app, g, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_login import AnonymousUserMixin

from voice.extensions import db
from voice.web.errors import render_error

bp = Blueprint("outage", __name__)

#: Errors that mean "the database cannot be reached right now", not "a bug".
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
#: Seconds a client is told to wait before trying again.
RETRY_AFTER = 5
#: Seconds a student is asked to wait when their link's submission limit is reached.
BUSY_RETRY_AFTER = 30
#: Answer values that are option keys ("4", "sports_club"); anything else was typed.
_OPTION_VALUE = re.compile(r"[\w-]{1,40}")


def database_unavailable(error: Exception):
    """Apologise with a 503 and, on the student flow, hand the posted form back."""
    _forget_failed_work()
    # Nobody can be signed in while the accounts table is unreachable; rendering must
    # not try to load the account (that would raise again inside this handler).
    g._login_user = AnonymousUserMixin()
    # The exception's text holds the SQL parameters (answers): log only its kind.
    current_app.logger.warning("database unavailable: %s", _kind(error))
    return _try_again_page(busy=False), 503, {"Retry-After": str(RETRY_AFTER)}


def too_many_submissions(error: RateLimitExceeded):
    """A link's submission limit was reached: keep the student's answers for a retry.

    A whole school on one link can meet the limit at the end of an advisory period;
    the generic "too many tries" page would throw away a finished survey.
    """
    if request.endpoint != "take.answers":
        return render_error(429)
    db.session.rollback()
    return _try_again_page(busy=True), 429, {"Retry-After": str(BUSY_RETRY_AFTER)}


bp.app_errorhandler(RateLimitExceeded)(too_many_submissions)


def _try_again_page(*, busy: bool) -> str:
    """Render the apology; a student's POST gets every posted field back."""
    student = request.blueprint == "take"
    resend = student and request.method == "POST"
    fields, typed = _posted_fields() if resend else ([], [])
    return render_template(
        "outage/try_again.html",
        busy=busy,
        student=student,
        resend=resend,
        # A link can only repeat a GET; a staff form is sent again from the back button.
        retry_url=request.full_path.rstrip("?")
        if resend or request.method == "GET"
        else None,
        hidden_fields=fields,
        typed_fields=typed,
    )


for _error_class in UNAVAILABLE:
    bp.app_errorhandler(_error_class)(database_unavailable)


def _forget_failed_work() -> None:
    """Roll back the request's unit of work; a dead connection is simply dropped."""
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        # The connection is gone; the pool discards it and the session starts afresh.
        db.session().invalidate()


def _kind(error: Exception) -> str:
    """Name the driver's error class, and nothing from its message."""
    original = getattr(error, "orig", None)
    return type(original or error).__name__


def _posted_fields() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split the posted form into fields to carry hidden and answers the student typed.

    Typed text (a comment) is shown again in an editable box, so the student can see
    it is safe and copy it; option choices and control fields ride along hidden.

    :return: ``(hidden, typed)`` lists of ``(name, value)`` in posted order
    """
    hidden: list[tuple[str, str]] = []
    typed: list[tuple[str, str]] = []
    for name, values in request.form.lists():
        for value in values:
            if (
                name.startswith("q-")
                and value.strip()
                and not _OPTION_VALUE.fullmatch(value)
            ):
                typed.append((name, value))
            else:
                hidden.append((name, value))
    return hidden, typed
