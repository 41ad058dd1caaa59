"""Which schools and affinity groups a staff account may see (DESIGN invariant 5).

Domain logic with no web in it: each function takes the account and returns a
query (or rows), so views, exports, the CLI and :mod:`voice.accounts` share one
definition of least privilege. The web layer (``voice.web.access``) turns "out of
scope" into a 404.
"""

from __future__ import annotations

import sqlalchemy as sa

from voice.extensions import db
from voice.models import AffinityGroup, GroupMembership, Role, School, StaffUser

#: Roles whose scope is whole schools; the others see only their groups.
SCHOOL_ROLES = frozenset({Role.admin, Role.leader})


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
