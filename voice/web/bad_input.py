"""Input no database row can match is refused as such, never as a 500 (issue 7).

Found by fuzzing every route: an id beyond 64 bits made SQLite's driver raise
``OverflowError``, and a NUL byte in a link made PostgreSQL refuse the query
(``DataError``). Route parameters are now checked where they are parsed, and any
other value the database refuses is answered with the ordinary "not right" page.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import IntegerConverter, Map, UnicodeConverter

from voice.extensions import db
from voice.web.errors import render_error

bp = Blueprint("bad_input", __name__)

#: Largest id any of our databases stores (a signed 64-bit integer).
MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` limited to what a database integer holds, so a huge id is a 404."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        """Keep werkzeug's options; default the upper bound to ``MAX_ID``."""
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class TextConverter(UnicodeConverter):
    """``<name>`` without control characters: no token or slug contains one."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        """Build werkzeug's converter, then narrow its pattern to printable text."""
        super().__init__(map, *args, **kwargs)
        self.regex = r"[^/\x00-\x1f\x7f]" + self.regex.removeprefix("[^/]")


@bp.record_once
def _install_converters(state: BlueprintSetupState) -> None:
    # Runs when this blueprint is registered: it must come before any other's routes.
    state.app.url_map.converters.update(
        default=TextConverter, string=TextConverter, int=IdConverter
    )


@bp.app_errorhandler(sa.exc.DataError)
def refused_by_database(error: sa.exc.DataError):
    """Answer a value the database cannot hold (a NUL, a huge number) with a 400."""
    db.session.rollback()
    return render_error(400)
