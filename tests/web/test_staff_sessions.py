"""Staff sessions never depend on, or carry, the client's address (README, Privacy)."""

from __future__ import annotations

import base64
import json
import zlib

from tests.web.admin_helpers import login


def _session_payload(client) -> dict:
    """Decode Flask's signed session cookie (payload only; the signature is not needed)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    value = cookie.value
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


def test_the_staff_session_cookie_holds_no_fingerprint_of_address_or_browser(
    client, make_user
):
    login(client, make_user())
    session = _session_payload(client)
    # Flask-Login would store a hash of the address and user agent as "_id".
    assert not session.get("_id")


def test_a_staff_session_survives_a_new_address_and_browser(client, make_user):
    login(client, make_user())
    moved = client.get(
        "/admin/surveys",
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
        headers={"User-Agent": "another browser", "X-Forwarded-For": "10.1.1.1"},
    )
    assert moved.status_code == 200
