"""Security headers and cookies on every response (issue 7).

The crawl reads the app's URL map, so a page added later is checked without anyone
remembering to list it here.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from config import ProductionConfig
from tests.web.crawl_helpers import build_world, fill, get_rules, sign_in
from tests.web.take_helpers import Student, publish
from voice import create_app
from voice.models import Role

#: Everyone who can hold a browser: nobody signed in, then each staff role.
VISITORS = (None, *(role.value for role in Role))


def directives(header: str) -> dict[str, list[str]]:
    """Split a Content-Security-Policy into directive -> sources."""
    policy: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy[words[0]] = words[1:]
    return policy


@pytest.fixture
def world(db, make_user):
    return build_world(make_user)


@pytest.fixture
def crawl(app: Flask, world):
    """Visit every GET route as every visitor; return (visitor, path, response)."""
    visits = []
    for visitor in VISITORS:
        client = app.test_client()
        with app.app_context():
            if visitor is not None:
                sign_in(client, world.accounts[visitor][0])
            for rule in get_rules(app):
                path = fill(rule, world)
                visits.append((visitor, path, client.get(path)))
    return visits


def test_csp_forbids_inline_code_framing_and_plugins(client):
    policy = directives(client.get("/").headers["Content-Security-Policy"])
    every_source = " ".join(source for sources in policy.values() for source in sources)
    assert "'unsafe-inline'" not in every_source
    assert "'unsafe-eval'" not in every_source
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["base-uri"] == ["'none'"]


def test_every_page_for_every_visitor_is_no_store_with_security_headers(crawl):
    # Results, exports and reports are among these routes: none may sit in a cache.
    for visitor, path, response in crawl:
        headers = response.headers
        where = f"{path} as {visitor}: {response.status_code}"
        assert headers["Cache-Control"] == "no-store", where
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"], where
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], where
        assert headers["X-Content-Type-Options"] == "nosniff", where
        assert headers["Referrer-Policy"] == "no-referrer", where
        assert headers["X-Frame-Options"] == "DENY", where
    # Guard the crawl itself: staff pages were seen, not only sign-in redirects.
    reached = {path for visitor, path, r in crawl if visitor and r.status_code == 200}
    assert any(path.startswith("/admin") for path in reached)
    assert any(path.startswith("/review") for path in reached)
    assert "/staff/account" in reached


def test_pages_need_no_inline_script_style_or_handler(crawl):
    # The CSP blocks inline code, so a page that relied on it would break silently.
    for visitor, path, response in crawl:
        if response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        where = f"{path} as {visitor}"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), where
        assert not re.search(r"<[a-z][^>]*\sstyle=", html, re.I), where
        assert not re.search(r"<[a-z][^>]*\son[a-z]+=", html, re.I), where


def test_student_pages_are_no_store(client, db):
    student = Student(client, publish())
    assert student.open().headers["Cache-Control"] == "no-store"
    assert student.start().headers["Cache-Control"] == "no-store"
    done = student.complete()
    assert done.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(client):
    with client.get("/static/app.css") as response:
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_no_hsts_outside_production(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


@pytest.fixture
def production_app(monkeypatch, tmp_path) -> Flask:
    monkeypatch.setenv("VOICE_SECRET_KEY", "production-test-secret-0123456789")
    monkeypatch.setenv("VOICE_DATABASE_URL", f"sqlite:///{tmp_path / 'prod.sqlite3'}")
    return create_app(ProductionConfig, {"RATELIMIT_ENABLED": False})


def test_production_sends_hsts_behind_its_https_proxy(production_app):
    client = production_app.test_client()
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 180 * 24 * 3600
    assert "includeSubDomains" in hsts


def test_production_cookies_are_secure_httponly_and_lax(production_app):
    client = production_app.test_client()
    response = client.get("/staff/login", headers={"X-Forwarded-Proto": "https"})
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_development_cookies_are_httponly_and_lax(client):
    cookie = client.get("/staff/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
