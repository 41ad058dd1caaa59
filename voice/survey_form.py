"""The questionnaire a student walks through: pages from an instrument, answers in the form.

Pure module: no Flask, no database. Answers in progress live only in the page the
student holds, as one signed form state (issue 3: never in server storage or the
session). Each posted page is checked with ``instruments.clean_answers`` before it
joins the state, and the whole state is checked again before anything is stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from voice.instruments import (
    DEFAULT_MAX_LENGTH,
    CleanAnswers,
    Instrument,
    Item,
    clean_answers,
)

#: Answer fields are named ``q-<item key>``; item keys cannot contain a hyphen.
FIELD_PREFIX = "q-"
#: Posted fields that steer the form rather than answer a question.
CONTROL_FIELDS = frozenset({"csrf_token", "state", "lang", "action"})

_STATE_SALT = "voice.take.form-state"


class StateError(ValueError):
    """The signed form state is missing, altered, or belongs to another survey link."""


@dataclass(frozen=True)
class FormState:
    """Everything a student has answered so far, carried in a signed hidden field."""

    #: The survey link the state was started on; a state never moves between links.
    audience_id: int
    #: Index of the page the student is on.
    page: int
    #: Item key -> accepted answer strings, for the pages already passed.
    answers: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: ``ballots.hash_code`` of the student's code; never the code itself.
    code_hash: str | None = None
    #: Random, to recognise a double click on "Submit"; stored with nothing.
    nonce: str = ""


@dataclass(frozen=True)
class ChoiceView:
    """One option of a question, as the page shows it."""

    value: str
    label: str
    checked: bool


@dataclass(frozen=True)
class QuestionView:
    """One question with the student's current answer and any problems with it."""

    key: str
    #: Name of the form field(s) answering it.
    name: str
    #: ``radio``, ``checkbox`` or ``text``.
    kind: str
    text: str
    help: str | None
    choices: tuple[ChoiceView, ...]
    #: The text typed so far (text questions).
    value: str
    #: Longest text accepted (text questions).
    max_length: int | None
    #: Most options that may be ticked (checkbox questions).
    max_choices: int | None
    required: bool
    #: Problem codes from ``instruments.MESSAGE_CODES``.
    problems: tuple[str, ...]

    @property
    def described_by(self) -> str:
        """Return the ids of the hint, limit and error texts that describe the field."""
        ids = []
        if self.help:
            ids.append(f"{self.name}-help")
        if self.problems:
            ids.append(f"{self.name}-error")
        if self.kind == "text":
            ids.append(f"{self.name}-limit")
        return " ".join(ids)


@dataclass(frozen=True)
class PageView:
    """One page of the questionnaire, ready for the template."""

    #: Position, counted from 1 for people.
    number: int
    total: int
    title: str
    intro: str | None
    questions: tuple[QuestionView, ...]
    #: Problem codes that belong to no question on this page (a tampered form).
    form_problems: tuple[str, ...]

    @property
    def is_first(self) -> bool:
        """Say whether there is no page before this one."""
        return self.number == 1

    @property
    def is_last(self) -> bool:
        """Say whether this page ends with "Submit"."""
        return self.number == self.total


def start_state(audience_id: int, code_hash: str | None = None) -> FormState:
    """Return the state of a questionnaire just started on the first page."""
    return FormState(
        audience_id=audience_id,
        page=0,
        code_hash=code_hash,
        nonce=secrets.token_urlsafe(16),
    )


def dump_state(state: FormState, secret_key: str) -> str:
    """Sign ``state`` for a hidden field; the student can read it but not change it."""
    payload = {
        "a": state.audience_id,
        "p": state.page,
        "v": {key: list(values) for key, values in state.answers.items()},
        "c": state.code_hash,
        "n": state.nonce,
    }
    return URLSafeSerializer(secret_key, salt=_STATE_SALT).dumps(payload)


def load_state(blob: str, secret_key: str, *, audience_id: int) -> FormState:
    """Read a signed state back, refusing one that was altered or made elsewhere.

    :param audience_id: the survey link the state was posted to
    :raises StateError: bad signature, bad shape, or another link's state
    """
    try:
        payload = URLSafeSerializer(secret_key, salt=_STATE_SALT).loads(blob)
    except BadData as error:
        raise StateError("the form state is not ours") from error
    state = _state_from_payload(payload)
    if state.audience_id != audience_id:
        raise StateError("the form state belongs to another survey link")
    return state


def _state_from_payload(payload: Any) -> FormState:
    """Rebuild a state from its signed payload, checking every field's type."""
    if not isinstance(payload, dict):
        raise StateError("the form state has the wrong shape")
    audience_id, page, values = payload.get("a"), payload.get("p"), payload.get("v")
    code_hash, nonce = payload.get("c"), payload.get("n")
    if (
        not isinstance(audience_id, int)
        or not isinstance(page, int)
        or not isinstance(values, dict)
        or not (code_hash is None or isinstance(code_hash, str))
        or not isinstance(nonce, str)
    ):
        raise StateError("the form state has the wrong shape")
    answers: dict[str, tuple[str, ...]] = {}
    for key, posted in values.items():
        if not isinstance(posted, list) or not all(isinstance(v, str) for v in posted):
            raise StateError("the form state has the wrong shape")
        answers[key] = tuple(posted)
    return FormState(
        audience_id=audience_id,
        page=page,
        answers=MappingProxyType(answers),
        code_hash=code_hash,
        nonce=nonce,
    )


def split_posted(
    fields: Iterable[tuple[str, Sequence[str]]],
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Separate answer fields from the rest of a posted form.

    :param fields: ``(name, values)`` pairs, e.g. ``request.form.lists()``
    :return: item key -> posted strings, and the names of fields that are neither an
        answer nor a control field (only a tampered form has any)
    """
    answers: dict[str, tuple[str, ...]] = {}
    unexpected: list[str] = []
    for name, values in fields:
        if name.startswith(FIELD_PREFIX):
            answers[name.removeprefix(FIELD_PREFIX)] = tuple(values)
        elif name not in CONTROL_FIELDS:
            unexpected.append(name)
    return answers, tuple(unexpected)


def clean_page(
    instrument: Instrument, index: int, posted: Mapping[str, Sequence[str]]
) -> CleanAnswers:
    """Check the answers posted from one page; an answer to any other item is refused.

    :raises AnswerError: with ``(item_key, code)`` for every problem
    """
    page_only = replace(instrument, pages=(instrument.pages[index],))
    return clean_answers(page_only, posted)


def answer_strings(answers: CleanAnswers) -> dict[str, tuple[str, ...]]:
    """Return clean answers as the strings a form posts, to carry in the state."""
    strings: dict[str, tuple[str, ...]] = {}
    for key, number in answers.numeric.items():
        strings[key] = (str(number),)
    strings.update(answers.choices)
    for key, text in answers.texts.items():
        strings[key] = (text,)
    return strings


def with_page_answers(
    state: FormState, instrument: Instrument, answers: CleanAnswers, *, go_to: int
) -> FormState:
    """Return ``state`` with the current page's answers replaced and a new position.

    A question left blank is dropped, so clearing an answer really clears it.
    """
    page_keys = {item.key for item in instrument.pages[state.page].items}
    kept = {k: v for k, v in state.answers.items() if k not in page_keys}
    kept.update(answer_strings(answers))
    return replace(state, page=go_to, answers=MappingProxyType(kept))


def first_page_with_problem(
    instrument: Instrument, problems: Iterable[tuple[str, str]]
) -> int:
    """Return the index of the first page holding a problem item (0 if none does)."""
    keys = {key for key, _ in problems}
    for index, page in enumerate(instrument.pages):
        if any(item.key in keys for item in page.items):
            return index
    return 0


def build_page(
    instrument: Instrument,
    index: int,
    lang: str,
    values: Mapping[str, Sequence[str]],
    problems: Iterable[tuple[str, str]] = (),
) -> PageView:
    """Return page ``index`` in ``lang`` with ``values`` filled in.

    :param values: item key -> strings to show as answered (from the state, or what
        was just posted when it has problems)
    :param problems: ``(item_key, code)`` pairs from ``AnswerError``
    """
    page = instrument.pages[index]
    by_item: dict[str, list[str]] = {}
    for key, code in problems:
        by_item.setdefault(key, []).append(code)
    page_keys = {item.key for item in page.items}
    form_problems = tuple(
        dict.fromkeys(
            code
            for key, codes in by_item.items()
            if key not in page_keys
            for code in codes
        )
    )
    return PageView(
        number=index + 1,
        total=len(instrument.pages),
        title=page.title.get(lang),
        intro=page.intro.get(lang) if page.intro else None,
        questions=tuple(
            _question(item, lang, values.get(item.key, ()), by_item.get(item.key, []))
            for item in page.items
        ),
        form_problems=form_problems,
    )


def _question(
    item: Item, lang: str, posted: Sequence[str], problems: Sequence[str]
) -> QuestionView:
    """Describe one item for the template."""
    if item.type == "text":
        kind = "text"
    elif item.type == "multi":
        kind = "checkbox"
    else:
        kind = "radio"
    chosen = {value.strip() for value in posted}
    return QuestionView(
        key=item.key,
        name=FIELD_PREFIX + item.key,
        kind=kind,
        text=item.text.get(lang),
        help=item.help.get(lang) if item.help else None,
        choices=tuple(
            ChoiceView(
                value=str(option.value),
                label=option.text.get(lang),
                checked=str(option.value) in chosen,
            )
            for option in item.options
        ),
        value=posted[0] if kind == "text" and posted else "",
        max_length=(item.max_length or DEFAULT_MAX_LENGTH) if kind == "text" else None,
        max_choices=item.max_choices,
        required=item.required,
        problems=tuple(dict.fromkeys(problems)),
    )
