"""Who may open a staff page: role checks and the schools and groups an account sees.

DESIGN invariant 5 (least privilege). A view is wrapped in :func:`role_required`, then
loads rows through :func:`scoped_or_404`, so a row outside the account's scope looks
exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from flask import abort, current_app
from flask_login import current_user

from voice.extensions import db
from voice.models import AffinityGroup, GroupMembership, Role, School, StaffUser

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M")

#: Roles whose scope is whole schools; the others see only their groups.
SCHOOL_ROLES = frozenset({Role.admin, Role.leader})


def role_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, Any]]:
    """Let through signed-in accounts holding one of ``roles``.

    Anonymous visitors are sent to sign in; other roles get 403, which reveals
    nothing about any particular row.
    """
    allowed = frozenset(roles)

    def decorator(view: Callable[P, R]) -> Callable[P, Any]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def school_scope(user: StaffUser) -> sa.Select[tuple[int]]:
    """Return a query for the ids of the schools ``user`` may see.

    An account with ``district`` set sees every school of that district; otherwise
    only its own school. Group-scoped roles see the schools of their groups.
    """
    if user.role not in SCHOOL_ROLES:
        return (
            sa.select(AffinityGroup.school_id)
            .join(GroupMembership, GroupMembership.group_id == AffinityGroup.id)
            .where(GroupMembership.user_id == user.id)
            .distinct()
        )
    if user.district:
        return sa.select(School.id).where(School.district == user.district)
    return sa.select(School.id).where(School.id == user.school_id)


def group_scope(user: StaffUser) -> sa.Select[tuple[int]]:
    """Return a query for the ids of the affinity groups ``user`` may see."""
    if user.role in SCHOOL_ROLES:
        return sa.select(AffinityGroup.id).where(
            AffinityGroup.school_id.in_(school_scope(user))
        )
    return sa.select(GroupMembership.group_id).where(GroupMembership.user_id == user.id)


def schools_in_scope(user: StaffUser) -> list[School]:
    """Return the schools ``user`` may see, by name."""
    return list(
        db.session.scalars(
            sa.select(School)
            .where(School.id.in_(school_scope(user)))
            .order_by(School.name)
        )
    )


def scoped_or_404(model: type[M], ident: int, user: StaffUser | None = None) -> M:
    """Load a row that has a ``school_id``, or 404 if it is missing or out of scope.

    :param model: a model with a ``school_id`` column (Survey, AffinityGroup)
    :param ident: the primary key from the URL
    :param user: whose scope applies; default the signed-in account
    """
    user = user or current_user
    row = db.session.scalar(
        sa.select(model).where(
            model.id == ident,  # type: ignore[attr-defined]
            model.school_id.in_(school_scope(user)),  # type: ignore[attr-defined]
        )
    )
    if row is None:
        abort(404)
    return row
