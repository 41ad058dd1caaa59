"""Load, validate and apply the instrument library (``surveys/*.yaml``).

Pure module: no Flask, no database. An instrument is data. This module turns a YAML
file, or the frozen snapshot stored on a survey, into frozen dataclasses; checks what
a student posted against it (DESIGN invariant 4: bad input gets a clear message per
field); and maps self-identification answers to exactly one category per dimension,
which is all the release layer may use them for. ``surveys/README.md`` is the schema.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml

#: Every item type, in the order the README documents them.
ITEM_TYPES = ("agree5", "frequency", "yes_no", "single", "multi", "text")
#: Types answered on a 1..5 scale and stored as numbers.
FIVE_POINT_TYPES = frozenset({"agree5", "frequency"})
#: Types answered by choosing options and stored as choice values.
CHOICE_TYPES = frozenset({"yes_no", "single", "multi"})
#: The values of a five-point item, lowest first.
FIVE_POINT_VALUES = (1, 2, 3, 4, 5)
#: The values of a yes/no item; a reversed yes/no item swaps them when scoring.
YES_NO_VALUES = ("yes", "no")
#: Option value of "prefer not to answer / say"; self-id always offers it.
PREFER_NOT = "prefer_not"
#: Category of a respondent who skipped a self-id item or preferred not to say.
NOT_REPORTED = "not_reported"
#: Category of a respondent who chose more than one option on a multi self-id item.
MULTIPLE = "multiple"
#: Length limit of an open-text answer when the item names none.
DEFAULT_MAX_LENGTH = 1000
#: Largest length limit an instrument may give an open-text item.
MAX_TEXT_LENGTH = 5000
#: Every problem code ``AnswerError`` can carry, with its meaning for translators.
MESSAGE_CODES: Mapping[str, str] = MappingProxyType(
    {
        "unknown_item": "The answer is for a question that is not in this survey.",
        "wrong_type": "The answer is not the kind this question takes.",
        "out_of_range": "The value is outside the question's scale.",
        "invalid_choice": "The value is not one of the question's options.",
        "too_many_choices": "More answers than the question allows.",
        "duplicate_choice": "The same option was chosen twice.",
        "exclusive_choice": "'Prefer not to answer' was combined with other options.",
        "too_long": "The text is longer than the question allows.",
        "required": "The question must be answered.",
    }
)

_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SLUG_RE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_VALUE_RE = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
_LANG_RE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
_INTEGER_RE = re.compile(r"-?[0-9]{1,9}")
# C0/C1 controls other than tab and newline: never meaningful in a comment, and NUL
# cannot even be stored in a PostgreSQL text column.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_RESERVED_VALUES = frozenset({NOT_REPORTED, MULTIPLE})


class InstrumentError(ValueError):
    """An instrument file or snapshot breaks the schema."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        """Build the one-line message ``source: where: problem``."""
        super().__init__(f"{source}: {where}: {problem}")
        #: The file path or snapshot label the instrument came from.
        self.source = source
        #: Which part is wrong, e.g. ``item 'belong_close'`` or ``scale 'voice'``.
        self.where = where
        #: What is wrong, in one sentence.
        self.problem = problem


class AnswerError(ValueError):
    """A student's posted answers do not fit the instrument; nothing may be stored."""

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        """Keep every problem, so each field can show its own message."""
        #: ``(item_key, message_code)`` pairs; codes are the keys of MESSAGE_CODES.
        self.problems = tuple(problems)
        super().__init__(", ".join(f"{key}: {code}" for key, code in self.problems))


@dataclass(frozen=True)
class Localized:
    """One text in every language of its instrument; the first is the fallback."""

    texts: tuple[tuple[str, str], ...]

    def get(self, lang: str) -> str:
        """Return the text in ``lang``, or in the instrument's first language."""
        for code, text in self.texts:
            if code == lang:
                return text
        return self.texts[0][1]

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the language codes this text exists in."""
        return tuple(code for code, _ in self.texts)


@dataclass(frozen=True)
class Option:
    """One answer a student can choose; ``value`` is an int on five-point items."""

    value: int | str
    text: Localized


@dataclass(frozen=True)
class Item:
    """One question, with everything needed to render, check and score it."""

    key: str
    type: str
    text: Localized
    options: tuple[Option, ...]
    help: Localized | None = None
    required: bool = False
    max_length: int | None = None
    max_choices: int | None = None
    reverse: bool = False
    favorable: frozenset[int | str] = frozenset()
    dimension: str | None = None
    source: str | None = None

    @property
    def is_numeric(self) -> bool:
        """Say whether answers are stored as numbers (five-point items)."""
        return self.type in FIVE_POINT_TYPES

    @property
    def values(self) -> tuple[int | str, ...]:
        """Return the option values in display order."""
        return tuple(option.value for option in self.options)

    def scored(self, value: int) -> int:
        """Return ``value`` turned so that higher is better, for scale means.

        :raises ValueError: if the item is not a five-point item
        """
        if not self.is_numeric:
            raise ValueError(f"item {self.key!r} is not on a five-point scale")
        return len(FIVE_POINT_VALUES) + 1 - value if self.reverse else value


@dataclass(frozen=True)
class Page:
    """A short group of items shown on one screen."""

    key: str
    title: Localized
    items: tuple[Item, ...]
    intro: Localized | None = None
    is_self_id: bool = False


@dataclass(frozen=True)
class Scale:
    """Items reported together; ``favorable`` is read on the positive orientation."""

    key: str
    title: Localized
    items: tuple[str, ...]
    favorable: frozenset[int]


@dataclass(frozen=True)
class Category:
    """One group a respondent can fall into on a dimension."""

    key: str
    label: Localized


@dataclass(frozen=True)
class Dimension:
    """A self-identification breakdown; every respondent is in exactly one category."""

    key: str
    title: Localized
    item: str
    categories: tuple[Category, ...]

    @property
    def category_keys(self) -> tuple[str, ...]:
        """Return the category keys in display order, ``not_reported`` last."""
        return tuple(category.key for category in self.categories)


@dataclass(frozen=True)
class Instrument:
    """One published version of a survey instrument."""

    slug: str
    version: int
    title: Localized
    languages: tuple[str, ...]
    pages: tuple[Page, ...]
    scales: tuple[Scale, ...] = ()
    dimensions: tuple[Dimension, ...] = ()
    description: Localized | None = None
    estimated_minutes: int | None = None
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Return the library key ``slug.vN``, which is also the file's stem."""
        return f"{self.slug}.v{self.version}"

    @cached_property
    def items(self) -> tuple[Item, ...]:
        """Return every item in page order, self-identification last."""
        return tuple(item for page in self.pages for item in page.items)

    @cached_property
    def _items_by_key(self) -> Mapping[str, Item]:
        return {item.key: item for item in self.items}

    def item(self, key: str) -> Item:
        """Return the item called ``key``.

        :raises KeyError: if the instrument has no such item
        """
        return self._items_by_key[key]

    def scale(self, key: str) -> Scale:
        """Return the scale called ``key``.

        :raises KeyError: if the instrument has no such scale
        """
        for scale in self.scales:
            if scale.key == key:
                return scale
        raise KeyError(key)


@dataclass(frozen=True)
class CleanAnswers:
    """A student's validated answers as plain values, skipped items left out."""

    #: Item key -> 1..5, for agree5 and frequency items.
    numeric: Mapping[str, int]
    #: Item key -> chosen option values (one for yes_no and single, one or more
    #: for multi), in the order the instrument lists the options.
    choices: Mapping[str, tuple[str, ...]]
    #: Item key -> normalised open text, for text items.
    texts: Mapping[str, str]


# --- loading ----------------------------------------------------------------------


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that refuses duplicate mapping keys instead of keeping the last."""


def _construct_unique_mapping(
    loader: _StrictLoader, node: yaml.MappingNode
) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_instrument(path: str | Path) -> Instrument:
    """Read and validate one instrument file named ``<slug>.v<N>.yaml``.

    :raises InstrumentError: naming the file, the part and the problem
    """
    path = Path(path)
    source = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except (OSError, UnicodeDecodeError) as error:
        raise InstrumentError(source, "file", f"cannot be read ({error})") from error
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise InstrumentError(source, "file", f"is not valid YAML: {detail}") from error
    instrument = parse_instrument(data, source=source)
    if path.name != f"{instrument.key}.yaml":
        raise InstrumentError(
            source,
            "file",
            f"must be named {instrument.key}.yaml after its slug and version",
        )
    return instrument


def load_library(directory: str | Path) -> dict[str, Instrument]:
    """Load every ``*.yaml`` instrument in ``directory``, keyed ``slug.vN``.

    :raises InstrumentError: for the first broken file, in name order
    """
    return {
        instrument.key: instrument
        for instrument in (
            load_instrument(path) for path in sorted(Path(directory).glob("*.yaml"))
        )
    }


# --- parsing ----------------------------------------------------------------------

_TOP_KEYS = {
    "slug",
    "version",
    "title",
    "description",
    "languages",
    "estimated_minutes",
    "sources",
    "response_options",
    "pages",
    "self_id",
    "scales",
}
_SHARED_KEYS = {
    "agree5",
    "frequency",
    "yes_no",
    "prefer_not_answer",
    "prefer_not_say",
    "not_reported",
}
_PAGE_KEYS = {"key", "title", "intro", "items"}
_ITEM_KEYS = {
    "key",
    "type",
    "text",
    "help",
    "options",
    "required",
    "max_length",
    "max_choices",
    "reverse",
    "prefer_not",
    "source",
    "dimension",
}
_DIMENSION_KEYS = {"key", "title", "not_reported", "multiple"}
_SCALE_KEYS = {"key", "title", "items", "favorable"}


def _describe(value: object) -> str:
    """Name a YAML value's kind the way an instrument author thinks of it."""
    if isinstance(value, bool):
        return f"the boolean {value} (quote yes/no/on/off in YAML)"
    kinds = {
        dict: "a mapping",
        list: "a list",
        str: "text",
        int: "a number",
        type(None): "nothing",
    }
    return kinds.get(type(value), type(value).__name__)


class _Parser:
    """Holds the source name and languages so every error can say where it is."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.languages: tuple[str, ...] = ()

    def fail(self, where: str, problem: str) -> NoReturn:
        raise InstrumentError(self.source, where, problem)

    def mapping(
        self, value: object, where: str, allowed: set[str], required: Iterable[str]
    ) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, not {_describe(value)}")
        for name in value:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                self.fail(where, f"unknown field {name!r} (known: {known})")
        for name in required:
            if name not in value:
                self.fail(where, f"missing field {name!r}")
        return value

    def sequence(self, value: object, where: str, what: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            self.fail(where, f"{what} must be a non-empty list")
        return value

    def text(self, value: object, where: str, what: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"{what} must be text, not {_describe(value)}")
        if not value.strip():
            self.fail(where, f"{what} is empty")
        return value.strip()

    def key(
        self, value: object, where: str, what: str, pattern: re.Pattern[str]
    ) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.fail(where, f"{what} {value!r} must match {pattern.pattern}")
        return value

    def integer(self, value: object, where: str, what: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"{what} must be a whole number, not {_describe(value)}")
        if not low <= value <= high:
            self.fail(where, f"{what} {value} is outside {low}..{high}")
        return value

    def flag(self, value: object, where: str, what: str) -> bool:
        if not isinstance(value, bool):
            self.fail(where, f"{what} must be true or false, not {_describe(value)}")
        return value

    def localized(self, value: object, where: str, what: str) -> Localized:
        if not isinstance(value, dict):
            self.fail(
                where, f"{what} must map languages to text, not {_describe(value)}"
            )
        for lang in value:
            if lang not in self.languages:
                self.fail(where, f"{what} has language {lang!r}, not in languages")
        texts = []
        for lang in self.languages:
            if lang not in value:
                self.fail(where, f"missing {lang!r} translation of {what}")
            texts.append((lang, self.text(value[lang], where, f"{what} ({lang})")))
        return Localized(tuple(texts))

    def optional_localized(
        self, data: Mapping[str, Any], name: str, where: str
    ) -> Localized | None:
        if name not in data:
            return None
        return self.localized(data[name], where, name)


def parse_instrument(data: object, *, source: str) -> Instrument:
    """Validate a mapping (parsed YAML or a stored snapshot) into an Instrument.

    :param data: the instrument as plain lists, mappings, text and numbers
    :param source: the file path or snapshot label to name in errors
    :raises InstrumentError: naming the source, the part and the problem
    """
    parser = _Parser(source)
    top = parser.mapping(
        data,
        "instrument",
        _TOP_KEYS,
        ("slug", "version", "title", "languages", "pages"),
    )
    slug = parser.key(top["slug"], "instrument", "slug", _SLUG_RE)
    version = parser.integer(top["version"], "instrument", "version", 1, 10_000)
    languages = parser.sequence(top["languages"], "instrument", "languages")
    for lang in languages:
        parser.key(lang, "instrument", "language", _LANG_RE)
    if len(set(languages)) != len(languages):
        parser.fail("instrument", "languages lists a language twice")
    parser.languages = tuple(languages)
    sources = _parse_sources(parser, top.get("sources", {}))
    shared = _parse_shared(parser, top.get("response_options", {}))

    pages = [
        _parse_page(parser, raw, shared, sources, is_self_id=False)[0]
        for raw in parser.sequence(top["pages"], "instrument", "pages")
    ]
    dimensions: tuple[Dimension, ...] = ()
    if "self_id" in top:
        self_id, dimensions = _parse_page(
            parser, top["self_id"], shared, sources, is_self_id=True
        )
        pages.append(self_id)
    _check_unique_keys(parser, pages)
    items = {item.key: item for page in pages for item in page.items}
    scales = tuple(
        _parse_scale(parser, raw, items)
        for raw in (
            parser.sequence(top["scales"], "instrument", "scales")
            if "scales" in top
            else ()
        )
    )
    _check_scales_disjoint(parser, scales)
    pages = [_with_favorable(page, scales) for page in pages]
    minutes = top.get("estimated_minutes")
    return Instrument(
        slug=slug,
        version=version,
        title=parser.localized(top["title"], "instrument", "title"),
        description=parser.optional_localized(top, "description", "instrument"),
        languages=parser.languages,
        estimated_minutes=(
            None
            if minutes is None
            else parser.integer(minutes, "instrument", "estimated_minutes", 1, 120)
        ),
        sources=tuple(sources.items()),
        pages=tuple(pages),
        scales=scales,
        dimensions=dimensions,
    )


def _parse_sources(parser: _Parser, raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        parser.fail("sources", f"must be a mapping, not {_describe(raw)}")
    return {
        parser.key(key, "sources", "source key", _KEY_RE): parser.text(
            text, "sources", f"source {key!r}"
        )
        for key, text in raw.items()
    }


@dataclass(frozen=True)
class _Shared:
    """The file-wide answer labels items fall back on (absent from snapshots)."""

    options: Mapping[str, tuple[Option, ...]]
    labels: Mapping[str, Localized]


def _parse_shared(parser: _Parser, raw: object) -> _Shared:
    where = "response_options"
    shared = parser.mapping(raw, where, _SHARED_KEYS, ())
    options = {}
    for item_type in ("agree5", "frequency", "yes_no"):
        if item_type in shared:
            options[item_type] = _parse_fixed_options(
                parser, shared[item_type], f"{where} {item_type!r}", item_type
            )
    labels = {
        name: parser.localized(shared[name], where, name)
        for name in ("prefer_not_answer", "prefer_not_say", "not_reported")
        if name in shared
    }
    return _Shared(options=options, labels=labels)


def _parse_option(parser: _Parser, raw: object, where: str) -> tuple[object, Localized]:
    option = parser.mapping(raw, where, {"value", "text"}, ("value", "text"))
    text_where = f"{where}, option {option['value']!r}"
    return option["value"], parser.localized(option["text"], text_where, "option text")


def _parse_fixed_options(
    parser: _Parser, raw: object, where: str, item_type: str
) -> tuple[Option, ...]:
    """Parse the labels of a type whose values are fixed (five-point, yes/no)."""
    expected: tuple[int | str, ...] = (
        YES_NO_VALUES if item_type == "yes_no" else FIVE_POINT_VALUES
    )
    parsed = [
        _parse_option(parser, entry, where)
        for entry in parser.sequence(raw, where, "options")
    ]
    values = tuple(value for value, _ in parsed)
    if item_type == "yes_no" and values[-1:] == (PREFER_NOT,):
        values = values[:-1]
    if values != expected or any(isinstance(value, bool) for value in values):
        listed = ", ".join(map(str, expected))
        parser.fail(
            where, f"{item_type} options must have the values {listed}, in order"
        )
    return tuple(
        Option(value, text)
        for value, (_, text) in zip((*expected, PREFER_NOT), parsed, strict=False)
    )


def _parse_page(
    parser: _Parser,
    raw: object,
    shared: _Shared,
    sources: Mapping[str, str],
    *,
    is_self_id: bool,
) -> tuple[Page, tuple[Dimension, ...]]:
    """Parse a page and, on the self-id page, the dimension of each item."""
    where = "self_id" if is_self_id else "page"
    page = parser.mapping(raw, where, _PAGE_KEYS, ("key", "title", "items"))
    key = parser.key(page["key"], where, "page key", _KEY_RE)
    where = f"{where} {key!r}"
    items = tuple(
        _parse_item(parser, entry, shared, sources, is_self_id=is_self_id)
        for entry in parser.sequence(page["items"], where, "items")
    )
    dimensions = tuple(
        _parse_dimension(parser, entry["dimension"], item, shared)
        for entry, item in zip(page["items"], items, strict=True)
        if is_self_id
    )
    declared = [dimension.key for dimension in dimensions]
    for duplicate in {name for name in declared if declared.count(name) > 1}:
        parser.fail(where, f"two items declare the dimension {duplicate!r}")
    parsed = Page(
        key=key,
        title=parser.localized(page["title"], where, "title"),
        intro=parser.optional_localized(page, "intro", where),
        items=items,
        is_self_id=is_self_id,
    )
    return parsed, dimensions


def _parse_item(
    parser: _Parser,
    raw: object,
    shared: _Shared,
    sources: Mapping[str, str],
    *,
    is_self_id: bool,
) -> Item:
    """Parse one item; its favorable answers are filled in once scales are known."""
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        parser.fail("item", f"every item needs a text 'key', got {raw!r:.60}")
    where = f"item {raw['key']!r}"
    item = parser.mapping(raw, where, _ITEM_KEYS, ("key", "type", "text"))
    key = parser.key(item["key"], where, "item key", _KEY_RE)
    item_type = item["type"]
    if item_type not in ITEM_TYPES:
        parser.fail(
            where, f"unknown type {item_type!r} (known: {', '.join(ITEM_TYPES)})"
        )
    for name, allowed_types in (
        ("max_length", {"text"}),
        ("max_choices", {"multi"}),
        ("reverse", FIVE_POINT_TYPES | {"yes_no"}),
        ("prefer_not", CHOICE_TYPES),
    ):
        if name in item and item_type not in allowed_types:
            parser.fail(where, f"{name!r} does not apply to {item_type} items")
    if is_self_id and item_type not in CHOICE_TYPES:
        parser.fail(where, "self-identification items must be yes_no, single or multi")
    if is_self_id != ("dimension" in item):
        parser.fail(
            where,
            "self-identification items, and only they, declare a 'dimension'",
        )
    source = item.get("source")
    if (
        source is not None
        and parser.key(source, where, "source", _KEY_RE) not in sources
    ):
        parser.fail(where, f"source {source!r} is not listed under 'sources'")
    required = parser.flag(item.get("required", False), where, "required")
    if required and is_self_id:
        parser.fail(where, "self-identification items are always optional")
    options = _parse_item_options(parser, item, where, shared, is_self_id=is_self_id)
    dimension = item.get("dimension")
    return Item(
        key=key,
        type=item_type,
        text=parser.localized(item["text"], where, "text"),
        help=parser.optional_localized(item, "help", where),
        options=options,
        required=required,
        max_length=(
            parser.integer(
                item.get("max_length", DEFAULT_MAX_LENGTH),
                where,
                "max_length",
                1,
                MAX_TEXT_LENGTH,
            )
            if item_type == "text"
            else None
        ),
        max_choices=(
            parser.integer(
                item["max_choices"],
                where,
                "max_choices",
                1,
                sum(option.value != PREFER_NOT for option in options),
            )
            if "max_choices" in item
            else None
        ),
        reverse=parser.flag(item.get("reverse", False), where, "reverse"),
        dimension=dimension.get("key") if isinstance(dimension, dict) else None,
        source=source,
    )


def _parse_item_options(
    parser: _Parser,
    item: Mapping[str, Any],
    where: str,
    shared: _Shared,
    *,
    is_self_id: bool,
) -> tuple[Option, ...]:
    item_type = item["type"]
    if item_type == "text":
        if "options" in item:
            parser.fail(where, "text items take no options")
        return ()
    if item_type in FIVE_POINT_TYPES or item_type == "yes_no":
        if "options" in item:
            options = _parse_fixed_options(parser, item["options"], where, item_type)
        elif item_type in shared.options:
            options = shared.options[item_type]
        else:
            parser.fail(
                where,
                f"has no options and response_options has no {item_type!r} labels",
            )
    else:
        if "options" not in item:
            parser.fail(where, f"{item_type} items must list their options")
        options = _parse_choice_options(parser, item["options"], where)
    wants_prefer_not = parser.flag(
        item.get("prefer_not", is_self_id), where, "prefer_not"
    )
    if is_self_id and not wants_prefer_not:
        parser.fail(where, "self-identification items must offer 'prefer not to say'")
    if wants_prefer_not and PREFER_NOT not in (option.value for option in options):
        label_name = "prefer_not_say" if is_self_id else "prefer_not_answer"
        if label_name not in shared.labels:
            parser.fail(
                where, f"offers prefer_not but response_options has no {label_name}"
            )
        options += (Option(PREFER_NOT, shared.labels[label_name]),)
    return options


def _parse_choice_options(
    parser: _Parser, raw: object, where: str
) -> tuple[Option, ...]:
    options = []
    for entry in parser.sequence(raw, where, "options"):
        value, text = _parse_option(parser, entry, where)
        value = parser.key(value, where, "option value", _VALUE_RE)
        if value in _RESERVED_VALUES:
            parser.fail(where, f"option value {value!r} is reserved for categories")
        if value in (option.value for option in options):
            parser.fail(where, f"duplicate option value {value!r}")
        options.append(Option(value, text))
    if sum(option.value != PREFER_NOT for option in options) < 2:
        parser.fail(where, "needs at least two options to choose from")
    return tuple(options)


def _check_unique_keys(parser: _Parser, pages: Sequence[Page]) -> None:
    page_keys: set[str] = set()
    item_pages: dict[str, str] = {}
    for page in pages:
        if page.key in page_keys:
            parser.fail(f"page {page.key!r}", "duplicate page key")
        page_keys.add(page.key)
        for item in page.items:
            if item.key in item_pages:
                parser.fail(
                    f"item {item.key!r}",
                    f"duplicate item key (also on page {item_pages[item.key]!r})",
                )
            item_pages[item.key] = page.key


def _parse_scale(parser: _Parser, raw: object, items: Mapping[str, Item]) -> Scale:
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        parser.fail("scale", f"every scale needs a text 'key', got {raw!r:.60}")
    where = f"scale {raw['key']!r}"
    scale = parser.mapping(
        raw, where, _SCALE_KEYS, ("key", "title", "items", "favorable")
    )
    key = parser.key(scale["key"], where, "scale key", _KEY_RE)
    members = parser.sequence(scale["items"], where, "items")
    for member in members:
        if not isinstance(member, str) or member not in items:
            parser.fail(where, f"lists item {member!r}, which does not exist")
        if items[member].type not in FIVE_POINT_TYPES:
            parser.fail(
                where,
                f"item {member!r} is a {items[member].type} item; "
                "scales take agree5 and frequency items",
            )
    if len(set(members)) != len(members):
        parser.fail(where, "lists an item twice")
    favorable = parser.sequence(scale["favorable"], where, "favorable")
    for value in favorable:
        if isinstance(value, bool) or value not in FIVE_POINT_VALUES:
            parser.fail(where, f"favorable value {value!r} is outside 1..5")
    if len(set(favorable)) != len(favorable):
        parser.fail(where, "favorable lists a value twice")
    if len(favorable) == len(FIVE_POINT_VALUES):
        parser.fail(where, "favorable cannot be every value of the scale")
    return Scale(
        key=key,
        title=parser.localized(scale["title"], where, "title"),
        items=tuple(members),
        favorable=frozenset(favorable),
    )


def _check_scales_disjoint(parser: _Parser, scales: Sequence[Scale]) -> None:
    owner: dict[str, str] = {}
    for scale in scales:
        if scale.key in (other.key for other in scales if other is not scale):
            parser.fail(f"scale {scale.key!r}", "duplicate scale key")
        for member in scale.items:
            if member in owner:
                parser.fail(
                    f"scale {scale.key!r}",
                    f"item {member!r} already belongs to scale {owner[member]!r}",
                )
            owner[member] = scale.key


def _with_favorable(page: Page, scales: Sequence[Scale]) -> Page:
    """Give each scored item its favorable answers: its scale's, else the default."""
    scale_of = {member: scale for scale in scales for member in scale.items}
    items = []
    top = len(FIVE_POINT_VALUES) + 1
    for item in page.items:
        favorable: frozenset[int | str]
        if item.type in FIVE_POINT_TYPES:
            scale = scale_of.get(item.key)
            base = scale.favorable if scale else frozenset({4, 5})
            favorable = frozenset(top - v for v in base) if item.reverse else base
        elif item.type == "yes_no" and item.dimension is None:
            favorable = frozenset({"no" if item.reverse else "yes"})
        else:
            favorable = frozenset()
        items.append(replace(item, favorable=favorable))
    return replace(page, items=tuple(items))


def _parse_dimension(
    parser: _Parser, raw: object, item: Item, shared: _Shared
) -> Dimension:
    where = f"item {item.key!r}"
    block = parser.mapping(raw, where, _DIMENSION_KEYS, ("key", "title"))
    if ("multiple" in block) != (item.type == "multi"):
        parser.fail(
            where, "a 'multiple' label is needed on multi items, and only there"
        )
    if "not_reported" in block:
        not_reported = parser.localized(block["not_reported"], where, "not_reported")
    elif "not_reported" in shared.labels:
        not_reported = shared.labels["not_reported"]
    else:
        parser.fail(where, "no not_reported label here or in response_options")
    categories = [
        Category(str(option.value), option.text)
        for option in item.options
        if option.value != PREFER_NOT
    ]
    if item.type == "multi":
        categories.append(
            Category(MULTIPLE, parser.localized(block["multiple"], where, "multiple"))
        )
    categories.append(Category(NOT_REPORTED, not_reported))
    return Dimension(
        key=parser.key(block["key"], where, "dimension key", _KEY_RE),
        title=parser.localized(block["title"], where, "dimension title"),
        item=item.key,
        categories=tuple(categories),
    )


# --- snapshots --------------------------------------------------------------------


def _localized_snapshot(text: Localized) -> dict[str, str]:
    return dict(text.texts)


def _item_snapshot(item: Item, dimension: Dimension | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": item.key,
        "type": item.type,
        "text": _localized_snapshot(item.text),
    }
    if item.help is not None:
        data["help"] = _localized_snapshot(item.help)
    if item.options:
        data["options"] = [
            {"value": option.value, "text": _localized_snapshot(option.text)}
            for option in item.options
        ]
    if item.required:
        data["required"] = True
    if item.max_length is not None:
        data["max_length"] = item.max_length
    if item.max_choices is not None:
        data["max_choices"] = item.max_choices
    if item.reverse:
        data["reverse"] = True
    if item.source is not None:
        data["source"] = item.source
    if dimension is not None:
        labels = {c.key: _localized_snapshot(c.label) for c in dimension.categories}
        data["dimension"] = {
            "key": dimension.key,
            "title": _localized_snapshot(dimension.title),
            "not_reported": labels[NOT_REPORTED],
        }
        if MULTIPLE in labels:
            data["dimension"]["multiple"] = labels[MULTIPLE]
    return data


def _page_snapshot(page: Page, dimensions: Mapping[str, Dimension]) -> dict[str, Any]:
    data: dict[str, Any] = {"key": page.key, "title": _localized_snapshot(page.title)}
    if page.intro is not None:
        data["intro"] = _localized_snapshot(page.intro)
    data["items"] = [_item_snapshot(i, dimensions.get(i.key)) for i in page.items]
    return data


def instrument_to_snapshot(instrument: Instrument) -> dict[str, Any]:
    """Return the instrument as JSON-ready data that ``parse_instrument`` rebuilds.

    Every label is written out in full, so a survey's snapshot never depends on the
    library file it came from (a published version is never edited, only superseded).
    """
    dimensions = {dimension.item: dimension for dimension in instrument.dimensions}
    data: dict[str, Any] = {
        "slug": instrument.slug,
        "version": instrument.version,
        "title": _localized_snapshot(instrument.title),
        "languages": list(instrument.languages),
    }
    if instrument.description is not None:
        data["description"] = _localized_snapshot(instrument.description)
    if instrument.estimated_minutes is not None:
        data["estimated_minutes"] = instrument.estimated_minutes
    if instrument.sources:
        data["sources"] = dict(instrument.sources)
    data["pages"] = [
        _page_snapshot(page, dimensions)
        for page in instrument.pages
        if not page.is_self_id
    ]
    for page in instrument.pages:
        if page.is_self_id:
            data["self_id"] = _page_snapshot(page, dimensions)
    if instrument.scales:
        data["scales"] = [
            {
                "key": scale.key,
                "title": _localized_snapshot(scale.title),
                "items": list(scale.items),
                "favorable": sorted(scale.favorable),
            }
            for scale in instrument.scales
        ]
    return data


# --- answers ----------------------------------------------------------------------


def _posted_values(raw: object) -> tuple[str, ...] | None:
    """Return the non-blank posted strings, or None if they are not strings at all."""
    if isinstance(raw, str):
        raw = (raw,)
    if not isinstance(raw, Sequence) or not all(isinstance(v, str) for v in raw):
        return None
    return tuple(value for value in raw if value.strip())


def _clean_text(value: str) -> str:
    """Normalise newlines and Unicode, drop control characters, trim the ends."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", _CONTROL_RE.sub("", value)).strip()


def _check_item(item: Item, values: tuple[str, ...]) -> str | int | tuple[str, ...]:
    """Return the clean answer to one item or raise AnswerError for it."""

    def problem(code: str) -> NoReturn:
        raise AnswerError([(item.key, code)])

    if item.type == "text":
        if len(values) > 1:
            problem("too_many_choices")
        text = _clean_text(values[0])
        if len(text) > (item.max_length or DEFAULT_MAX_LENGTH):
            problem("too_long")
        return text
    if item.type != "multi" and len(values) > 1:
        problem("too_many_choices")
    if item.is_numeric:
        if not _INTEGER_RE.fullmatch(values[0].strip()):
            problem("wrong_type")
        number = int(values[0])
        if number not in item.values:
            problem("out_of_range")
        return number
    chosen = tuple(value.strip() for value in values)
    if any(value not in item.values for value in chosen):
        problem("invalid_choice")
    if len(set(chosen)) != len(chosen):
        problem("duplicate_choice")
    if PREFER_NOT in chosen and len(chosen) > 1:
        problem("exclusive_choice")
    if item.max_choices is not None and len(chosen) > item.max_choices:
        problem("too_many_choices")
    return tuple(str(value) for value in item.values if value in chosen)


def clean_answers(
    instrument: Instrument, raw: Mapping[str, Sequence[str] | str]
) -> CleanAnswers:
    """Check what a student posted and return it as plain values.

    Blank answers count as skipped. Every problem is collected before raising, so the
    form can show a message beside each field in the student's language.

    :param raw: item key -> posted strings (a multi item posts several); the caller
        passes only answer fields, never the CSRF token or navigation fields
    :raises AnswerError: with ``(item_key, code)`` for every problem found
    """
    problems: list[tuple[str, str]] = []
    numeric: dict[str, int] = {}
    choices: dict[str, tuple[str, ...]] = {}
    texts: dict[str, str] = {}
    for key, posted in raw.items():
        try:
            item = instrument.item(key)
        except KeyError:
            problems.append((str(key), "unknown_item"))
            continue
        values = _posted_values(posted)
        if values is None:
            problems.append((key, "wrong_type"))
            continue
        if not values:
            continue
        try:
            answer = _check_item(item, values)
        except AnswerError as error:
            problems.extend(error.problems)
            continue
        if isinstance(answer, int):
            numeric[key] = answer
        elif isinstance(answer, tuple):
            choices[key] = answer
        elif answer:
            texts[key] = answer
    answered = numeric.keys() | choices.keys() | texts.keys()
    rejected = {key for key, _ in problems}
    problems.extend(
        (item.key, "required")
        for item in instrument.items
        if item.required and item.key not in answered and item.key not in rejected
    )
    if problems:
        raise AnswerError(problems)
    return CleanAnswers(
        numeric=MappingProxyType(numeric),
        choices=MappingProxyType(choices),
        texts=MappingProxyType(texts),
    )


def categorize(
    instrument: Instrument, answers: CleanAnswers | Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Put a respondent in exactly one category per self-identification dimension.

    No answer and "prefer not to say" both give ``not_reported`` (so skipping and
    declining look the same); two or more choices on a multi item give ``multiple``
    ("Two or more"); one choice gives that option's value.

    :param answers: clean answers, or item key -> chosen values as stored
    :return: dimension key -> category key, for every dimension
    :raises AnswerError: if a stored value is not an option of its item
    """
    choices = answers.choices if isinstance(answers, CleanAnswers) else answers
    result = {}
    for dimension in instrument.dimensions:
        item = instrument.item(dimension.item)
        values = tuple(choices.get(item.key, ()))
        if any(value not in item.values for value in values):
            raise AnswerError([(item.key, "invalid_choice")])
        if item.type != "multi" and len(values) > 1:
            raise AnswerError([(item.key, "too_many_choices")])
        if not values or PREFER_NOT in values:
            result[dimension.key] = NOT_REPORTED
        elif len(set(values)) > 1:
            result[dimension.key] = MULTIPLE
        else:
            result[dimension.key] = str(values[0])
    return result


def favorable(target: Item | Scale, value: int | str) -> bool:
    """Say whether an answer counts toward "% favorable".

    For an item, ``value`` is the raw answer and reversed wording is accounted for.
    For a scale, ``value`` is read on the scale's positive orientation, i.e. after
    ``Item.scored``.

    :raises ValueError: if the item has no favorable answers (text, single, multi
        and self-identification items)
    """
    if isinstance(target, Item) and not target.favorable:
        raise ValueError(f"item {target.key!r} has no favorable answers")
    return value in target.favorable
