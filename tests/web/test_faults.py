"""Faults under load: the database goes away, workers are killed (issue 7, invariant 4).

The outage is real on both databases: on SQLite another connection holds the write
lock past the busy timeout (as a long backup would); on PostgreSQL the app talks to
the server through a loopback proxy whose plug is pulled.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from config import TestingConfig
from tests.conftest import csrf_token
from tests.web.fault_helpers import (
    LiveStudent,
    TcpProxy,
    live_server,
    read_form,
    redis_answers,
)
from tests.web.take_helpers import PULSE_ANSWERS, Student, publish
from voice import create_app
from voice.extensions import db as _db
from voice.models import Answer, Comment, Response

#: Answers on the pulse's pages (the comment left blank is not stored).
PULSE_ANSWER_ROWS = 10
PULSE_COMMENT = "More clubs after school"


@dataclass
class Outage:
    """An app whose database can be taken away and given back."""

    app: Flask
    begin: Callable[[], None]
    end: Callable[[], None]

    def client(self) -> FlaskClient:
        """Return a new browser on this app."""
        return self.app.test_client()


@pytest.fixture
def outage(app: Flask, database_url: str | None, tmp_path) -> Iterator[Outage]:
    """An app and a switch that makes its database unavailable."""
    if database_url is None:
        with app.app_context():
            engine = _db.engine
            path = engine.url.database

            @sa.event.listens_for(engine, "connect")
            def _short_wait(dbapi_connection, _record) -> None:
                # The app waits 30 s for a lock; a test cannot.
                dbapi_connection.execute("PRAGMA busy_timeout=200")

            engine.dispose()
        holder = sqlite3.connect(path, isolation_level=None)

        def take_the_lock() -> None:
            _db.session.commit()  # the test's own reads must not hold a lock
            holder.execute("BEGIN IMMEDIATE")

        yield Outage(app, begin=take_the_lock, end=lambda: holder.execute("ROLLBACK"))
        holder.close()
        return
    url = sa.make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port)
    cut_app = create_app(
        TestingConfig,
        {
            "SQLALCHEMY_DATABASE_URI": proxied.render_as_string(hide_password=False),
            "OUTBOX_DIR": str(tmp_path / "outbox-proxied"),
        },
    )
    yield Outage(cut_app, begin=proxy.cut, end=proxy.restore)
    with cut_app.app_context():
        _db.engine.dispose()
    proxy.close()


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def resend(student: Student) -> object:
    """Press "Try again" on the page the student holds."""
    form = read_form(student.html)
    assert form.action, "the try-again page has no form"
    data: dict[str, list[str]] = {}
    for name, value in form.fields:
        data.setdefault(name, []).append(value)
    response = student.request("POST", form.action, data=data)
    student.html = response.get_data(as_text=True)
    return response


def test_submit_during_outage_gets_try_again_page_with_answers_kept(db, outage):
    student = Student(outage.client(), publish())
    student.start()
    for answers in PULSE_ANSWERS[:-1]:
        student.page(answers)
    outage.begin()
    try:
        response = student.page(PULSE_ANSWERS[-1], action="submit")
    finally:
        outage.end()
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "Not saved yet: please try again" in student.html
    assert "Traceback" not in student.html
    form = dict(read_form(student.html).fields)
    assert form["q-pulse_group_heard"] == "4"
    assert form["q-pulse_open_next_step"].split() == PULSE_COMMENT.split()
    assert form["action"] == "submit"
    assert count(Response) == 0


def test_try_again_after_recovery_stores_the_whole_response_once(db, outage):
    student = Student(outage.client(), publish())
    student.start()
    for answers in PULSE_ANSWERS[:-1]:
        student.page(answers)
    outage.begin()
    try:
        assert student.page(PULSE_ANSWERS[-1], action="submit").status_code == 503
    finally:
        outage.end()
    response = resend(student)
    assert response.status_code == 303
    assert "/thanks" in response.headers["Location"]
    assert count(Response) == 1
    assert count(Answer) == PULSE_ANSWER_ROWS
    assert _db.session.scalar(sa.select(Comment.text)).split() == PULSE_COMMENT.split()


def test_turning_a_page_during_outage_keeps_the_page_answers(db, outage, database_url):
    student = Student(outage.client(), publish())
    student.start()
    outage.begin()
    try:
        response = student.page(PULSE_ANSWERS[0])
    finally:
        outage.end()
    if database_url is None:
        # A page turn only reads: on SQLite (WAL) it goes on while another
        # connection holds the write lock, as a long backup would.
        assert response.status_code == 200
    else:
        assert response.status_code == 503
        assert resend(student).status_code == 200
    assert "Page 2 of 3" in student.html


def test_opening_a_link_during_outage_offers_a_retry_not_a_500(db, outage):
    token = publish().token
    client = outage.client()
    outage.begin()
    try:
        # A GET only reads: on SQLite (WAL) reads go on while a writer holds the lock,
        # so the link still opens; on PostgreSQL nothing answers and the retry shows.
        with outage.app.app_context():
            response = client.get(f"/s/{token}?lang=es")
    finally:
        outage.end()
    html = response.get_data(as_text=True)
    assert response.status_code in (200, 503)
    if response.status_code == 503:
        assert f'href="/s/{token}?lang=es"' in html
        assert "Inténtalo de nuevo" in html
    with outage.app.app_context():
        assert client.get(f"/s/{token}").status_code == 200


def test_staff_sign_in_during_outage_is_503_without_echoing_the_password(db, outage):
    client = outage.client()
    with outage.app.app_context():
        token = csrf_token(client.get("/staff/login").get_data(as_text=True))
    outage.begin()
    try:
        with outage.app.app_context():
            response = client.post(
                "/staff/login",
                data={
                    "csrf_token": token,
                    "email": "someone@example.org",
                    "password": "secret-password-123",
                },
            )
    finally:
        outage.end()
    html = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "secret-password-123" not in html
    assert response.headers["Cache-Control"] == "no-store"


def test_service_recovers_without_restart(db, outage):
    audience = publish()
    first = Student(outage.client(), audience)
    first.start()
    for answers in PULSE_ANSWERS[:-1]:
        first.page(answers)
    outage.begin()
    try:
        assert first.page(PULSE_ANSWERS[-1], action="submit").status_code == 503
        assert outage.client().get("/healthz").status_code == 200
    finally:
        outage.end()
    second = Student(outage.client(), audience)
    assert second.complete().status_code == 303
    assert count(Response) == 1


def _pulse_with(marker: str) -> tuple[dict[str, str], ...]:
    """The pulse's answers, with a comment that names this submission."""
    last = {**PULSE_ANSWERS[-1], "q-pulse_open_next_step": f"{PULSE_COMMENT} {marker}"}
    return (*PULSE_ANSWERS[:-1], last)


#: Students submitting at once while workers are killed, each on their own link.
STUDENT_THREADS = 6


@pytest.mark.slow
def test_killed_workers_lose_no_acknowledged_submission_and_store_no_partial(app, db):
    """SIGKILL gunicorn workers while students submit; count what was promised.

    Each student thread answers through its own group's link, as a school does, so
    the per-link submission limit never turns anyone away: this test is about kills.
    """
    tokens = [publish().token for _ in range(STUDENT_THREADS)]
    _db.session.commit()  # reading the tokens began a transaction: end it
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    acknowledged: list[str] = []
    attempts = itertools.count()
    kills_done = threading.Event()
    give_up = time.monotonic() + 40
    with live_server(url, workers=2) as server:

        def student(token: str) -> None:
            while time.monotonic() < give_up and not (
                kills_done.is_set() and len(acknowledged) >= 12
            ):
                marker = f"ref{next(attempts)}x"
                if LiveStudent(server.url, token).submit(_pulse_with(marker)):
                    acknowledged.append(marker)

        def killer() -> None:
            for _ in range(5):
                time.sleep(1.5)
                pids = server.worker_pids()
                if pids:
                    os.kill(random.choice(pids), signal.SIGKILL)
            kills_done.set()

        threads = [threading.Thread(target=student, args=(t,)) for t in tokens]
        threads.append(threading.Thread(target=killer))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # The service keeps answering once the master has replaced its workers.
        assert LiveStudent(server.url, tokens[0]).submit(_pulse_with("after"))
    acknowledged.append("after")
    texts = _db.session.scalars(sa.select(Comment.text)).all()
    stored = {text.split()[-1] for text in texts}
    assert set(acknowledged) <= stored
    assert len(texts) == len(stored) == count(Response)
    per_response = _db.session.execute(
        sa.select(Answer.response_id, sa.func.count()).group_by(Answer.response_id)
    ).all()
    assert len(per_response) == count(Response)
    assert {n for _, n in per_response} == {PULSE_ANSWER_ROWS}
    assert len(acknowledged) > 5, "too few submissions to mean anything"


@pytest.mark.slow
def test_concurrent_students_store_exactly_what_they_submit(app, db):
    """The small "nothing lost": N students at once, exactly N complete responses."""
    token = publish().token
    _db.session.commit()  # reading the token began a transaction: end it
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    total = 60
    tickets = iter(range(total))
    lock = threading.Lock()
    results: list[bool] = []
    with live_server(url, workers=3) as server:

        def student() -> None:
            while True:
                with lock:
                    ticket = next(tickets, None)
                if ticket is None:
                    return
                ok = LiveStudent(server.url, token).submit(_pulse_with(f"t{ticket}x"))
                results.append(ok)

        threads = [threading.Thread(target=student) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert results == [True] * total
    texts = _db.session.scalars(sa.select(Comment.text)).all()
    assert sorted(text.split()[-1] for text in texts) == sorted(
        f"t{n}x" for n in range(total)
    )
    assert count(Answer) == total * PULSE_ANSWER_ROWS


@pytest.mark.slow
def test_a_double_click_reaching_several_workers_stores_one_response(app, db):
    """The double-submit nonce is shared by every worker (redis), never per worker."""
    if not redis_answers():
        pytest.skip("several workers need redis: set VOICE_TEST_REDIS_URL")
    token = publish().token
    _db.session.commit()  # reading the token began a transaction: end it
    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", "")
    clicks = 12
    statuses: list[int] = []
    with live_server(url, workers=3) as server:
        assert server.workers == 3
        student = LiveStudent(server.url, token)
        form = student.last_page_form(PULSE_ANSWERS)
        together = threading.Barrier(clicks)

        def click() -> None:
            together.wait(timeout=30)
            statuses.append(student.send(f"/s/{token}/answers", form)[0])

        threads = [threading.Thread(target=click) for _ in range(clicks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert statuses == [303] * clicks
    assert count(Response) == 1
    assert count(Answer) == PULSE_ANSWER_ROWS
