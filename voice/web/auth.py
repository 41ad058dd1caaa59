"""Staff sign-in and sign-out. Students never sign in."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from voice import accounts
from voice.extensions import db, limiter
from voice.forms import LoginForm

bp = Blueprint("auth", __name__, url_prefix="/staff")


def _login_rate_key() -> str:
    # Keyed by the account tried, never by the client's address (invariant 1).
    return "login:" + (request.form.get("email") or "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", key_func=_login_rate_key, methods=["POST"])
@limiter.limit("300 per minute", key_func=lambda: "login:all", methods=["POST"])
def login():
    """Sign a staff member in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("That email and password do not match."))
        else:
            login_user(user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
@login_required
def logout():
    """End this session."""
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("main.index"))


def _safe_next(target: str | None) -> str:
    """Follow ``next`` only to a path on this site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("main.index")
