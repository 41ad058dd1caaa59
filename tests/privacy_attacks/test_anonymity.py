"""Attacks on invariant 1: after a student answers, can anything tell who or when?

The attacker has the whole database, the session cookie and the server's logs, and
knows the student's address, browser, code and what they wrote. None of it may turn up
anywhere it could be matched to the stored answers.
"""

from __future__ import annotations

import logging
import threading
import uuid
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import (
    HTTPCookieProcessor,
    HTTPRedirectHandler,
    Request,
    build_opener,
)

import pytest
import sqlalchemy as sa
from werkzeug.routing import IntegerConverter
from werkzeug.serving import make_server

from tests.web.take_helpers import (
    PULSE_ANSWERS,
    Student,
    add_codes,
    hidden,
    publish,
)
from voice.extensions import db as _db
from voice.models import AccessMode, Answer, BallotCode, Comment, Response

ADDRESS = "203.0.113.77"
FORWARDED = "198.51.100.23"
AGENT = "Mozilla/5.0 (X11; attacker-marker-agent) Gecko/20100101"
SECRET_COMMENT = "the vending machine by room 207 ate my dollar"
STUDENT_ENVIRON = {
    "REMOTE_ADDR": ADDRESS,
    "HTTP_USER_AGENT": AGENT,
    "HTTP_X_FORWARDED_FOR": FORWARDED,
    "HTTP_X_REAL_IP": FORWARDED,
}
ANONYMOUS_TABLES = (Response, Answer, Comment, BallotCode)


def _pages_with_secret() -> tuple[dict, ...]:
    last = dict(PULSE_ANSWERS[2], **{"q-pulse_open_next_step": SECRET_COMMENT})
    return (*PULSE_ANSWERS[:2], last)


def _every_stored_value(db) -> str:
    """Return every value of every row of every table, as one string."""
    chunks = []
    db.session.commit()  # release the test session's SQLite write lock first
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                chunks.extend(repr(value) for value in row)
    return "\n".join(chunks)


@pytest.fixture
def submitted(app, client, db):
    """A student answered a code survey from a known address and browser."""
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    student = Student(client, audience, environ=STUDENT_ENVIRON)
    student.start(code=code)
    state = hidden(student.html, "state")
    csrf = hidden(student.html, "csrf_token")
    for answers in _pages_with_secret()[:-1]:
        student.page(answers)
    response = student.page(_pages_with_secret()[-1], "submit")
    assert response.status_code == 303
    cookie = client.get_cookie("session")
    return {
        "audience": audience,
        "code": code,
        "state": state,
        "csrf": csrf,
        "cookie": cookie.value if cookie else "",
    }


def test_no_stored_row_holds_address_agent_code_cookie_or_form_state(submitted, db):
    stored = _every_stored_value(db)
    assert SECRET_COMMENT in stored  # the dump does see what the student wrote
    code = submitted["code"]
    markers = [ADDRESS, FORWARDED, "attacker-marker-agent", code, code.replace("-", "")]
    markers += [submitted["state"][:40], submitted["csrf"][:40]]
    if submitted["cookie"]:
        markers.append(submitted["cookie"][:40])
    for marker in markers:
        assert marker not in stored, marker


def test_raw_database_file_holds_no_address_agent_or_code(submitted, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("raw file check is for the SQLite file")
    db.session.commit()
    raw_connection = db.engine.raw_connection()
    try:
        raw_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw_connection.close()
    path = Path(db.engine.url.database)
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    code = submitted["code"]
    for marker in (ADDRESS, FORWARDED, "attacker-marker-agent", code.replace("-", "")):
        assert marker.encode() not in raw, marker


@pytest.mark.parametrize("model", ANONYMOUS_TABLES)
def test_anonymous_tables_have_no_time_or_identity_column(model):
    suspicious = {"time", "timestamp", "at", "date", "created", "submitted", "ip"}
    suspicious |= {"addr", "address", "agent", "cookie", "session", "user"}
    for column in model.__table__.columns:
        assert not isinstance(column.type, sa.DateTime | sa.Date | sa.Time), column
        assert not suspicious & set(column.name.split("_")), column
        assert column.name != "code", column


def test_response_ids_are_random_uuid4(app, client, db):
    audience = publish()
    for _ in range(3):
        assert Student(app.test_client(), audience).complete().status_code == 303
    ids = db.session.scalars(sa.select(Response.id)).all()
    assert len(ids) == 3
    for response_id in ids:
        assert isinstance(response_id, uuid.UUID)
        assert response_id.version == 4
        assert response_id.variant == uuid.RFC_4122
    for table in (Answer, Comment):
        for row_id in db.session.scalars(sa.select(table.id)):
            assert row_id.version == 4


def test_spent_code_row_has_nothing_linking_it_to_the_response(submitted, db):
    columns = {c.name for c in BallotCode.__table__.columns}
    assert columns == {"id", "survey_id", "audience_id", "code_hash", "is_spent"}
    linked = {fk.column.table.name for fk in BallotCode.__table__.foreign_keys}
    assert linked == {"survey", "survey_audience"}
    for model in (Response, Answer, Comment):
        targets = {fk.column.table.name for fk in model.__table__.foreign_keys}
        assert "ballot_code" not in targets
    response_id = db.session.scalars(sa.select(Response.id)).one()
    code_row = db.session.execute(sa.select(BallotCode.__table__)).one()
    assert code_row.is_spent
    assert str(response_id) not in repr(tuple(code_row))
    assert response_id.hex not in repr(tuple(code_row))


def _session_contents(app, client) -> dict:
    cookie = client.get_cookie("session")
    if cookie is None:
        return {}
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_session_cookie_carries_no_address_agent_answers_or_code(app, client, db):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    student = Student(client, audience, environ=STUDENT_ENVIRON)
    seen = []
    student.start(code=code)
    seen.append(_session_contents(app, client))
    for answers in _pages_with_secret()[:-1]:
        student.page(answers)
        seen.append(_session_contents(app, client))
    student.page(_pages_with_secret()[-1], "submit")
    seen.append(_session_contents(app, client))
    for contents in seen:
        assert set(contents) <= {"csrf_token"}, contents
        text = repr(contents)
        for marker in (
            ADDRESS,
            FORWARDED,
            "attacker",
            code.replace("-", ""),
            "vending",
        ):
            assert marker not in text


def test_code_from_a_qr_leaves_the_session_after_one_page(app, client, db):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    client.get(f"/s/{audience.token}?code={code}")
    assert "take_code" in _session_contents(app, client)
    Student(client, audience).open()
    assert "take_code" not in _session_contents(app, client)


def test_answers_in_progress_are_stored_nowhere_on_the_server(app, client, db):
    audience = publish()
    student = Student(client, audience, environ=STUDENT_ENVIRON)
    student.start()
    for answers in _pages_with_secret()[:-1]:
        student.page(answers)
    student.page(_pages_with_secret()[-1], "back")
    for model in (Response, Answer, Comment):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    assert SECRET_COMMENT not in _every_stored_value(db)
    assert SECRET_COMMENT not in repr(_session_contents(app, client))
    student.page({}, "next")
    assert f">{SECRET_COMMENT}</textarea>" in student.html  # it lives in the page


class _Capture(logging.Handler):
    """Collect every record the app's loggers really emit (levels left as set)."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _browser():
    return build_opener(HTTPCookieProcessor(CookieJar()), _NoRedirect())


def _send(opener, url, data=None):
    body = urlencode(data, doseq=True).encode() if data is not None else None
    request = Request(url, data=body, headers={"User-Agent": AGENT})
    request.add_header("X-Forwarded-For", FORWARDED)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def test_server_logs_carry_no_client_address_agent_code_or_answers(app, db, capfd):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    base = f"http://127.0.0.1:{{port}}/s/{audience.token}"
    _db.session.commit()  # and touch no row until the server is done (SQLite lock)
    capture = _Capture()
    loggers = [logging.getLogger(), logging.getLogger("werkzeug"), app.logger]
    for logger in loggers:
        logger.addHandler(capture)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = base.format(port=server.port)
        browser = _browser()
        status, _ = _send(browser, f"{base}?code={code}")
        assert status == 303
        status, html = _send(browser, base)
        assert status == 200
        status, html = _send(
            browser,
            f"{base}/start",
            {"csrf_token": hidden(html, "csrf_token"), "code": code},
        )
        assert status == 200
        for answers in _pages_with_secret()[:-1]:
            form = {"csrf_token": hidden(html, "csrf_token"), "action": "next"}
            form.update(state=hidden(html, "state"), **answers)
            status, html = _send(browser, f"{base}/answers", form)
            assert status == 200
        form = {"csrf_token": hidden(html, "csrf_token"), "action": "submit"}
        form.update(state=hidden(html, "state"), **_pages_with_secret()[-1])
        status, _ = _send(browser, f"{base}/answers", form)
        assert status == 303
        status, _ = _send(browser, f"{base}/start", {"code": code})  # no CSRF token
        assert status == 400
    finally:
        server.shutdown()
        thread.join()
        for logger in loggers:
            logger.removeHandler(capture)
    out, err = capfd.readouterr()
    logged = "\n".join(capture.lines) + out + err
    for marker in ("127.0.0.1", FORWARDED, "attacker-marker-agent", code, "vending"):
        assert marker not in logged, marker
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


#: Pages anyone may open: the front door, sign-in, and the student flow itself.
PUBLIC_BLUEPRINTS = ("main", "auth", "take", "errors")


def test_students_see_no_results_anywhere(app, client, db):
    audience = publish()
    for _ in range(3):
        Student(app.test_client(), audience).complete()
    survey_id, group_id = audience.survey_id, audience.group_id
    adapter = app.url_map.bind("localhost")
    checked = []
    for rule in app.url_map.iter_rules():
        blueprint = (rule.endpoint or "").split(".")[0]
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        if blueprint in PUBLIC_BLUEPRINTS:
            continue
        values = {}
        for name in rule.arguments:
            if isinstance(rule._converters[name], IntegerConverter):
                values[name] = group_id if "group" in name else survey_id
            else:
                values[name] = audience.token if "token" in name else "x"
        url = adapter.build(rule.endpoint, values, method="GET")
        response = client.get(url, environ_base=STUDENT_ENVIRON)
        assert response.status_code in (302, 303, 401, 403, 404, 405), url
        checked.append(url)
    if not checked:
        pytest.skip("no staff pages registered yet")
