"""Friendly error pages in the reader's language; never a traceback."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from voice.extensions import db

bp = Blueprint("errors", __name__)

MESSAGES = {
    400: (
        _l("Something in that request was not right"),
        _l("Please go back and try again."),
    ),
    403: (
        _l("You cannot open this page"),
        _l("Your account does not give access to it."),
    ),
    404: (
        _l("Page not found"),
        _l("The address may be mistyped, or the page no longer exists."),
    ),
    405: (
        _l("That did not work"),
        _l("Please go back and use the buttons on the page."),
    ),
    413: (
        _l("That was too much to send at once"),
        _l("Please shorten what you wrote and send it again."),
    ),
    429: (_l("Too many tries"), _l("Please wait a minute and try again.")),
    500: (
        _l("Something went wrong on our side"),
        _l("Nothing you did caused this. Please try again."),
    ),
    503: (_l("The service is busy"), _l("Please try again in a moment.")),
}


def render_error(code: int, title: str | None = None, detail: str | None = None):
    """Render the error page for ``code`` with a translated message."""
    default_title, default_detail = MESSAGES.get(code, MESSAGES[400])
    return (
        render_template(
            "errors/error.html",
            code=code,
            title=title or str(default_title),
            detail=detail or str(default_detail),
        ),
        code,
    )


@bp.app_errorhandler(CSRFError)
def csrf_error(error: CSRFError):
    """Explain an expired or missing form token instead of a bare 400."""
    return render_error(
        400,
        _("This page was open too long"),
        _(
            "For your safety, forms expire. Please go back, reload the page and try again."
        ),
    )


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException):
    """Render every HTTP error through one template."""
    return render_error(error.code or 500)


@bp.app_errorhandler(InternalServerError)
def internal_error(error: InternalServerError):
    """Roll back the failed unit of work, then apologise."""
    db.session.rollback()
    return render_error(500)
