"""Helpers shared by the admin tests: sign in, post forms with their CSRF token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from tests.conftest import csrf_token
from tests.factories import PASSWORD
from voice.models import StaffUser


def login(client: FlaskClient, user: StaffUser) -> None:
    """Sign ``user`` in through the real login form."""
    page = client.get("/staff/login")
    response = client.post(
        "/staff/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def post_form(client: FlaskClient, page_url: str, data: dict, url: str | None = None):
    """GET ``page_url`` for a CSRF token, then POST ``data`` to ``url`` (or the page)."""
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    token = csrf_token(page.get_data(as_text=True))
    return client.post(url or page_url, data={**data, "csrf_token": token})


def local(moment: datetime) -> str:
    """Format a UTC datetime the way ``<input type=datetime-local>`` posts it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def future_window(days: int = 14) -> tuple[str, str]:
    """Return form values for a window opening a minute ago and closing later."""
    now = datetime.now(UTC)
    return local(now - timedelta(minutes=1)), local(now + timedelta(days=days))
