"""Bad input on the student flow: a clear message, nothing stored, answers kept; never 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.web.fault_helpers import read_form
from tests.web.take_helpers import (
    PULSE_ANSWERS,
    Student,
    add_codes,
    checked_values,
    hidden,
    publish,
)
from voice.models import AccessMode, Comment, Response
from voice.survey_form import FormState, dump_state, load_state


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def on_first_page(client, db):
    student = Student(client, publish())
    student.start()
    return student


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"q-not_in_this_survey": "3"}, "This page was changed after it was sent"),
        ({"surprise": "1"}, "This page was changed after it was sent"),
        ({"q-pulse_feel_safe": "4"}, "This page was changed after it was sent"),
        ({"q-pulse_be_myself": "7"}, "Please choose one of the answers shown."),
        ({"q-pulse_be_myself": "0"}, "Please choose one of the answers shown."),
        ({"q-pulse_be_myself": "four"}, "Please choose one of the answers shown."),
        ({"q-pulse_be_myself": ["4", "5"]}, "more answers than this question allows"),
    ],
)
def test_tampered_page_is_refused_with_answers_kept(on_first_page, db, extra, message):
    student = on_first_page
    answers = {"q-pulse_group_belong": "4", "q-pulse_school_belong": "2", **extra}
    response = student.page(answers)
    assert response.status_code == 422
    assert message in student.html
    assert "Page 1 of 3" in student.html
    assert checked_values(student.html, "q-pulse_group_belong") == ["4"]
    assert checked_values(student.html, "q-pulse_school_belong") == ["2"]
    assert count(db, Response) == 0


def test_problem_message_speaks_the_students_language(client, db):
    student = Student(client, publish(), lang="es")
    student.start()
    assert student.page({"q-pulse_group_belong": "9"}).status_code == 422
    assert "Revisa tus respuestas" in student.html
    assert "Elige una de las respuestas que aparecen." in student.html


def test_problem_is_tied_to_its_question_for_screen_readers(on_first_page):
    student = on_first_page
    student.page({"q-pulse_be_myself": "9"})
    assert 'aria-describedby="q-pulse_be_myself-error"' in student.html
    assert 'id="q-pulse_be_myself-error"' in student.html
    assert 'href="#q-pulse_be_myself"' in student.html


def test_oversized_comment_is_refused_and_kept_for_shortening(client, db):
    student = Student(client, publish())
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.page(PULSE_ANSWERS[1])
    too_long = "x" * 1001
    response = student.page({"q-pulse_open_next_step": too_long}, "submit")
    assert response.status_code == 422
    assert "too long" in student.html
    assert f">{too_long}</textarea>" in student.html
    assert 'maxlength="1000"' in student.html
    assert "Up to 1,000 characters." in student.html
    assert count(db, Response) == 0


def test_comment_at_the_limit_is_accepted_without_control_characters(client, db):
    student = Student(client, publish())
    text = "a\x00b\x07c" + "y" * 997
    pages = (*PULSE_ANSWERS[:2], {"q-pulse_open_next_step": text})
    assert student.complete(pages=pages).status_code == 303
    stored = db.session.scalars(sa.select(Comment.text)).one()
    assert stored == "abc" + "y" * 997


def test_state_from_another_survey_link_is_refused(client, db):
    first, second = publish(), publish()
    student = Student(client, first)
    student.start()
    other = Student(client, second)
    other.start()
    response = student.post(other.form(PULSE_ANSWERS[0]))
    assert response.status_code == 400
    assert "We could not read your answers" in student.html
    assert f'href="/s/{first.token}?lang=en"' in student.html


@pytest.mark.parametrize("state", ["", "garbage", "e30.not-signed"])
def test_missing_or_forged_state_is_refused(on_first_page, db, state):
    student = on_first_page
    data = student.form(PULSE_ANSWERS[0])
    data["state"] = state
    assert student.post(data).status_code == 400
    assert count(db, Response) == 0


def test_altered_state_is_refused(on_first_page):
    student = on_first_page
    data = student.form(PULSE_ANSWERS[0])
    blob = data["state"]
    data["state"] = blob[:-3] + ("AAA" if blob[-3:] != "AAA" else "BBB")
    assert student.post(data).status_code == 400


def test_state_pointing_past_the_last_page_is_refused(on_first_page, app):
    student = on_first_page
    data = student.form(PULSE_ANSWERS[0])
    state = load_state(
        data["state"], app.config["SECRET_KEY"], audience_id=student.audience_id
    )
    data["state"] = dump_state(
        FormState(audience_id=state.audience_id, page=7, nonce="n"),
        app.config["SECRET_KEY"],
    )
    assert student.post(data).status_code == 400


def test_bad_answer_inside_a_signed_state_sends_the_student_back_to_it(client, db, app):
    # Say the instrument snapshot was edited under a running wave: the state's old
    # answer no longer fits. The whole form is checked again before anything is kept.
    student = Student(client, publish())
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.page(PULSE_ANSWERS[1])
    data = student.form(PULSE_ANSWERS[2], "submit")
    secret = app.config["SECRET_KEY"]
    state = load_state(data["state"], secret, audience_id=student.audience_id)
    bad = dict(state.answers, pulse_group_belong=("9",))
    data["state"] = dump_state(
        FormState(state.audience_id, state.page, bad, None, state.nonce), secret
    )
    response = student.post(data)
    assert response.status_code == 422
    assert "Page 1 of 3" in student.html
    assert count(db, Response) == 0


def test_submit_from_a_page_that_is_not_the_last_only_stays(on_first_page, db):
    student = on_first_page
    response = student.page(PULSE_ANSWERS[0], "submit")
    assert response.status_code == 200
    assert "Page 1 of 3" in student.html
    assert count(db, Response) == 0


def test_body_over_the_limit_gets_a_413_page_in_the_students_language(on_first_page):
    student = on_first_page
    data = student.form({"q-pulse_group_belong": "4"})
    data["q-huge"] = "x" * (1024 * 1024 + 1)
    response = student.post(data, lang="es")
    assert response.status_code == 413
    assert "<html" in student.html
    assert 'lang="es"' in student.html


def test_start_without_csrf_token_is_refused(client, db):
    audience = publish()
    response = client.post(f"/s/{audience.token}/start", data={})
    assert response.status_code == 400
    assert "This page was open too long" in response.get_data(as_text=True)


def test_page_without_csrf_token_stores_nothing(client, db):
    student = Student(client, publish())
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.page(PULSE_ANSWERS[1])
    data = student.form(PULSE_ANSWERS[2], "submit")
    del data["csrf_token"]
    assert student.post(data).status_code == 400
    assert count(db, Response) == 0


def test_code_attempts_are_limited_per_link_not_per_client(app, db):
    audience = publish(access_mode=AccessMode.codes)
    other = publish(access_mode=AccessMode.codes)
    add_codes(app, audience, 1)
    student = Student(app.test_client(), audience)
    student.open()
    data = {"csrf_token": hidden(student.html, "csrf_token"), "code": "AAAA-BBBB-CCCC"}
    for attempt in range(120):
        address = f"198.51.100.{attempt % 250}"
        response = student.request(
            "POST",
            f"/s/{audience.token}/start",
            data=data,
            environ_base={"REMOTE_ADDR": address},
        )
        assert response.status_code == 422
    blocked = student.request("POST", f"/s/{audience.token}/start", data=data)
    assert blocked.status_code == 429
    elsewhere = Student(app.test_client(), other)
    assert elsewhere.start(code="AAAA-BBBB-CCCC").status_code == 422


def test_submissions_are_limited_per_link(client, db, monkeypatch):
    from voice.web import take

    monkeypatch.setattr(take, "SUBMIT_LIMIT", "2 per minute")
    audience = publish()
    for _ in range(2):
        assert Student(client, audience).complete().status_code == 303
    blocked = Student(client, audience)
    assert blocked.complete().status_code == 429
    assert Student(client, publish()).complete().status_code == 303
    assert count(db, Response) == 3


def test_a_submission_over_the_links_limit_keeps_every_answer_for_a_retry(
    client, db, monkeypatch
):
    from voice.web import take

    monkeypatch.setattr(take, "SUBMIT_LIMIT", "1 per minute")
    audience = publish()
    assert Student(client, audience).complete().status_code == 303
    late = Student(client, audience, lang="es")
    turned_away = late.complete()
    assert turned_away.status_code == 429
    assert turned_away.headers["Retry-After"]
    assert "Muchos estudiantes están enviando sus respuestas" in late.html
    form = read_form(late.html)
    fields = dict(form.fields)
    assert fields["q-pulse_group_heard"] == "4"
    assert fields["q-pulse_open_next_step"].split() == [
        "More",
        "clubs",
        "after",
        "school",
    ]
    assert fields["action"] == "submit"
    assert count(db, Response) == 1

    monkeypatch.setattr(take, "SUBMIT_LIMIT", "5 per minute")
    retry = late.request("POST", form.action, data=fields)
    assert retry.status_code == 303
    assert count(db, Response) == 2


def test_a_code_guess_over_the_limit_gets_the_plain_too_many_tries_page(app, db):
    audience = publish(access_mode=AccessMode.codes)
    student = Student(app.test_client(), audience)
    student.open()
    data = {"csrf_token": hidden(student.html, "csrf_token"), "code": "AAAA-BBBB-CCCC"}
    for _ in range(120):
        student.request("POST", f"/s/{audience.token}/start", data=data)
    blocked = student.request("POST", f"/s/{audience.token}/start", data=data)
    assert blocked.status_code == 429
    assert "Too many tries" in blocked.get_data(as_text=True)


def test_page_turns_do_not_use_up_a_links_submissions(client, db, monkeypatch):
    from voice.web import take

    monkeypatch.setattr(take, "SUBMIT_LIMIT", "1 per minute")
    audience = publish()
    student = Student(client, audience)
    student.start()
    for _ in range(10):
        assert student.page(PULSE_ANSWERS[0]).status_code == 200
        assert student.page(action="back").status_code == 200
    student.page(PULSE_ANSWERS[0])
    student.page(PULSE_ANSWERS[1])
    assert student.page(PULSE_ANSWERS[2], "submit").status_code == 303
    assert Student(client, audience).complete().status_code == 429
