"""Sessions, security headers and caching rules shared by every route."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, Response, request
from flask_login import LoginManager
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

from voice.extensions import db
from voice.models import StaffUser

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self'",
    "script-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

talisman = Talisman()


def init_app(app: Flask, login_manager: LoginManager) -> None:
    """Install the login manager, headers, proxy handling and cache rules."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Flask-Login's "basic"/"strong" protection hashes the client's address and user
    # agent into the session. We never read client addresses (README, Privacy); staff
    # sessions end instead through session_version (logout, disable, sign out everywhere).
    login_manager.session_protection = None
    # ... and login_user() would still store that hash as "_id": store nothing instead.
    login_manager._session_identifier_generator = str
    login_manager.user_loader(load_user)

    production = app.config["REQUIRE_SECRET_KEY"]
    talisman.init_app(
        app,
        force_https=False,  # the proxy terminates TLS and redirects
        strict_transport_security=production,
        frame_options="DENY",
        content_security_policy=CONTENT_SECURITY_POLICY,
        referrer_policy="no-referrer",
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        permissions_policy={
            "browsing-topics": "()",
            "camera": "()",
            "geolocation": "()",
        },
    )
    if production:
        # One proxy in front: trust its scheme and host, and nothing about the client.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=0, x_proto=1, x_host=1)  # type: ignore[method-assign]

    @app.after_request
    def _no_store(response: Response) -> Response:
        # Pages are personal (staff) or carry a form token (students); static files cache.
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response


def load_user(user_id: str) -> StaffUser | None:
    """Load the account only while its session version still matches (revocation)."""
    try:
        raw_id, raw_version = user_id.split(":", 1)
        key, version = int(raw_id), int(raw_version)
    except ValueError:
        return None
    user = db.session.scalar(sa.select(StaffUser).where(StaffUser.id == key))
    if user is None or user.session_version != version or not user.is_enabled:
        return None
    return user
