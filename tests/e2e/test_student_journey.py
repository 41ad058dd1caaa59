"""A student on a phone: QR link, Spanish, answer, go back, change, submit, thanks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import PHONE
from tests.web.take_helpers import publish
from voice.models import Answer, Comment, Language, Response

pytestmark = pytest.mark.e2e


def choose(page, item: str, value: str) -> None:
    """Tap the option ``value`` of question ``item``."""
    page.check(f'input[name="q-{item}"][value="{value}"]')


def test_student_answers_in_spanish_changes_an_answer_and_submits(db, visit):
    token = publish().token
    db.session.commit()
    page, seen = visit("student", PHONE)

    page.goto(f"/s/{token}")  # what the group's QR code opens
    seen.check("survey link")
    page.click('a.lang-switch[lang="es"]')
    assert page.locator("html").get_attribute("lang") == "es"
    seen.check("survey link in Spanish")

    page.click("text=Comenzar la encuesta")
    assert "Página 1 de 3" in page.inner_text("body")
    choose(page, "pulse_group_belong", "4")
    choose(page, "pulse_school_belong", "2")
    choose(page, "pulse_be_myself", "5")
    seen.check("page 1 answered")
    page.click("text=Siguiente")

    assert "Página 2 de 3" in page.inner_text("body")
    choose(page, "pulse_feel_safe", "4")
    choose(page, "pulse_identity_respected", "5")
    seen.check("page 2 answered")
    page.click("text=Atrás")

    assert "Página 1 de 3" in page.inner_text("body")
    assert page.is_checked('input[name="q-pulse_school_belong"][value="2"]')
    choose(page, "pulse_school_belong", "3")
    seen.check("page 1 changed")
    page.click("text=Siguiente")

    assert page.is_checked('input[name="q-pulse_feel_safe"][value="4"]')
    page.click("text=Siguiente")
    assert "Página 3 de 3" in page.inner_text("body")
    choose(page, "pulse_group_heard", "4")
    page.fill('textarea[name="q-pulse_open_next_step"]', "Más clubes después de clases")
    seen.check("last page answered")
    page.click("text=Enviar mis respuestas")

    assert "Gracias. Tus respuestas se guardaron." in page.inner_text("body")
    seen.check("thank you")

    response = db.session.scalar(sa.select(Response))
    assert response.language is Language.es
    answers = dict(
        db.session.execute(
            sa.select(Answer.item_key, Answer.numeric_value).where(
                Answer.response_id == response.id
            )
        ).all()
    )
    assert answers["pulse_school_belong"] == 3
    assert answers["pulse_feel_safe"] == 4
    assert db.session.scalar(sa.select(Comment.text)) == "Más clubes después de clases"
