"""The questionnaire's pure parts: signed form state, page checks, page views."""

from __future__ import annotations

from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from voice.instruments import AnswerError, clean_answers, load_instrument
from voice.survey_form import (
    FormState,
    StateError,
    answer_strings,
    build_page,
    clean_page,
    dump_state,
    first_page_with_problem,
    load_state,
    split_posted,
    start_state,
    with_page_answers,
)

SURVEYS = Path(__file__).resolve().parents[2] / "surveys"
CLIMATE = load_instrument(SURVEYS / "climate-belonging.v1.yaml")
SECRET = "unit-test-secret"


def _page_index(key: str) -> int:
    return next(i for i, page in enumerate(CLIMATE.pages) if page.key == key)


def _first_item(kind: str):
    return next(item for item in CLIMATE.items if item.type == kind)


def test_state_survives_the_round_trip():
    state = FormState(
        audience_id=7,
        page=2,
        answers={"belong_left_out": ("2",), "open_belonging": ("Más clubes",)},
        code_hash="ab" * 32,
        nonce="n1",
    )
    again = load_state(dump_state(state, SECRET), SECRET, audience_id=7)
    assert again.page == 2 and again.nonce == "n1" and again.code_hash == "ab" * 32
    assert dict(again.answers) == dict(state.answers)


def test_new_states_get_distinct_nonces_and_start_on_the_first_page():
    first, second = start_state(3, None), start_state(3, None)
    assert first.page == second.page == 0
    assert first.nonce != second.nonce and len(first.nonce) >= 20


@pytest.mark.parametrize(
    "blob",
    [
        "",
        "not a state",
        dump_state(start_state(7), "another secret"),
        dump_state(start_state(7), SECRET)[:-2] + "xx",
    ],
)
def test_altered_or_foreign_state_is_refused(blob):
    with pytest.raises(StateError):
        load_state(blob, SECRET, audience_id=7)


def test_state_of_another_survey_link_is_refused():
    with pytest.raises(StateError):
        load_state(dump_state(start_state(8), SECRET), SECRET, audience_id=7)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"a": "7", "p": 0, "v": {}, "c": None, "n": ""},
        {"a": 7, "p": 0, "v": {"x": "1"}, "c": None, "n": ""},
        {"a": 7, "p": 0, "v": {"x": [1]}, "c": None, "n": ""},
        {"a": 7, "p": 0, "v": {}, "c": 5, "n": ""},
    ],
)
def test_signed_state_of_the_wrong_shape_is_refused(payload):
    blob = URLSafeSerializer(SECRET, salt="voice.take.form-state").dumps(payload)
    with pytest.raises(StateError):
        load_state(blob, SECRET, audience_id=7)


def test_split_posted_separates_answers_controls_and_strangers():
    answers, unexpected = split_posted(
        [
            ("csrf_token", ["t"]),
            ("state", ["s"]),
            ("action", ["next"]),
            ("lang", ["es"]),
            ("q-race_ethnicity", ["asian", "white"]),
            ("q-belong_left_out", ["2"]),
            ("evil", ["1"]),
        ]
    )
    assert answers == {"race_ethnicity": ("asian", "white"), "belong_left_out": ("2",)}
    assert unexpected == ("evil",)


def test_a_page_accepts_only_its_own_items():
    belonging = _page_index("belonging")
    other_item = CLIMATE.pages[belonging + 1].items[0].key
    clean = clean_page(CLIMATE, belonging, {"belong_left_out": ("2",)})
    assert dict(clean.numeric) == {"belong_left_out": 2}
    with pytest.raises(AnswerError) as error:
        clean_page(CLIMATE, belonging, {other_item: ("2",)})
    assert error.value.problems == ((other_item, "unknown_item"),)


def test_answer_strings_check_again_to_the_same_answers():
    about = _page_index("about_you")
    posted = {"race_ethnicity": ("white", "asian"), "grade_band": ("grades_9_10",)}
    clean = clean_page(CLIMATE, about, posted)
    assert clean_answers(CLIMATE, answer_strings(clean)) == clean


def test_turning_a_page_replaces_its_answers_and_keeps_the_others():
    first, second = CLIMATE.pages[0], CLIMATE.pages[1]
    state = FormState(
        audience_id=1,
        page=0,
        answers={first.items[0].key: ("4",), second.items[0].key: ("3",)},
    )
    cleared = clean_page(CLIMATE, 0, {first.items[1].key: ("5",)})
    after = with_page_answers(state, CLIMATE, cleared, go_to=1)
    assert after.page == 1
    assert dict(after.answers) == {
        first.items[1].key: ("5",),
        second.items[0].key: ("3",),
    }


def test_first_page_with_problem_points_at_the_item():
    about = _page_index("about_you")
    assert first_page_with_problem(CLIMATE, [("grade_band", "invalid_choice")]) == about
    assert first_page_with_problem(CLIMATE, [("nowhere", "unknown_item")]) == 0


def test_page_view_shows_kinds_answers_and_progress_in_spanish():
    about = _page_index("about_you")
    page = build_page(
        CLIMATE,
        about,
        "es",
        {"race_ethnicity": ("asian",), "grade_band": ("grades_9_10",)},
    )
    assert (page.number, page.total) == (about + 1, len(CLIMATE.pages))
    assert page.is_last and not page.is_first
    by_key = {q.key: q for q in page.questions}
    race = by_key["race_ethnicity"]
    assert race.kind == "checkbox" and race.name == "q-race_ethnicity"
    assert [c.value for c in race.choices if c.checked] == ["asian"]
    assert by_key["grade_band"].kind == "radio"
    assert by_key["grade_band"].text == CLIMATE.item("grade_band").text.get("es")


def test_text_question_shows_its_limit_and_what_was_typed():
    item = _first_item("text")
    index = next(i for i, p in enumerate(CLIMATE.pages) if item in p.items)
    page = build_page(CLIMATE, index, "en", {item.key: ("typed so far",)})
    question = next(q for q in page.questions if q.key == item.key)
    assert question.kind == "text"
    assert question.value == "typed so far"
    assert question.max_length == 1000


def test_problems_sit_on_their_question_or_on_the_form():
    page = build_page(
        CLIMATE,
        0,
        "en",
        {},
        [
            (CLIMATE.pages[0].items[0].key, "out_of_range"),
            ("bogus", "unknown_item"),
            ("bogus2", "unknown_item"),
        ],
    )
    assert page.questions[0].problems == ("out_of_range",)
    assert all(not q.problems for q in page.questions[1:])
    assert page.form_problems == ("unknown_item",)
