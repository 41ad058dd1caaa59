"""The student flow: intro, pages, back and forth, submit once, thank-you page."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.web.take_helpers import (
    PULSE_ANSWERS,
    Student,
    add_codes,
    checked_values,
    hidden,
    publish,
)
from voice.models import AccessMode, Answer, BallotCode, Comment, Language, Response


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_intro_names_the_survey_school_time_and_the_anonymity_promise(client, db):
    audience = publish()
    html = Student(client, audience).open().get_data(as_text=True)
    assert "Affinity group pulse" in html
    assert "Lincoln High School" in html
    assert "Black Student Union" in html
    assert "About 3 minutes" in html
    assert "3 short pages" in html
    for stored_nothing in ("name", "account", "device", "internet address", "time"):
        assert stored_nothing in html.split("Your answers are anonymous")[1]
    assert "at least 10 students" in html
    assert "small groups are never shown" in html


def test_intro_speaks_spanish_when_the_link_says_so(client, db):
    audience = publish()
    html = Student(client, audience, lang="es").open().get_data(as_text=True)
    assert '<html lang="es">' in html
    assert "Termómetro del grupo de afinidad" in html
    assert "Unión de Estudiantes Negros" in html
    assert "Tus respuestas son anónimas" in html
    assert "Comenzar la encuesta" in html
    assert "Your answers are anonymous" not in html


def test_language_switch_is_a_link_carrying_the_language_in_the_url(client, db):
    audience = publish()
    html = Student(client, audience).open().get_data(as_text=True)
    assert f'href="/s/{audience.token}?lang=es"' in html


def test_start_shows_the_first_page_with_progress(client, db):
    audience = publish()
    student = Student(client, audience)
    response = student.start()
    assert response.status_code == 200
    assert "Page 1 of 3" in student.html
    assert '<progress max="3" value="1"' in student.html
    assert "I feel like I belong in this group." in student.html


def test_next_and_back_keep_every_answer(client, db):
    audience = publish()
    student = Student(client, audience)
    student.start()
    student.page(PULSE_ANSWERS[0])
    assert "Page 2 of 3" in student.html
    student.page(PULSE_ANSWERS[1])
    assert "Page 3 of 3" in student.html
    student.page({"q-pulse_group_heard": "5", "q-pulse_open_next_step": "Hola"}, "back")
    assert "Page 2 of 3" in student.html
    assert checked_values(student.html, "q-pulse_treated_unfairly") == ["2"]
    student.page({}, "back")
    assert "Page 1 of 3" in student.html
    assert checked_values(student.html, "q-pulse_school_belong") == ["2"]
    student.page({"q-pulse_school_belong": "3"})
    student.page({"q-pulse_adult_to_go_to": "5"})
    assert checked_values(student.html, "q-pulse_group_heard") == ["5"]
    assert ">Hola</textarea>" in student.html
    assert count(db, Response) == 0


def test_clearing_a_page_clears_its_answers_from_the_state(client, db):
    audience = publish()
    student = Student(client, audience)
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.page({}, "back")
    student.page({})
    student.page({}, "back")
    assert checked_values(student.html, "q-pulse_group_belong") == []


def test_language_can_change_midway_without_losing_answers(client, db):
    audience = publish()
    student = Student(client, audience)
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.post(student.form(PULSE_ANSWERS[1], "stay"), lang="es")
    assert "Página 2 de 3" in student.html
    assert "Me siento a salvo en la escuela." in student.html
    assert checked_values(student.html, "q-pulse_feel_safe") == ["4"]


def test_submit_stores_one_complete_response_then_redirects(client, db):
    audience = publish()
    response = Student(client, audience, lang="es").complete()
    assert response.status_code == 303
    assert response.headers["Location"] == f"/s/{audience.token}/thanks?lang=es"
    stored = db.session.scalars(sa.select(Response)).one()
    assert stored.survey_id == audience.survey_id
    assert stored.group_id == audience.group_id
    assert stored.language is Language.es
    answers = {
        a.item_key: a.numeric_value for a in db.session.scalars(sa.select(Answer))
    }
    assert answers["pulse_group_belong"] == 4
    assert answers["pulse_treated_unfairly"] == 2
    assert len(answers) == 10
    comment = db.session.scalars(sa.select(Comment)).one()
    assert comment.item_key == "pulse_open_next_step"
    assert comment.text == "More clubs\nafter school"
    assert comment.redacted_text == ""
    assert comment.moderation.value == "pending"


def test_a_skipped_survey_stores_an_empty_response(client, db):
    audience = publish()
    response = Student(client, audience).complete(pages=({}, {}, {}))
    assert response.status_code == 303
    assert count(db, Response) == 1
    assert count(db, Answer) == 0


def test_thanks_page_shows_support_resources_and_no_way_back(client, db):
    audience = publish()
    response = client.get(f"/s/{audience.token}/thanks?lang=es")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Gracias" in html
    assert "Ms. Patel, room 114" in html
    assert "988" in html
    assert "<form" not in html
    for way_back in ("/answers", "/start", f'/s/{audience.token}"', "?lang=en&"):
        assert way_back not in html


def test_thanks_page_without_school_resources_still_points_to_help(client, db):
    audience = publish(support_resources={})
    html = client.get(f"/s/{audience.token}/thanks").get_data(as_text=True)
    assert "counselor" in html
    assert "988" in html


def test_resubmitting_the_last_page_never_stores_a_second_response(client, db):
    audience = publish()
    student = Student(client, audience)
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.page(PULSE_ANSWERS[1])
    last = student.form(PULSE_ANSWERS[2], "submit")
    first = student.post(last)
    again = student.post(last)
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    assert count(db, Response) == 1


def test_a_reloaded_form_address_goes_back_to_the_start(client, db):
    audience = publish()
    response = client.get(f"/s/{audience.token}/answers?lang=es")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/s/{audience.token}?lang=es"


# --- ballot codes -----------------------------------------------------------------


def test_code_survey_asks_for_the_code_first(client, db, app):
    audience = publish(access_mode=AccessMode.codes)
    student = Student(client, audience)
    student.open()
    assert '<label class="label" for="code">Your code</label>' in student.html
    response = student.start(code="")
    assert response.status_code == 422
    assert "Page 1 of 3" not in student.html


def test_a_valid_code_typed_loosely_opens_the_questionnaire(client, db, app):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    student = Student(client, audience)
    response = student.start(code=" " + code.lower().replace("-", " ") + " ")
    assert response.status_code == 200
    assert "Page 1 of 3" in student.html
    assert code not in student.html
    assert code.replace("-", "") not in student.html


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("ABCD", "does not look like a code"),
        ("ABCD-EFGH-JKM!", "does not look like a code"),
        ("ABCD-EFGH-JKMN", "could not find that code"),
    ],
)
def test_a_mistyped_code_gets_a_page_to_type_it_again(client, db, app, typed, message):
    audience = publish(access_mode=AccessMode.codes)
    add_codes(app, audience, 3)
    student = Student(client, audience)
    response = student.start(code=typed)
    assert response.status_code == 422
    assert message in student.html
    assert 'aria-invalid="true"' in student.html
    assert f'value="{typed}"' in student.html
    assert 'name="csrf_token"' in student.html


def test_a_code_printed_for_another_group_is_not_accepted(client, db, app):
    audience = publish(access_mode=AccessMode.codes)
    other = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, other, 1)
    student = Student(client, audience)
    assert student.start(code=code).status_code == 422
    assert "could not find that code" in student.html


def test_a_spent_code_gets_its_own_page(client, db, app):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    assert Student(client, audience).complete(code=code).status_code == 303
    again = Student(app.test_client(), audience, lang="es")
    response = again.start(code=code)
    assert response.status_code == 409
    assert "ya se usó" in again.html
    assert 'name="code"' in again.html


def test_submit_burns_the_code_in_the_same_transaction(client, db, app):
    audience = publish(access_mode=AccessMode.codes)
    codes = add_codes(app, audience, 2)
    Student(client, audience).complete(code=codes[0])
    spent = db.session.scalars(
        sa.select(BallotCode.is_spent).order_by(BallotCode.is_spent)
    ).all()
    assert spent == [False, True]
    assert count(db, Response) == 1


def test_two_students_with_one_code_store_one_response(client, db, app):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    first, second = Student(client, audience), Student(app.test_client(), audience)
    for student in (first, second):
        student.start(code=code)
        student.page(PULSE_ANSWERS[0])
        student.page(PULSE_ANSWERS[1])
    assert first.page(PULSE_ANSWERS[2], "submit").status_code == 303
    response = second.page(PULSE_ANSWERS[2], "submit")
    assert response.status_code == 409
    assert "already been used" in second.html
    assert count(db, Response) == 1


def test_code_from_the_qr_leaves_the_url_and_fills_the_field(client, db, app):
    audience = publish(access_mode=AccessMode.codes)
    (code,) = add_codes(app, audience, 1)
    response = client.get(f"/s/{audience.token}?code={code}&lang=es")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/s/{audience.token}?lang=es"
    assert code not in response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'value="{code.replace("-", "")}"' in html
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert code.replace("-", "") not in html


# --- closed, not yet open, unknown --------------------------------------------------


def test_unknown_link_gets_a_friendly_404_in_the_students_language(client, db):
    response = client.get("/s/not-a-real-link?lang=es")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "No encontramos esta encuesta" in html


def test_closed_survey_gets_a_410_page(client, db):
    from tests.web.take_helpers import in_past

    audience = publish(opens_closes=in_past())
    response = client.get(f"/s/{audience.token}")
    assert response.status_code == 410
    assert "This survey has closed" in response.get_data(as_text=True)


def test_survey_closed_by_an_admin_gets_a_410_page(client, db):
    from voice.models import SurveyStatus

    audience = publish(status=SurveyStatus.closed)
    assert client.get(f"/s/{audience.token}?lang=es").status_code == 410


def test_survey_not_yet_open_says_when_it_opens(client, db):
    from tests.web.take_helpers import in_future

    audience = publish(opens_closes=in_future())
    response = client.get(f"/s/{audience.token}")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "not open yet" in html
    assert re.search(r"It opens on \w+ \d+, \d{4}", html)


def test_draft_survey_is_not_open_and_shows_no_date(client, db):
    from voice.models import SurveyStatus

    audience = publish(status=SurveyStatus.draft)
    response = client.get(f"/s/{audience.token}")
    assert response.status_code == 403
    assert "It opens on" not in response.get_data(as_text=True)


def test_survey_closing_midway_stores_nothing_and_says_so(client, db):
    from voice.models import SurveyStatus

    audience = publish()
    student = Student(client, audience)
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.page(PULSE_ANSWERS[1])
    audience.survey.status = SurveyStatus.closed
    db.session.commit()
    response = student.page(PULSE_ANSWERS[2], "submit")
    assert response.status_code == 410
    assert count(db, Response) == 0


def test_thanks_page_of_an_unknown_link_is_a_404(client, db):
    assert client.get("/s/nope/thanks").status_code == 404


def test_every_student_form_carries_a_csrf_token(client, db):
    audience = publish()
    student = Student(client, audience)
    student.open()
    assert hidden(student.html, "csrf_token")
    student.start()
    assert hidden(student.html, "csrf_token")


def test_submit_works_with_rate_limiting_switched_off(client, db, monkeypatch):
    from voice.extensions import limiter

    monkeypatch.setattr(limiter, "enabled", False)
    assert Student(client, publish()).complete().status_code == 303
    assert count(db, Response) == 1


@pytest.fixture
def cached_links(app, monkeypatch):
    """Let workers reuse a link for a minute, as production does for a few seconds."""
    from voice.web import take

    monkeypatch.setitem(app.config, "LINK_CACHE_SECONDS", 60.0)
    take._LINK_CACHE.clear()
    yield take
    take._LINK_CACHE.clear()


def test_a_cached_link_still_stores_nothing_after_its_wave_closes(
    client, db, cached_links
):
    from voice.models import SurveyStatus

    audience = publish()
    student = Student(client, audience)
    student.start()
    student.page(PULSE_ANSWERS[0])
    student.page(PULSE_ANSWERS[1])
    assert audience.token in cached_links._LINK_CACHE
    audience.survey.status = SurveyStatus.closed
    db.session.commit()
    response = student.page(PULSE_ANSWERS[2], "submit")
    assert response.status_code == 410
    assert count(db, Response) == 0


def test_a_cached_link_is_read_again_once_it_is_old(client, db, cached_links):
    from voice.models import SurveyStatus

    audience = publish()
    assert client.get(f"/s/{audience.token}").status_code == 200
    audience.survey.status = SurveyStatus.closed
    db.session.commit()
    assert client.get(f"/s/{audience.token}").status_code == 200  # within the minute
    read_at, link, snapshot = cached_links._LINK_CACHE[audience.token]
    cached_links._LINK_CACHE[audience.token] = (read_at - 61, link, snapshot)
    assert client.get(f"/s/{audience.token}").status_code == 410


def test_unknown_links_are_never_cached(client, db, cached_links):
    for number in range(20):
        assert client.get(f"/s/no-such-link-{number}").status_code == 404
    assert cached_links._LINK_CACHE == {}
