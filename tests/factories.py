"""Factory fixtures: each returns a callable that builds a row with sensible defaults."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from voice.accounts import hash_password
from voice.models import (
    AffinityGroup,
    GroupMembership,
    Role,
    School,
    StaffUser,
)

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"
_PASSWORD_HASH: list[str] = []


def _password_hash() -> str:
    # scrypt is slow on purpose; hash the shared test password once.
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(hash_password(PASSWORD))
    return _PASSWORD_HASH[0]


@pytest.fixture
def make_school(db):
    def make(**overrides) -> School:
        n = next(_counter)
        values = {
            "name": f"School {n}",
            "slug": f"school-{n}",
            "district": "Test District",
        }
        values.update(overrides)
        school = School(**values)
        db.session.add(school)
        db.session.flush()
        return school

    return make


@pytest.fixture
def make_group(db, make_school):
    def make(school: School | None = None, **overrides) -> AffinityGroup:
        n = next(_counter)
        values = {"name": f"Group {n}", "slug": f"group-{n}", "expected_size": 40}
        values.update(overrides)
        group = AffinityGroup(school=school or make_school(), **values)
        db.session.add(group)
        db.session.flush()
        return group

    return make


@pytest.fixture
def make_user(db, make_school):
    def make(
        role: Role = Role.admin, school: School | None = None, groups=(), **overrides
    ):
        n = next(_counter)
        values = {
            "email": f"user{n}@example.org",
            "name": f"User {n}",
            "role": role,
            "password_hash": _password_hash(),
        }
        values.update(overrides)
        user = StaffUser(school=school or make_school(), **values)
        user.memberships = [GroupMembership(group=g) for g in groups]
        db.session.add(user)
        db.session.flush()
        return user

    return make


def window(days_open: int = 7) -> tuple[datetime, datetime]:
    """An opening window that contains now."""
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=days_open)


def random_slug() -> str:
    return "s-" + secrets.token_hex(4)
