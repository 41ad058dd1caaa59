"""Scrub personal details from students' own words and flag what a facilitator must see.

Issue 8, "Redaction and safety" (DESIGN invariant 3: comments are shown only after PII
redaction and moderation). Pure: no Flask, no database, no network and no downloaded
model. Every public function starts with :func:`normalize`, so zero-width characters,
bidi overrides and fullwidth look-alikes cannot carry an address or a slur past the
patterns. The word lists live in ``voice/data/`` so a school can read what is matched.

Rules a reader of the output should know:

- Names come from the school's own roster (``names``), matched on word boundaries,
  ignoring case and accents. A roster name that is also a common word ("Will", "Grace",
  "Hope", "May", "Rose", "Mark", "Luz", "Paz": ``data/name_stopwords.txt`` and the
  common-word lists) is redacted only when written with a capital first letter in the
  middle of a sentence, and not as a month ("in May"); a whole roster entry ("Grace
  Hopper") always is.
- A word after a title (Mr., Ms., Mx., Dr., Sra., Coach, Miss, Profe, Maestra, teacher,
  ...) is read as a name in any case ("mr smith", "MS. GARCIA") unless it is a common
  word ("coach yelled", "I miss lunch", "great prof. Made the class fun"); the common
  word lists leave out surnames that are words (Brown, King, Flores). The title itself
  is kept: the comment is usually about the role. When unsure it redacts.
- Digits: phone numbers (``phonenumbers``, region US, lenient enough for spaced-out
  numbers), every run of 6 to 10 digits as an id, and the school's own id patterns
  (matched ignoring case) in addition to that default.
"""

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import phonenumbers

DATA_DIR = Path(__file__).with_name("data")

#: Kinds of personal detail, in the order a placeholder wins when two overlap
KINDS = ("email", "link", "phone", "address", "id", "handle", "name")

#: Placeholders in the reader's language; an unknown language gets English ones
PLACEHOLDERS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "name": "[name]",
        "email": "[email]",
        "phone": "[phone]",
        "id": "[id]",
        "link": "[link]",
        "address": "[address]",
        "handle": "[handle]",
    },
    "es": {
        "name": "[nombre]",
        "email": "[correo]",
        "phone": "[teléfono]",
        "id": "[id]",
        "link": "[enlace]",
        "address": "[dirección]",
        "handle": "[usuario]",
    },
}

#: What an at-risk flag can be about
RISK_CATEGORIES = ("abuse", "self_harm", "violence")

#: Runs of digits that are treated as student ids whatever the school configures
DEFAULT_ID_PATTERN = r"(?<!\d)\d{6,10}(?!\d)"


@dataclass(frozen=True)
class Redaction:
    """A comment with personal details replaced by placeholders, and their counts."""

    text: str
    #: kind (see ``KINDS``) -> number of placeholders of that kind; absent kinds are 0
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Flags:
    """What a facilitator must look at before a comment is shown; never who wrote it."""

    #: sorted subset of ``RISK_CATEGORIES`` whose phrases appear in the comment
    categories: tuple[str, ...] = ()
    #: slurs and biased phrases in the comment, so a school can count them
    bias_count: int = 0

    @property
    def at_risk(self) -> bool:
        """Say whether the comment suggests a student may be at risk."""
        return bool(self.categories)

    @property
    def has_bias(self) -> bool:
        """Say whether the comment holds a slur or biased language."""
        return self.bias_count > 0


# --- normalization -------------------------------------------------------------------

_NEWLINES = frozenset("\r\x0b\x0c\x85\u2028\u2029")
# Invisible characters outside category Cf: combining grapheme joiner, Hangul fillers,
# Khmer inherent vowels, braille blank.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")
_SPACE_RUN = re.compile(r"[^\S\n]+")


@cache
def _kept(char: str) -> str:
    """Return what survives of a character: itself, a newline, or nothing if invisible."""
    if char in _NEWLINES:
        return "\n"
    category = unicodedata.category(char)
    code = ord(char)
    invisible = (
        category in ("Cf", "Cs", "Co", "Cn")
        or (category == "Cc" and char not in "\t\n")
        or char in _INVISIBLE
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )
    return "" if invisible else char


def normalize(text: str) -> str:
    """Return ``text`` as the patterns and a reader should see it.

    Applies NFKC (fullwidth and styled letters become plain ones), removes zero-width,
    bidirectional and other invisible format characters, NUL and control characters
    (newlines and tabs survive), turns every line break into a newline, collapses
    runs of spaces, trims each line and keeps at most one blank line between
    paragraphs.
    """
    kept = map(_kept, text.replace("\r\n", "\n"))
    composed = unicodedata.normalize("NFKC", "".join(kept))
    lines = (_SPACE_RUN.sub(" ", line).strip() for line in composed.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- folded views: match without case, accents or look-alikes, report original spans -


# Cyrillic and Greek letters that look like Latin ones, after case folding.
_CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁԛԝӏкмнтвαοινρτκυχεı",
    "aeopcyxijsdqwlkmhtbaoivptkuxei",
)
# Digits and symbols that stand in for letters ("n1gg3r", "f@g"), undone when they
# touch a letter ("!" and "|" only between two letters, so "myself!" stays "myself").
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_INNER = {"!": "i", "|": "l"}
_APOSTROPHES = frozenset("'’ʼ`´")
_SPACED_LETTERS = re.compile(r"(?<!\S)\S(?: \S){2,}(?!\S)")


@cache
def _fold_char(char: str) -> str:
    """Return a character without case, accents or look-alike disguise."""
    decomposed = unicodedata.normalize("NFD", char.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.translate(_CONFUSABLES)


class _View(NamedTuple):
    """A folded copy of a text and, per folded character, its index in the original."""

    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Return the original span of the folded span ``start:end``."""
        return self.origin[start], self.origin[end - 1] + 1


def _name_view(text: str) -> _View:
    """Fold case, accents and look-alikes; keep punctuation so word edges stay put."""
    chars, origin = [], []
    for index, char in enumerate(text):
        for folded in _fold_char(char):
            chars.append(folded)
            origin.append(index)
    return _View("".join(chars), tuple(origin))


def _lexicon_view(text: str) -> _View:
    """Fold further for word lists: no apostrophes, l33t undone, s p a c e s joined."""
    pairs = [
        (folded, index)
        for index, char in enumerate(text)
        if char not in _APOSTROPHES
        for folded in _fold_char(char)
    ]
    cleaned: list[tuple[str, int]] = []
    for position, (char, index) in enumerate(pairs):
        left = position > 0 and pairs[position - 1][0].isalpha()
        right = position + 1 < len(pairs) and pairs[position + 1][0].isalpha()
        if char in _LEET and (left or right):
            char = _LEET[char]
        elif char in _LEET_INNER and left and right:
            char = _LEET_INNER[char]
        if not char.isalnum():
            if not cleaned or cleaned[-1][0] == " ":
                continue
            char = " "
        cleaned.append((char, index))
    if cleaned and cleaned[-1][0] == " ":
        cleaned.pop()
    joined = "".join(char for char, _ in cleaned)
    dropped = {
        match.start() + offset
        for match in _SPACED_LETTERS.finditer(joined)
        for offset, char in enumerate(match.group())
        if char == " "
    }
    kept = [pair for position, pair in enumerate(cleaned) if position not in dropped]
    return _View("".join(char for char, _ in kept), tuple(index for _, index in kept))


# --- word lists ----------------------------------------------------------------------


def _data_lines(filename: str) -> list[str]:
    """Return the non-blank, non-comment lines of a file in ``voice/data``."""
    lines = (DATA_DIR / filename).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@cache
def _words(filename: str) -> frozenset[str]:
    """Return a one-word-per-line list from ``voice/data`` as a set."""
    return frozenset(_data_lines(filename))


def _function_words() -> frozenset[str]:
    """Return articles, pronouns and the like, which are never names."""
    return _words("function_words.txt")


@cache
def _common_words() -> frozenset[str]:
    """Return every word that reads as ordinary text after a title."""
    return _words("common_words.txt") | _function_words()


def _base_language(lang: str) -> str:
    """Return the language of a locale: ``es-MX`` -> ``es``."""
    return lang.lower().replace("_", "-").split("-")[0]


def _phrase_regex(pattern: str) -> re.Pattern[str]:
    """Compile a word-list pattern in which a space matches an optional space."""
    return re.compile(r"(?<!\w)(?:" + pattern.replace(" ", " ?") + r")(?!\w)")


def _term_regex(term: str) -> str:
    """Turn a slur into a pattern that tolerates stretched letters and plurals.

    A single letter matches once or three times and more ("faaag"), never twice, so
    "sped" does not match "speed"; a doubled one matches two or more times.
    """
    pieces = []
    for run in re.finditer(r"(.)\1*", term):
        letter, length = run.group(1), len(run.group())
        if letter == " ":
            pieces.append(" ?")
        elif length == 1:
            pieces.append(f"{re.escape(letter)}(?:{re.escape(letter)}{{2,}})?")
        else:
            pieces.append(f"{re.escape(letter)}{{{length},}}")
    return "".join(pieces) + "(?:s|es|z)?"


@cache
def _risk_patterns(scope: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Return, per risk category, one pattern for all its phrases of a scope."""
    by_category: dict[str, list[str]] = {}
    for line in _data_lines("at_risk.txt"):
        category, line_scope, pattern = line.split(maxsplit=2)
        if category not in RISK_CATEGORIES:
            raise ValueError(f"unknown risk category {category!r} in at_risk.txt")
        if line_scope == scope:
            by_category.setdefault(category, []).append(pattern)
    return tuple(
        (category, _phrase_regex("|".join(f"(?:{p})" for p in patterns)))
        for category, patterns in sorted(by_category.items())
    )


@cache
def _bias_pattern(scope: str) -> re.Pattern[str] | None:
    """Return one pattern for every biased phrase of a scope."""
    entries = [line.split(maxsplit=1) for line in _data_lines("biased_phrases.txt")]
    chosen = [f"(?:{pattern})" for s, pattern in entries if s == scope]
    return _phrase_regex("|".join(chosen)) if chosen else None


@cache
def _slurs(scope: str) -> re.Pattern[str] | None:
    """Return one pattern for every slur of a scope ("any" or a language)."""
    entries = [line.split(maxsplit=1) for line in _data_lines("slurs.txt")]
    chosen = sorted((term for s, term in entries if s == scope), key=len, reverse=True)
    if not chosen:
        return None
    body = "|".join(_term_regex(term) for term in chosen)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


# --- detectors: each returns spans of the normalized text ----------------------------


class _Span(NamedTuple):
    """A stretch of text holding one kind of detail."""

    start: int
    end: int
    kind: str


_COMMON_TLDS = (
    "com|org|net|edu|gov|mil|us|io|co|mx|es|info|biz|me|app|dev|uk|ca|ly|gg|tv|ai|xyz"
)
# Written without a scheme, only TLDs that are not also words count as a link, and only
# in lower case, so "it.Me too" or "the U.S." stay text.
_BARE_TLDS = "com|org|net|edu|gov|mil|io|ly|gg|tv|app|dev|xyz|info|biz|mx|ai|uk|ca|us"
_PROVIDERS = "gmail|yahoo|hotmail|outlook|icloud|aol|protonmail|proton|live|msn"
_LOCAL = r"(?<![\w.%+-])[\w%+-][\w.%+-]{0,63}"
# With a real "@", the local part may use every character RFC 5322 allows.
_ATEXT = r"\w!#$%&'*+/=?^`{|}~\-"
_LOCAL_ATEXT = rf"(?<![{_ATEXT}.])[{_ATEXT}][{_ATEXT}.]{{0,63}}"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
# A top-level domain: letters, or an internationalised one in punycode ("xn--p1ai").
_TLD = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
_AT_SIGN = r"[ \t]*@[ \t]*"
_AT_BRACKET = r"[ \t]*[(\[{<][ \t]*(?:at|arroba)[ \t]*[)\]}>][ \t]*"
_AT_WORD = r"[ \t]+(?:at|arroba)[ \t]+"
_DOT = (
    r"(?:\.|[ \t]+\.[ \t]+|[ \t]*[(\[{<][ \t]*(?:dot|punto)[ \t]*[)\]}>][ \t]*"
    r"|[ \t]+(?:dot|punto)[ \t]+)"
)
_EMAILS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # john@school.org, john (at) school [dot] org, j.doe @ school . org
        rf"{_LOCAL_ATEXT}{_AT_SIGN}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}(?![\w-])",
        rf"{_LOCAL}{_AT_BRACKET}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}(?![\w-])",
        # john at school dot org: the bare word "at" needs a familiar ending
        rf"{_LOCAL}{_AT_WORD}{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}(?:{_COMMON_TLDS})(?![\w-])",
        # john at gmail, juan arroba hotmail
        rf"{_LOCAL}(?:{_AT_SIGN}|{_AT_BRACKET}|{_AT_WORD})(?:{_PROVIDERS})(?![\w-])",
        # john@school
        rf"{_LOCAL_ATEXT}@{_LABEL}(?![\w@-])",
    )
)
_LINKS = (
    re.compile(r"(?<!\w)(?:(?:https?|hxxps?|ftp)://|www\.)[^\s<>\"]+", re.IGNORECASE),
    re.compile(
        rf"(?<![\w@.-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
        rf"(?:{_BARE_TLDS})(?::\d{{2,5}})?(?:/[^\s<>\"]*)?(?![\w-])"
    ),
    # instagram dot com slash john
    re.compile(
        rf"(?<!\w){_LABEL}(?:[ \t]+(?:dot|punto)[ \t]+{_LABEL})*[ \t]+(?:dot|punto)"
        rf"[ \t]+(?:{_COMMON_TLDS})(?:[ \t]*(?:/|\bslash\b|\bbarra\b)[ \t]*[\w.-]+)*"
        r"(?![\w-])",
        re.IGNORECASE,
    ),
)
_LINK_TRAILER = ".,;:!?)]}'\""
_DIGIT_WORDS = (
    "zero|oh|one|two|three|four|five|six|seven|eight|nine"
    "|cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve"
)
# A US-shaped number that phonenumbers reads otherwise (011 is its dialling prefix).
_US_SHAPED_PHONE = re.compile(
    r"(?<![\w.])\(?\d{3}\)?[ .-]{0,3}\d{3}[ .-]{0,3}\d{4}(?!\w)"
)
_SPELLED_PHONE = re.compile(
    rf"(?<!\w)(?:{_DIGIT_WORDS})(?:[ \t,-]+(?:{_DIGIT_WORDS})){{6,}}(?!\w)",
    re.IGNORECASE,
)
_SPACED_RUN = re.compile(r"(?<!\S)\S(?: \S){4,}(?=[.,;:!?)\]]*(?:\s|$))")
_HANDLE = re.compile(r"(?<![\w@.])@[^\W](?:[\w.]{0,29}\w)?")
_PLATFORMS = (
    "ig|insta|instagram|snap|snapchat|sc|tiktok|tik tok|twitter|discord|yt|youtube"
    "|twitch|fb|facebook|bereal|roblox|psn|xbox|gamertag|steam|whatsapp|telegram|kik"
    "|threads|username|user name|usuario|user"
)
_PLATFORM_HANDLE = re.compile(
    rf"(?<!\w)(?:{_PLATFORMS})[ \t]*[:=][ \t]*(?P<handle>@?[\w.]{{2,32}}(?:#\d{{4}})?)",
    re.IGNORECASE,
)
_PLATFORM_SAID = re.compile(
    rf"(?<!\w)(?:my|mi)[ \t]+(?:{_PLATFORMS})(?:[ \t]+(?:handle|username|name|user))?"
    r"[ \t]+(?:is|es)[ \t]+(?P<handle>@?[\w.]{2,32})",
    re.IGNORECASE,
)


def _find_emails(text: str) -> list[_Span]:
    return [
        _Span(*match.span(), "email")
        for regex in _EMAILS
        for match in regex.finditer(text)
    ]


def _find_links(text: str) -> list[_Span]:
    spans = []
    for regex in _LINKS:
        for match in regex.finditer(text):
            end = match.start() + len(match.group().rstrip(_LINK_TRAILER))
            spans.append(_Span(match.start(), end, "link"))
    return spans


def _find_phones(text: str) -> list[_Span]:
    # POSSIBLE, not VALID: fake or foreign numbers ("555 123 4567", "5 5 5 1 2 3 4 5 6
    # 7") are still somebody's way to be reached.
    matches = phonenumbers.PhoneNumberMatcher(
        text, "US", leniency=phonenumbers.Leniency.POSSIBLE
    )
    spans = [_Span(match.start, match.end, "phone") for match in matches]
    for regex in (_US_SHAPED_PHONE, _SPELLED_PHONE):
        spans += [_Span(*match.span(), "phone") for match in regex.finditer(text)]
    return spans


def _find_spaced_out(text: str) -> list[_Span]:
    """Find details spelled one character at a time: "j o h n @ s c h o o l . o r g"."""
    spans = []
    for match in _SPACED_RUN.finditer(text):
        joined = match.group().replace(" ", "")
        if any(regex.search(joined) for regex in _EMAILS):
            spans.append(_Span(*match.span(), "email"))
        elif any(regex.search(joined) for regex in _LINKS):
            spans.append(_Span(*match.span(), "link"))
        elif (
            re.fullmatch(r"\+?[\d().-]+", joined) and sum(map(str.isdigit, joined)) >= 7
        ):
            spans.append(_Span(*match.span(), "phone"))
    return spans


def _find_ids(text: str, patterns: Iterable[str]) -> list[_Span]:
    return [
        _Span(*match.span(), "id")
        for pattern in (DEFAULT_ID_PATTERN, *patterns)
        for match in re.finditer(pattern, text, re.IGNORECASE)
        if match.end() > match.start()
    ]


def _is_plain_word(handle: str) -> bool:
    """Say whether a would-be handle is an ordinary word ("my insta is private")."""
    return handle.isalpha() and handle.casefold() in _common_words()


def _find_handles(text: str) -> list[_Span]:
    spans = [_Span(*match.span(), "handle") for match in _HANDLE.finditer(text)]
    for regex in (_PLATFORM_HANDLE, _PLATFORM_SAID):
        for match in regex.finditer(text):
            handle = match.group("handle").rstrip(".")
            if not _is_plain_word(handle):
                start = match.start("handle")
                spans.append(_Span(start, start + len(handle), "handle"))
    return spans


_STREET_SUFFIXES = (
    "street|st|avenue|ave|av|road|rd|boulevard|blvd|drive|dr|lane|ln|court|ct|way"
    "|place|pl|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|trail|trl|square|sq"
    "|loop|row|alley|pike|crescent|plaza"
)
_CALLE = (
    "calle|c/|avenida|avda\\.?|av\\.?|paseo|callejon|calzada|bulevar|boulevard|blvd\\.?"
    "|pasaje|andador|cerrada|circuito|prolongacion|prol\\."
)
# Spanish street names keep their articles: "Calle de la Paz 12".
_STREET_ARTICLES = frozenset({"de", "del", "la", "las", "los", "el"})
_UNIT = r"(?:,?[ \t]*(?:apt|apartment|unit|suite|ste|depto|#)\.?[ \t]*#?[ \t]*[\w-]+)?"


@cache
def _address_regexes() -> tuple[re.Pattern[str], ...]:
    """Compile the street-address patterns, which must skip function words."""
    words = "|".join(sorted(_function_words(), key=len, reverse=True))
    spanish = "|".join(
        sorted(_function_words() - _STREET_ARTICLES, key=len, reverse=True)
    )
    en_word = rf"(?!(?:{words})\b)(?:[^\W\d_][\w'.-]*|\d+(?:st|nd|rd|th))"
    es_word = rf"(?!(?:{spanish})\b)[\w'.-]+"
    return (
        # 42 Wallaby Way, 1600 n. Pennsylvania Ave apt 3 (not "a 5 star place")
        re.compile(
            rf"(?<!\w)(?<!\ba )(?<!\ban )\d{{1,6}}[a-z]?(?:-\d{{1,4}})?[ \t]+"
            rf"(?:(?:n|s|e|w|ne|nw|se|sw|north|south|east|west)\.?[ \t]+)?"
            rf"(?:{en_word}[ \t]+){{1,3}}(?:{_STREET_SUFFIXES})\.?(?!\w){_UNIT}"
        ),
        # Calle Juarez 123, Av. Reforma #45, calle 5 de mayo no. 12
        re.compile(
            rf"(?<!\w)(?:{_CALLE})[ \t]+(?:{es_word}[ \t]+){{1,4}}?"
            rf"(?:#[ \t]*|n[o°º]\.?[ \t]*|num\.?[ \t]*|numero[ \t]*)?"
            rf"\d{{1,5}}[a-z]?(?:[ \t]*-[ \t]*\d{{1,4}})?(?!\w){_UNIT}"
        ),
        # Calle 45 # 12-34, Carrera 7 no. 71-21
        re.compile(
            r"(?<!\w)(?:calle|carrera|cra\.?|avenida|av\.?|diagonal|transversal)[ \t]+"
            r"\d{1,3}[a-z]?[ \t]*(?:#|no\.?|n°)[ \t]*\d{1,3}[a-z]?"
            r"(?:[ \t]*-[ \t]*\d{1,3})?"
            r"(?!\w)"
        ),
        re.compile(
            r"(?<!\w)(?:p\.?[ \t]?o\.?[ \t]?box|apartado(?:[ \t]postal)?)[ \t]*#?[ \t]*"
            r"\d{1,6}(?!\w)"
        ),
    )


def _find_addresses(view: _View) -> list[_Span]:
    return [
        _Span(*view.span(*match.span()), "address")
        for regex in _address_regexes()
        for match in regex.finditer(view.text)
    ]


_STRONG_TITLES = "mrs|mr|ms|mx|dr|sra|srta|srita|sr|profe|prof|mme|mlle"
_WEAK_TITLES = (
    "coach|miss|mister|teacher|maestro|maestra|profesora|profesor|professor|senorita"
    "|senora|senor|dona|don|principal|counselor|consejero|consejera|nurse|officer"
    "|director|directora|madam|madame"
)
# Titles that are also verbs ("I miss lunch", "coach the team", "don a coat"): a
# lower-case word after them that ends in -ing is a verb, not a name.
_VERB_TITLES = frozenset({"miss", "coach", "nurse", "don"})
_TITLE = re.compile(
    rf"(?<!\w)(?:(?P<strong>{_STRONG_TITLES})(?:\.[ \t]*|[ \t]+)"
    rf"|(?P<weak>{_WEAK_TITLES})[ \t]+)(?=[^\W\d_])"
)
_WORD = r"[^\W\d_][\w'’-]*"
_TOKEN = re.compile(_WORD)
_WORD_RUN = re.compile(rf"{_WORD}(?:[ \t]+{_WORD}){{0,5}}")
_NAME_PARTICLES = frozenset("de del la las los van von der den da di du le".split())
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)


def _case_of(word: str) -> str:
    """Return "title" (Smith), "upper" (SMITH) or "lower" (smith, sMITH)."""
    if word[:1].isupper() and any(char.islower() for char in word[1:]):
        return "title"
    if word.isupper() and len(word) > 1:
        return "upper"
    return "lower"


def _reads_as_name(word: str, folded: str, *, title: str) -> bool:
    """Say whether a word after a title is a name rather than ordinary text."""
    if folded in _common_words() or len(folded) < 2:
        return False
    if _case_of(word) == "title":
        return True
    return not (title in _VERB_TITLES and folded.endswith("ing"))


def _original(text: str, view: _View, match: re.Match[str]) -> str:
    """Return the original text under a match on a folded view."""
    start, end = view.span(*match.span())
    return text[start:end]


def _name_length(words: list[tuple[str, str]], title: str) -> int:
    """Return how many of the words after a title make up a name (0 if none do).

    :param words: (original, folded) words following the title, in order
    """
    length, names, first_case = 0, 0, ""
    while length < len(words) and names < 3:
        word = _POSSESSIVE.sub("", words[length][0])
        folded = _POSSESSIVE.sub("", words[length][1])
        if folded in _NAME_PARTICLES:
            # "de la Cruz", "van der Berg": particles count before a capitalized word
            after = length
            while after < len(words) and words[after][1] in _NAME_PARTICLES:
                after += 1
            if after == len(words) or _case_of(words[after][0]) != "title":
                break
            length = after
            continue
        if names and _case_of(word) not in ("title", first_case):
            break
        if not _reads_as_name(word, folded, title=title):
            break
        first_case = first_case or _case_of(word)
        length, names = length + 1, names + 1
        if word != words[length - 1][0]:  # "Mr. Smith's class": the name ends here
            break
    return length if names else 0


def _find_titled_names(text: str, view: _View) -> list[_Span]:
    spans = []
    for title_match in _TITLE.finditer(view.text):
        title = title_match.group("strong") or title_match.group("weak")
        run = _WORD_RUN.match(view.text, title_match.end())
        if run is None:
            continue
        tokens = list(_TOKEN.finditer(view.text, run.start(), run.end()))
        words = [(_original(text, view, token), token.group()) for token in tokens]
        length = _name_length(words, title)
        if length:
            start = view.span(*tokens[0].span())[0]
            last_start = view.span(*tokens[length - 1].span())[0]
            last = _POSSESSIVE.sub("", words[length - 1][0])
            spans.append(_Span(start, last_start + len(last), "name"))
    return spans


# Generational suffixes and initials say nothing on their own.
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


class _Roster(NamedTuple):
    """A school's names, folded once into sets that a comment's words are looked up in."""

    #: whole multi-word entries ("grace hopper"), redacted in any case
    entries: frozenset[str]
    #: single parts that are only names ("perez"), redacted in any case
    names: frozenset[str]
    #: single parts that are also words ("grace", "will"), redacted with care
    guarded: frozenset[str]
    #: the most words in one entry
    longest: int


# Roster words split at spaces and hyphens and keep inner apostrophes: O'Brien.
_ROSTER_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


@lru_cache(maxsize=32)
def _roster(names: tuple[str, ...]) -> _Roster:
    """Fold a roster into whole entries and their parts (initials and Jr. dropped)."""
    guarded_words = _words("name_stopwords.txt") | _common_words() | _NAME_PARTICLES
    entries, always, guarded, longest = set(), set(), set(), 1
    for entry in names:
        parts = _ROSTER_WORD.findall(_name_view(normalize(entry)).text)
        if len(parts) > 1:
            entries.add(" ".join(parts))
            longest = max(longest, len(parts))
        for part in parts:
            if len(part) > 1 and part not in _NAME_SUFFIXES:
                (guarded if part in guarded_words else always).add(part)
    return _Roster(frozenset(entries), frozenset(always), frozenset(guarded), longest)


_SENTENCE_END = ".!?¡¿…\n"
_OPENERS = " \t\"'“”‘’«»()[]*-•"


def _starts_sentence(text: str, start: int) -> bool:
    """Say whether a word is the first of its sentence, where capitals prove nothing."""
    position = start
    while position and text[position - 1] in _OPENERS:
        position -= 1
    return not position or text[position - 1] in _SENTENCE_END


# A roster name that is also a month reads as the month after a date word or before a
# day number: "in May", "since April", "June 3rd".
_MONTH_NAMES = frozenset({"april", "may", "june", "august"})
_DATE_BEFORE = re.compile(
    r"(?<!\w)(?:in|on|since|until|till|by|last|next|this|every|early|mid|late|of|from"
    r"|through|during|before|after)[ \t]+$",
    re.IGNORECASE,
)
_DAY_AFTER = re.compile(r"[ \t]*\d")


def _reads_as_month(text: str, start: int, end: int, folded: str) -> bool:
    """Say whether a capitalized roster name is really a month."""
    return folded in _MONTH_NAMES and bool(
        _DATE_BEFORE.search(text, max(0, start - 16), start)
        or _DAY_AFTER.match(text, end)
    )


def _find_roster_names(text: str, view: _View, names: tuple[str, ...]) -> list[_Span]:
    roster = _roster(names)
    words = list(_ROSTER_WORD.finditer(view.text))
    keys = [_POSSESSIVE.sub("", word.group()) for word in words]
    spans, index = [], 0
    while index < len(words):
        length = _entry_length(view.text, words, keys, index, roster)
        last = index + max(length, 1) - 1
        start, end = view.span(
            words[index].start(), words[last].start() + len(keys[last])
        )
        key = keys[index]
        if (
            length
            or key in roster.names
            or (
                key in roster.guarded
                and _case_of(text[start:end]) == "title"
                and not _starts_sentence(text, start)
                and not _reads_as_month(text, start, end, key)
            )
        ):
            spans.append(_Span(start, end, "name"))
        index = last + 1
    return spans


def _entry_length(
    text: str, words: list[re.Match[str]], keys: list[str], index: int, roster: _Roster
) -> int:
    """Return how many words from ``index`` spell a whole roster entry (0 if none)."""
    for length in range(min(roster.longest, len(words) - index), 1, -1):
        gaps = (
            text[words[i].end() : words[i + 1].start()]
            for i in range(index, index + length - 1)
        )
        joined = all(gap.strip(" \t-") == "" for gap in gaps)
        if joined and " ".join(keys[index : index + length]) in roster.entries:
            return length
    return 0


def _rank(kind: str) -> int:
    """Return how strongly a kind claims a span it shares (see ``KINDS``)."""
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def _merge(text: str, spans: Iterable[_Span]) -> list[_Span]:
    """Join overlapping spans (and names one space apart) into one placeholder each.

    Joining, rather than dropping the loser, means a detail two detectors half-see is
    still covered end to end; the kind that wins is the earliest in ``KINDS``.
    """
    merged: list[_Span] = []
    for span in sorted(spans):
        if merged:
            last = merged[-1]
            between = text[last.end : span.start]
            touching = span.start < last.end or (
                last.kind == span.kind == "name" and between.strip(" \t-") == ""
            )
            if touching:
                kind = min(last.kind, span.kind, key=_rank)
                merged[-1] = _Span(last.start, max(last.end, span.end), kind)
                continue
        merged.append(span)
    return merged


# --- public API ----------------------------------------------------------------------


def redact(
    text: str,
    *,
    lang: str = "en",
    names: Iterable[str] = (),
    student_id_patterns: Iterable[str] = (),
) -> Redaction:
    """Replace personal details in a comment with placeholders a reader can follow.

    :param text: the comment as the student typed it
    :param lang: the reader's language, for the placeholders (``es`` gives
        ``[nombre]``, ``[correo]`` ...); unknown languages get English ones
    :param names: the school's roster; whole entries and each of their parts
    :param student_id_patterns: the school's id formats as regular expressions, matched
        ignoring case, in addition to ``DEFAULT_ID_PATTERN``
    :return: the normalized comment with placeholders, and how many of each kind
    :raises re.error: if a student-id pattern is not a valid regular expression
    """
    clean = normalize(text)
    view = _name_view(clean)
    found = [
        *_find_spaced_out(clean),
        *_find_emails(clean),
        *_find_links(clean),
        *_find_phones(clean),
        *_find_addresses(view),
        *_find_ids(clean, student_id_patterns),
        *_find_handles(clean),
        *_find_titled_names(clean, view),
        *_find_roster_names(clean, view, tuple(names)),
    ]
    spans = _merge(clean, found)
    placeholders = PLACEHOLDERS.get(_base_language(lang), PLACEHOLDERS["en"])
    pieces, position = [], 0
    for span in spans:
        pieces += [clean[position : span.start], placeholders[span.kind]]
        position = span.end
    pieces.append(clean[position:])
    counts = Counter(span.kind for span in spans)
    return Redaction("".join(pieces), dict(counts))


def _slur_matches(view: _View, lang: str) -> list[_Span]:
    """Return the slurs in a lexicon view, as spans of the view itself."""
    return [
        _Span(*match.span(), "bias")
        for scope in ("any", _base_language(lang))
        if (regex := _slurs(scope)) is not None
        for match in regex.finditer(view.text)
    ]


def flag(text: str, *, lang: str = "en") -> Flags:
    """Flag a comment for the facilitator's moderation queue.

    Looks for phrases of self-harm, abuse and threats of violence, and counts slurs and
    biased phrases, in every language's lists (students switch languages) except words
    innocent in the comment's language. It looks at what was said, never at who said it.

    :param text: the comment, redacted or not
    :param lang: the comment's language, e.g. ``en`` or ``es-MX``
    :return: risk categories found and the number of slurs and biased phrases
    """
    view = _lexicon_view(normalize(text))
    scopes = ("any", _base_language(lang))
    categories = {
        category
        for scope in scopes
        for category, regex in _risk_patterns(scope)
        if regex.search(view.text)
    }
    biased = [
        _Span(*match.span(), "bias")
        for scope in scopes
        if (regex := _bias_pattern(scope)) is not None
        for match in regex.finditer(view.text)
    ]
    slurs = _slur_matches(view, lang)
    return Flags(
        categories=tuple(sorted(categories)),
        bias_count=len(_merge(view.text, biased + slurs)),
    )


def mask_bias(text: str, *, lang: str = "en") -> str:
    """Mask slurs in a quote shown to leaders, keeping the first letter: ``f***``.

    Biased phrases without a slur stay readable; :func:`flag` still counts both.

    :param text: the quote, normally already redacted
    :param lang: the quote's language, so words innocent in it are left alone
    :return: the normalized quote with every slur masked
    """
    clean = normalize(text)
    view = _lexicon_view(clean)
    matches = _slur_matches(view, lang)
    # The view's first letter shows through a disguise: "$pic" is masked as "s***".
    letters = {view.origin[match.start]: view.text[match.start] for match in matches}
    found = [_Span(*view.span(m.start, m.end), m.kind) for m in matches]
    pieces, position = [], 0
    for span in _merge(clean, found):
        first = clean[span.start]
        if not first.isalpha():
            first = letters.get(span.start, "*")
        pieces += [clean[position : span.start], f"{first}***"]
        position = span.end
    pieces.append(clean[position:])
    return "".join(pieces)
