"""Who may open a staff page: role checks, and 404 for rows outside the account's scope.

DESIGN invariant 5 (least privilege). A view is wrapped in :func:`role_required`, then
loads rows through :func:`scoped_or_404`, so a row outside the account's scope looks
exactly like one that does not exist. Which schools and groups an account sees is
decided in :mod:`voice.scope`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from flask import abort, current_app
from flask_login import current_user

from voice.extensions import db
from voice.models import AffinityGroup, Role, StaffUser, Survey, SurveyAudience

# The scope itself is domain logic; it is re-exported here for the views.
from voice.scope import SCHOOL_ROLES, group_scope, school_scope, schools_in_scope

__all__ = [
    "SCHOOL_ROLES",
    "audience_group_or_404",
    "group_scope",
    "role_required",
    "school_scope",
    "schools_in_scope",
    "scoped_or_404",
]

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M")


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


def audience_group_or_404(survey: Survey, group_id: int) -> AffinityGroup:
    """Load a group the wave went to and the reader may see, else 404."""
    group = db.session.scalar(
        sa.select(AffinityGroup)
        .join(SurveyAudience, SurveyAudience.group_id == AffinityGroup.id)
        .where(
            AffinityGroup.id == group_id,
            SurveyAudience.survey_id == survey.id,
            AffinityGroup.id.in_(group_scope(current_user)),
        )
    )
    if group is None:
        abort(404)
    return group
