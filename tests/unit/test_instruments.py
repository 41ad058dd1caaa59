"""The instrument library: every shipped file, the validator, answers and categories."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from voice.instruments import (
    MESSAGE_CODES,
    MULTIPLE,
    NOT_REPORTED,
    PREFER_NOT,
    AnswerError,
    CleanAnswers,
    Instrument,
    InstrumentError,
    Localized,
    categorize,
    clean_answers,
    favorable,
    instrument_to_snapshot,
    load_instrument,
    load_library,
    parse_instrument,
)

SURVEYS = Path(__file__).resolve().parents[2] / "surveys"
SURVEY_FILES = sorted(SURVEYS.glob("*.yaml"))


def _texts(instrument: Instrument) -> Iterator[tuple[str, Localized]]:
    """Yield every localized text of an instrument with where it lives."""
    yield "title", instrument.title
    if instrument.description:
        yield "description", instrument.description
    for page in instrument.pages:
        yield f"page {page.key}", page.title
        if page.intro:
            yield f"page {page.key} intro", page.intro
        for item in page.items:
            yield f"item {item.key}", item.text
            if item.help:
                yield f"item {item.key} help", item.help
            for option in item.options:
                yield f"item {item.key} option {option.value}", option.text
    for scale in instrument.scales:
        yield f"scale {scale.key}", scale.title
    for dimension in instrument.dimensions:
        yield f"dimension {dimension.key}", dimension.title
        for category in dimension.categories:
            yield f"dimension {dimension.key} {category.key}", category.label


# --- every shipped file -----------------------------------------------------------


def test_library_ships_both_instruments() -> None:
    assert {"climate-belonging.v1", "affinity-pulse.v1"} <= set(load_library(SURVEYS))


@pytest.mark.parametrize("path", SURVEY_FILES, ids=lambda path: path.name)
def test_shipped_instrument_is_valid_and_fully_translated(path: Path) -> None:
    instrument = load_instrument(path)
    assert path.name == f"{instrument.key}.yaml"
    assert {"en", "es"} <= set(instrument.languages)
    for where, text in _texts(instrument):
        assert set(text.languages) == set(instrument.languages), where
        assert all(value.strip() for _, value in text.texts), where
    questions = [item for item in instrument.items if item.dimension is None]
    assert 8 <= len(questions) <= 35
    assert 1 <= sum(item.type == "text" for item in questions) <= 3
    assert all(1 <= len(page.items) <= 6 for page in instrument.pages)
    assert not any(item.required for item in instrument.items)
    for item in questions:
        if item.type in {"agree5", "frequency", "yes_no"}:
            assert item.favorable, f"{item.key} has no favorable answers"
    for dimension in instrument.dimensions:
        assert PREFER_NOT in instrument.item(dimension.item).values


@pytest.mark.parametrize("path", SURVEY_FILES, ids=lambda path: path.name)
def test_snapshot_round_trips_exactly_through_json(path: Path) -> None:
    instrument = load_instrument(path)
    snapshot = json.loads(json.dumps(instrument_to_snapshot(instrument)))
    rebuilt = parse_instrument(snapshot, source="snapshot")
    assert rebuilt == instrument
    assert instrument_to_snapshot(rebuilt) == snapshot


@pytest.mark.parametrize(
    ("key", "low", "high", "texts"),
    [("climate-belonging.v1", 25, 35, (2, 3)), ("affinity-pulse.v1", 8, 12, (1, 2))],
)
def test_shipped_instrument_has_the_agreed_size(
    key: str, low: int, high: int, texts: tuple[int, int]
) -> None:
    instrument = load_library(SURVEYS)[key]
    questions = [item for item in instrument.items if item.dimension is None]
    assert low <= len(questions) <= high
    assert texts[0] <= sum(item.type == "text" for item in questions) <= texts[1]


def test_climate_instrument_has_the_five_scales_and_four_dimensions() -> None:
    climate = load_library(SURVEYS)["climate-belonging.v1"]
    assert {scale.title.get("en") for scale in climate.scales} >= {
        "Sense of belonging",
        "Adult relationships",
        "Cultural responsiveness",
        "Safety and respect",
        "Student voice",
    }
    assert [dimension.key for dimension in climate.dimensions] == [
        "grade_band",
        "gender_identity",
        "race_ethnicity",
        "multilingual_learner",
    ]
    assert 5 <= len(climate.pages) <= 7
    race = climate.item("race_ethnicity")
    assert race.type == "multi"


# --- a small instrument to break ----------------------------------------------------

AGREE = [{"value": v, "text": {"en": f"a{v}", "es": f"a{v} es"}} for v in range(1, 6)]


def _base() -> dict[str, Any]:
    """Return a small valid instrument as YAML would parse it."""
    return {
        "slug": "tiny",
        "version": 1,
        "languages": ["en", "es"],
        "title": {"en": "Tiny", "es": "Pequeño"},
        "sources": {"edscls": "ED School Climate Surveys"},
        "response_options": {
            "agree5": AGREE,
            "prefer_not_answer": {"en": "Prefer not to answer", "es": "Prefiero no"},
            "prefer_not_say": {"en": "Prefer not to say", "es": "Prefiero no decirlo"},
            "not_reported": {"en": "Not reported", "es": "Sin respuesta"},
        },
        "pages": [
            {
                "key": "one",
                "title": {"en": "One", "es": "Uno"},
                "items": [
                    {
                        "key": "happy",
                        "type": "agree5",
                        "source": "edscls",
                        "text": {"en": "I am happy.", "es": "Estoy feliz."},
                    },
                    {
                        "key": "left_out",
                        "type": "agree5",
                        "reverse": True,
                        "text": {"en": "I feel left out.", "es": "Me dejan de lado."},
                    },
                    {
                        "key": "bullied",
                        "type": "yes_no",
                        "reverse": True,
                        "prefer_not": True,
                        "options": [
                            {"value": "yes", "text": {"en": "Yes", "es": "Sí"}},
                            {"value": "no", "text": {"en": "No", "es": "No"}},
                        ],
                        "text": {"en": "Bullied?", "es": "¿Acoso?"},
                    },
                    {
                        "key": "clubs",
                        "type": "multi",
                        "max_choices": 2,
                        "options": [
                            {"value": v, "text": {"en": v, "es": v}}
                            for v in ("art", "chess", "soccer")
                        ],
                        "text": {"en": "Clubs?", "es": "¿Clubes?"},
                    },
                    {
                        "key": "color",
                        "type": "single",
                        "required": True,
                        "options": [
                            {"value": v, "text": {"en": v, "es": v}}
                            for v in ("red", "blue")
                        ],
                        "text": {"en": "Color?", "es": "¿Color?"},
                    },
                    {
                        "key": "comment",
                        "type": "text",
                        "max_length": 20,
                        "text": {"en": "Anything?", "es": "¿Algo?"},
                    },
                ],
            }
        ],
        "self_id": {
            "key": "about_you",
            "title": {"en": "About you", "es": "Sobre ti"},
            "items": [
                {
                    "key": "grade",
                    "type": "single",
                    "options": [
                        {"value": v, "text": {"en": v, "es": v}}
                        for v in ("grades_6_8", "grades_9_12")
                    ],
                    "text": {"en": "Grade?", "es": "¿Grado?"},
                    "dimension": {
                        "key": "grade_band",
                        "title": {"en": "Grade", "es": "Grado"},
                    },
                },
                {
                    "key": "race",
                    "type": "multi",
                    "options": [
                        {"value": v, "text": {"en": v, "es": v}}
                        for v in ("asian", "black", "latino", "white")
                    ],
                    "text": {"en": "Race?", "es": "¿Raza?"},
                    "dimension": {
                        "key": "race_ethnicity",
                        "title": {"en": "Race", "es": "Raza"},
                        "multiple": {"en": "Two or more", "es": "Dos o más"},
                    },
                },
            ],
        },
        "scales": [
            {
                "key": "belonging",
                "title": {"en": "Belonging", "es": "Pertenencia"},
                "items": ["happy", "left_out"],
                "favorable": [4, 5],
            }
        ],
    }


def _item(data: dict[str, Any], key: str) -> dict[str, Any]:
    for page in [*data["pages"], data["self_id"]]:
        for item in page["items"]:
            if item["key"] == key:
                return item
    raise KeyError(key)


@pytest.fixture
def tiny() -> Instrument:
    return parse_instrument(_base(), source="tiny")


def _write(tmp_path: Path, data: dict[str, Any], name: str = "tiny.v1.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_base_instrument_is_valid(tmp_path: Path, tiny: Instrument) -> None:
    assert load_instrument(_write(tmp_path, _base())) == tiny
    assert tiny.key == "tiny.v1"


def _set(key: str, field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        _item(data, key)[field] = value

    return mutate


def _drop(key: str, field: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        del _item(data, key)[field]

    return mutate


def _duplicate_item(data: dict[str, Any]) -> None:
    items = data["pages"][0]["items"]
    items.append(copy.deepcopy(items[0]))


def _missing_es(data: dict[str, Any]) -> None:
    del _item(data, "happy")["text"]["es"]


def _scale_points_nowhere(data: dict[str, Any]) -> None:
    data["scales"][0]["items"].append("hapy")


def _favorable_out_of_range(data: dict[str, Any]) -> None:
    data["scales"][0]["favorable"] = [4, 6]


def _item_in_two_scales(data: dict[str, Any]) -> None:
    data["scales"].append(
        {
            "key": "again",
            "title": {"en": "Again", "es": "Otra vez"},
            "items": ["happy"],
            "favorable": [5],
        }
    )


def _scale_with_choice_item(data: dict[str, Any]) -> None:
    data["scales"][0]["items"].append("color")


def _no_shared_agree5(data: dict[str, Any]) -> None:
    del data["response_options"]["agree5"]


def _self_id_without_prefer_not(data: dict[str, Any]) -> None:
    _item(data, "grade")["prefer_not"] = False


def _dimension_outside_self_id(data: dict[str, Any]) -> None:
    _item(data, "color")["dimension"] = {"key": "c", "title": {"en": "C", "es": "C"}}


def _unquoted_no(data: dict[str, Any]) -> None:
    _item(data, "bullied")["options"][1]["value"] = False


def _missing_option_es(data: dict[str, Any]) -> None:
    del _item(data, "clubs")["options"][0]["text"]["es"]


def _duplicate_dimension(data: dict[str, Any]) -> None:
    _item(data, "race")["dimension"]["key"] = "grade_band"


BROKEN = [
    (_duplicate_item, "item 'happy'", "duplicate item key"),
    (_missing_es, "item 'happy'", "missing 'es' translation of text"),
    (_set("happy", "type", "likert"), "item 'happy'", "unknown type 'likert'"),
    (_set("happy", "revers", True), "item 'happy'", "unknown field 'revers'"),
    (_drop("happy", "text"), "item 'happy'", "missing field 'text'"),
    (_scale_points_nowhere, "scale 'belonging'", "item 'hapy', which does not exist"),
    (_favorable_out_of_range, "scale 'belonging'", "favorable value 6 is outside"),
    (_item_in_two_scales, "scale 'again'", "already belongs to scale 'belonging'"),
    (_scale_with_choice_item, "scale 'belonging'", "item 'color' is a single item"),
    (_no_shared_agree5, "item 'happy'", "has no options"),
    (_set("comment", "reverse", True), "item 'comment'", "'reverse' does not apply"),
    (_set("comment", "max_length", 100_000), "item 'comment'", "max_length 100000"),
    (_set("clubs", "max_choices", 4), "item 'clubs'", "max_choices 4 is outside"),
    (_set("happy", "source", "nces"), "item 'happy'", "source 'nces' is not listed"),
    (_self_id_without_prefer_not, "item 'grade'", "must offer 'prefer not to say'"),
    (_drop("grade", "dimension"), "item 'grade'", "declare a 'dimension'"),
    (_dimension_outside_self_id, "item 'color'", "declare a 'dimension'"),
    (_set("grade", "required", True), "item 'grade'", "always optional"),
    (_unquoted_no, "item 'bullied'", "yes, no, in order"),
    (_missing_option_es, "item 'clubs', option 'art'", "missing 'es' translation"),
    (_duplicate_dimension, "self_id 'about_you'", "declare the dimension 'grade_band'"),
    (
        _set(
            "color", "options", [{"value": "multiple", "text": {"en": "M", "es": "M"}}]
        ),
        "item 'color'",
        "'multiple' is reserved",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where", "problem"),
    BROKEN,
    ids=[problem for _, _, problem in BROKEN],
)
def test_broken_file_names_file_part_and_problem(
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    where: str,
    problem: str,
) -> None:
    data = _base()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(InstrumentError) as caught:
        load_instrument(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {where}: ")
    assert problem in message
    assert caught.value.source == str(path)


def test_multi_self_id_without_two_or_more_label_is_refused() -> None:
    data = _base()
    del _item(data, "race")["dimension"]["multiple"]
    with pytest.raises(InstrumentError, match="item 'race': a 'multiple' label"):
        parse_instrument(data, source="tiny")


def test_duplicate_yaml_key_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    text = yaml.safe_dump(_base(), allow_unicode=True).replace(
        "slug: tiny\n", "slug: tiny\nslug: tiny\n"
    )
    path = tmp_path / "tiny.v1.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InstrumentError, match=r"found duplicate key 'slug'.*line"):
        load_instrument(path)


def test_empty_file_is_reported_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "tiny.v1.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(
        InstrumentError, match="instrument: must be a mapping, not nothing"
    ):
        load_instrument(path)


def test_invalid_yaml_is_reported_with_its_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.v1.yaml"
    path.write_text("slug: [unclosed\n", encoding="utf-8")
    with pytest.raises(InstrumentError, match=rf"^{path}: file: is not valid YAML"):
        load_instrument(path)


def test_file_name_must_match_slug_and_version(tmp_path: Path) -> None:
    path = _write(tmp_path, _base(), name="tiny.v2.yaml")
    with pytest.raises(InstrumentError, match="must be named tiny.v1.yaml"):
        load_instrument(path)


def test_snapshot_carries_every_label_so_it_needs_no_library_file(
    tiny: Instrument,
) -> None:
    snapshot = instrument_to_snapshot(tiny)
    assert "response_options" not in snapshot
    assert parse_instrument(copy.deepcopy(snapshot), source="snapshot") == tiny


def test_instrument_is_immutable(tiny: Instrument) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny.version = 2  # type: ignore[misc]


def test_localized_text_falls_back_to_the_first_language(tiny: Instrument) -> None:
    assert tiny.item("happy").text.get("es") == "Estoy feliz."
    assert tiny.item("happy").text.get("fr") == "I am happy."


def test_self_id_items_offer_prefer_not_to_say_from_the_file(tiny: Instrument) -> None:
    grade = tiny.item("grade")
    assert grade.options[-1].value == PREFER_NOT
    assert grade.options[-1].text.get("en") == "Prefer not to say"
    assert tiny.item("bullied").options[-1].text.get("en") == "Prefer not to answer"


# --- favorable answers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("happy", 5, True),
        ("happy", 4, True),
        ("happy", 3, False),
        ("happy", 1, False),
        ("left_out", 1, True),
        ("left_out", 2, True),
        ("left_out", 4, False),
        ("bullied", "no", True),
        ("bullied", "yes", False),
        ("bullied", PREFER_NOT, False),
    ],
)
def test_favorable_accounts_for_reversed_wording(
    tiny: Instrument, key: str, value: int | str, expected: bool
) -> None:
    assert favorable(tiny.item(key), value) is expected


def test_scale_favorable_reads_scored_values(tiny: Instrument) -> None:
    scale = tiny.scale("belonging")
    left_out = tiny.item("left_out")
    assert favorable(scale, left_out.scored(1)) is True
    assert favorable(scale, left_out.scored(5)) is False
    assert tiny.item("happy").scored(5) == 5


@pytest.mark.parametrize("key", ["comment", "color", "clubs", "grade"])
def test_unscored_items_have_no_favorable_answers(tiny: Instrument, key: str) -> None:
    with pytest.raises(ValueError, match="no favorable answers"):
        favorable(tiny.item(key), "red")


# --- clean_answers -----------------------------------------------------------------


def test_good_answers_come_back_as_plain_values(tiny: Instrument) -> None:
    answers = clean_answers(
        tiny,
        {
            "happy": ["4"],
            "left_out": "2",
            "bullied": [PREFER_NOT],
            "clubs": ["soccer", "art"],
            "color": ["blue"],
            "comment": ["  Más\r\nclubs\x00 please  "],
            "race": ["white", "latino"],
        },
    )
    assert answers.numeric == {"happy": 4, "left_out": 2}
    assert answers.choices == {
        "bullied": (PREFER_NOT,),
        "clubs": ("art", "soccer"),
        "color": ("blue",),
        "race": ("latino", "white"),
    }
    assert answers.texts == {"comment": "Más\nclubs please"}


def test_blank_answers_are_skips(tiny: Instrument) -> None:
    answers = clean_answers(
        tiny, {"happy": [""], "clubs": [], "comment": ["   "], "color": ["red"]}
    )
    assert answers == CleanAnswers(numeric={}, choices={"color": ("red",)}, texts={})


def test_text_at_its_limit_is_accepted(tiny: Instrument) -> None:
    answers = clean_answers(tiny, {"color": ["red"], "comment": ["x" * 20]})
    assert answers.texts["comment"] == "x" * 20


TAMPERING = [
    ({"hacked": ["1"]}, "hacked", "unknown_item"),
    ({"happy": ["6"]}, "happy", "out_of_range"),
    ({"happy": ["0"]}, "happy", "out_of_range"),
    ({"happy": ["-1"]}, "happy", "out_of_range"),
    ({"happy": ["4.5"]}, "happy", "wrong_type"),
    ({"happy": ["four"]}, "happy", "wrong_type"),
    ({"happy": ["٤"]}, "happy", "wrong_type"),
    ({"happy": [4]}, "happy", "wrong_type"),
    ({"happy": ["4", "5"]}, "happy", "too_many_choices"),
    ({"color": ["green"]}, "color", "invalid_choice"),
    ({"color": ["red", "blue"]}, "color", "too_many_choices"),
    ({"bullied": ["maybe"]}, "bullied", "invalid_choice"),
    ({"clubs": ["art", "art"]}, "clubs", "duplicate_choice"),
    ({"clubs": ["art", "chess", "soccer"]}, "clubs", "too_many_choices"),
    ({"race": [PREFER_NOT, "white"]}, "race", "exclusive_choice"),
    ({"race": ["multiple"]}, "race", "invalid_choice"),
    ({"comment": ["x" * 21]}, "comment", "too_long"),
    ({"comment": ["a", "b"]}, "comment", "too_many_choices"),
    ({"comment": {"nested": "dict"}}, "comment", "wrong_type"),
]


@pytest.mark.parametrize(
    ("posted", "key", "code"),
    TAMPERING,
    ids=[f"{key}-{code}" for _, key, code in TAMPERING],
)
def test_tampered_answer_is_refused_with_its_field_and_code(
    tiny: Instrument, posted: dict[str, Any], key: str, code: str
) -> None:
    with pytest.raises(AnswerError) as caught:
        clean_answers(tiny, {"color": ["red"], **posted})
    assert caught.value.problems == ((key, code),)
    assert code in MESSAGE_CODES


def test_missing_required_answer_is_refused(tiny: Instrument) -> None:
    with pytest.raises(AnswerError) as caught:
        clean_answers(tiny, {"happy": ["4"]})
    assert caught.value.problems == (("color", "required"),)


def test_every_problem_is_reported_at_once(tiny: Instrument) -> None:
    with pytest.raises(AnswerError) as caught:
        clean_answers(tiny, {"happy": ["9"], "clubs": ["golf"], "x": ["1"]})
    assert set(caught.value.problems) == {
        ("happy", "out_of_range"),
        ("clubs", "invalid_choice"),
        ("x", "unknown_item"),
        ("color", "required"),
    }


# --- categorize ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "expected"),
    [
        ({}, {"grade_band": NOT_REPORTED, "race_ethnicity": NOT_REPORTED}),
        (
            {"grade": [PREFER_NOT], "race": [PREFER_NOT]},
            {"grade_band": NOT_REPORTED, "race_ethnicity": NOT_REPORTED},
        ),
        (
            {"grade": ["grades_6_8"], "race": ["black"]},
            {"grade_band": "grades_6_8", "race_ethnicity": "black"},
        ),
        (
            {"grade": ["grades_9_12"], "race": ["black", "latino"]},
            {"grade_band": "grades_9_12", "race_ethnicity": MULTIPLE},
        ),
        (
            {"race": ["asian", "black", "latino", "white"]},
            {"grade_band": NOT_REPORTED, "race_ethnicity": MULTIPLE},
        ),
        ({"race": [PREFER_NOT, "white"]}, {"race_ethnicity": NOT_REPORTED}),
    ],
)
def test_every_respondent_falls_in_exactly_one_category_per_dimension(
    tiny: Instrument, choices: dict[str, list[str]], expected: dict[str, str]
) -> None:
    categories = categorize(tiny, choices)
    assert categories.items() >= expected.items()
    assert set(categories) == {dimension.key for dimension in tiny.dimensions}
    for dimension in tiny.dimensions:
        assert categories[dimension.key] in dimension.category_keys


def test_categorize_takes_clean_answers(tiny: Instrument) -> None:
    answers = clean_answers(tiny, {"color": ["red"], "race": ["white", "asian"]})
    assert categorize(tiny, answers) == {
        "grade_band": NOT_REPORTED,
        "race_ethnicity": MULTIPLE,
    }


def test_categories_are_options_then_two_or_more_then_not_reported(
    tiny: Instrument,
) -> None:
    race = tiny.dimensions[1]
    assert race.category_keys == (
        "asian",
        "black",
        "latino",
        "white",
        MULTIPLE,
        NOT_REPORTED,
    )
    assert dict(race.categories[-2].label.texts)["es"] == "Dos o más"
    assert tiny.dimensions[0].category_keys[-1] == NOT_REPORTED


def test_categorize_refuses_values_that_are_not_options(tiny: Instrument) -> None:
    with pytest.raises(AnswerError) as caught:
        categorize(tiny, {"grade": ["grades_1_5"]})
    assert caught.value.problems == (("grade", "invalid_choice"),)


def test_categorize_refuses_two_choices_on_a_single_item(tiny: Instrument) -> None:
    with pytest.raises(AnswerError) as caught:
        categorize(tiny, {"grade": ["grades_6_8", "grades_9_12"]})
    assert caught.value.problems == (("grade", "too_many_choices"),)
