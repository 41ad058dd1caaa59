"""gunicorn settings: an access log with no client address, agent, query or token.

gunicorn's default access line starts with the client address and records the whole
request line; student routes carry a group token in the path. We log the method, the
route's first segment, the status and the duration, and nothing else (invariant 1).

The app is imported once, in the master, and the workers are forked from it: they
share its memory and a killed worker is back at once, without a second import.
"""

from gunicorn.glogging import Logger

accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(M)sms"
timeout = 60
graceful_timeout = 20
preload_app = True


class AnonymousAccessLogger(Logger):
    """Blank every atom that could identify a client or a link."""

    def atoms(self, resp, req, environ, request_time):  # noqa: D102
        atoms = super().atoms(resp, req, environ, request_time)
        first_segment = (req.path or "/").strip("/").split("/", 1)[0]
        atoms["U"] = "/" + first_segment
        for key in ("h", "l", "u", "r", "q", "a", "f"):
            atoms[key] = "-"
        return atoms


logger_class = AnonymousAccessLogger


def post_fork(server, worker):
    """Give each worker its own database connections, never the master's."""
    from voice.extensions import db
    from voice.wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)
