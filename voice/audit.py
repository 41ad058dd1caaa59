"""One way to write the audit log: every staff action that reveals or changes data.

DESIGN invariant 5. Callers pass the acting account, a short action name and the
thing acted on; :func:`record` adds the event and flushes, the caller commits.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from voice.extensions import db
from voice.models import AuditEvent, StaffUser

#: Shown as the actor of actions run from the ``voice`` command line.
COMMAND_LINE = "command line"


def record(
    actor: StaffUser | None, action: str, target: object = "", **detail: Any
) -> AuditEvent:
    """Log that ``actor`` did ``action`` to ``target`` (flush only; the caller commits).

    :param actor: the signed-in account, or None for the command line
    :param action: a dotted verb phrase such as ``"survey.create"``
    :param target: a string, or a model row, written as ``"survey:12"``
    :param detail: JSON-ready facts; enums and datetimes are written as text
    """
    event = AuditEvent(
        actor=actor,
        actor_email=actor.email if actor is not None else COMMAND_LINE,
        action=action,
        target=describe(target),
        detail={key: _plain(value) for key, value in detail.items()},
    )
    db.session.add(event)
    db.session.flush()
    return event


def describe(target: object) -> str:
    """Name a target as ``"<table>:<id>"`` so the log outlives the row."""
    if isinstance(target, str):
        return target
    table = getattr(target, "__tablename__", type(target).__name__.lower())
    return f"{table}:{getattr(target, 'id', '?')}"


def _plain(value: Any) -> Any:
    """Turn the values staff actions carry into JSON-ready ones."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value
