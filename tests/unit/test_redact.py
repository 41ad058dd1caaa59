"""Redaction, safety flags and slur masking, attacked with the strings students type."""

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice.redact import (
    KINDS,
    PLACEHOLDERS,
    Flags,
    Redaction,
    flag,
    mask_bias,
    normalize,
    redact,
)

ROSTER = (
    "José Pérez",
    "Mary-Kate O'Brien",
    "Nguyen Van An",
    "Will Turner",
    "Grace",
    "Hope Castillo",
    "May",
    "Luz",
    "Al",
)


def scrub(text: str, **options) -> str:
    return redact(text, names=ROSTER, **options).text


# --- normalize -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("j\u200bo\u200bhn", "john"),  # zero-width space
        ("jo\u200c\u200dhn\u2060", "john"),  # ZWNJ, ZWJ, word joiner
        ("\ufeffhello", "hello"),  # byte-order mark
        ("a\u00adb", "ab"),  # soft hyphen
        ("\u202egro.loohcs@nhoj\u202c", "gro.loohcs@nhoj"),  # right-to-left override
        ("\u2066x\u2069 \u200fy\u200e", "x y"),  # isolates and marks
        ("n\U000e0041o", "no"),  # tag character
        ("jo\ufe0fhn\u034f", "john"),  # variation selector, grapheme joiner
        ("a\x00b\x07c\x1bd\x7fe", "abcde"),  # NUL, bell, escape, delete
        ("ＪＯＨＮ＠ＳＣＨＯＯＬ．ＯＲＧ", "JOHN@SCHOOL.ORG"),  # fullwidth
        ("𝐣𝐨𝐡𝐧", "john"),  # mathematical bold
        ("①②③", "123"),
        ("a\u00a0\u2003 b", "a b"),  # no-break and em spaces
        ("  one \t two  ", "one two"),
        ("line one\r\nline two\rthree\u2028four", "line one\nline two\nthree\nfour"),
        ("para one\n\n\n\n\npara two", "para one\n\npara two"),
        ("  \n  spaced  \n  ", "spaced"),
    ],
)
def test_normalize_removes_what_hides_and_keeps_what_reads(raw, clean):
    assert normalize(raw) == clean


def test_normalize_keeps_accents_and_emoji():
    assert normalize("Señora García 😊 ñandú") == "Señora García 😊 ñandú"


def test_normalize_drops_lone_surrogates_that_would_break_encoding():
    assert normalize("ok\ud800ay").encode("utf-8") == b"okay"


@given(st.text())
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


# --- e-mail addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "write to john.smith@school.org please",
        "write to j\u200bo\u200bhn@school.org please",
        "write to ｊｏｈｎ＠ｓｃｈｏｏｌ．ｏｒｇ please",
        "write to john @ school.org please",
        "write to john@school . org please",
        "write to john at school dot org please",
        "write to john AT school DOT org please",
        "write to john (at) school.org please",
        "write to john [at] school [dot] org please",
        "write to john{at}school{dot}edu please",
        "write to j o h n @ s c h o o l . o r g please",
        "write to john at gmail please",
        "write to john@school please",
        "escríbeme a juan arroba escuela punto org por favor",
        "escríbeme a juan (arroba) hotmail por favor",
        "write to jоhn@school.org please",  # Cyrillic о
    ],
)
def test_obfuscated_email_is_redacted(text):
    result = redact(text)
    assert result.counts == {"email": 1}
    assert not re.search(r"j[oо]hn|juan|school|escuela|gmail|hotmail", result.text)


@given(st.emails())
def test_any_valid_email_address_is_redacted_whole(email):
    assert redact(f"write to {email} now").text == "write to [email] now"


def test_email_placeholder_follows_the_readers_language():
    assert redact("juan@escuela.mx", lang="es").text == "[correo]"
    assert redact("juan@escuela.mx", lang="es-MX").text == "[correo]"
    assert redact("juan@escuela.mx", lang="en").text == "[email]"


@pytest.mark.parametrize(
    "text",
    [
        "look at the dot on the map",
        "I was at home. Org chart was up",
        "meet @ 3pm",
        "good at math.",
        "we met at lunch",
    ],
)
def test_ordinary_at_and_dot_are_not_emails(text):
    assert redact(text).text == text


# --- phone numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "555 123 4567",
        "(555) 123-4567",
        "555.123.4567",
        "555-123-4567",
        "+1 555 123 4567",
        "5551234567",
        "555 - 123 - 4567",
        "5 5 5 1 2 3 4 5 6 7",
        "55 51 23 45 67",
        "555-1234",
        "+52 55 1234 5678",
        "+44 20 7946 0958",
        "５５５ １２３ ４５６７",
        "5\u200b5\u200b5 123 4567",
        "five five five one two three four five six seven",
        "cinco cinco cinco uno dos tres cuatro",
    ],
)
def test_phone_number_is_redacted(number):
    result = redact(f"text me at {number} tonight")
    assert result.text == "text me at [phone] tonight"


_SEPARATORS = st.sampled_from(["", " ", "-", ".", " - ", "  ", "\u200b", " . "])


@given(
    st.text("0123456789", min_size=10, max_size=10),
    _SEPARATORS,
    _SEPARATORS,
    st.booleans(),
    st.booleans(),
)
def test_any_us_phone_layout_is_redacted(digits, first, second, paren, country):
    area = f"({digits[:3]})" if paren else digits[:3]
    number = f"{'+1 ' if country else ''}{area}{first}{digits[3:6]}{second}{digits[6:]}"
    assert redact(f"call {number} now").text == "call [phone] now"


@pytest.mark.parametrize(
    "text",
    [
        "I got 100 on the test",
        "class of 2024",
        "grades 9-12",
        "10/12/2024",
        "between 3:30 and 4:15",
        "the score was 21-14",
        "3.5 GPA",
        "1 in 5 students",
        "we meet in room 204",
        "it's the 2023-2024 school year",
        "scores 85 90 78 92",
        "version 2.0.1",
    ],
)
def test_everyday_numbers_are_kept(text):
    assert redact(text).text == text


# --- ids -------------------------------------------------------------------------------


def test_six_to_ten_digit_run_is_an_id_by_default():
    assert redact("my number is 20231234 lol").text == "my number is [id] lol"


def test_school_id_pattern_is_matched_ignoring_case():
    result = redact("I'm s-1234 in the system", student_id_patterns=[r"S-\d{4}"])
    assert result.text == "I'm [id] in the system"


def test_school_id_pattern_adds_to_the_default():
    result = redact("S-1234 and 123456", student_id_patterns=[r"S-\d{4}"])
    assert result == Redaction("[id] and [id]", {"id": 2})


def test_invalid_school_id_pattern_raises():
    with pytest.raises(re.error):
        redact("anything", student_id_patterns=["S-(\\d"])


# --- links and handles -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("see https://example.com/u/john. ok", "see [link]. ok"),
        ("see www.myblog.net!", "see [link]!"),
        ("go to johnsmith.com now", "go to [link] now"),
        ("instagram dot com slash john_22 has it", "[link] has it"),
        ("follow @jdoe_22 now", "follow [handle] now"),
        ("ig: jdoe.22 and snap: jd2", "ig: [handle] and snap: [handle]"),
        ("my insta is jdoe_22", "my insta is [handle]"),
        ("mi tiktok es juanito22", "mi tiktok es [handle]"),
        ("discord: gamer#1234", "discord: [handle]"),
    ],
)
def test_link_or_handle_is_redacted(text, clean):
    assert redact(text).text == clean


@pytest.mark.parametrize(
    "text",
    [
        "It was fine.Me too",
        "e.g. the U.S. and i.e. etc.",
        "node.js is cool",
        "my snap is private",
        "my insta is down",
    ],
)
def test_text_that_only_looks_like_a_link_is_kept(text):
    assert redact(text).text == text


# --- street addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "clean"),
    [
        ("I live at 42 Wallaby Way, Sydney", "en", "I live at [address], Sydney"),
        ("come to 1600 N. Pennsylvania Ave apt 3 ok", "en", "come to [address] ok"),
        ("it's 12 elm st.", "en", "it's [address]"),
        ("at 221B Baker Street", "en", "at [address]"),
        ("near 5th Avenue? no, 350 5th Avenue", "en", "near 5th Avenue? no, [address]"),
        (
            "vivo en Calle Juárez 123, col. centro",
            "es",
            "vivo en [dirección], col. centro",
        ),
        ("en la avenida Reforma #45", "es", "en la [dirección]"),
        ("en la calle 5 de Mayo no. 12", "es", "en la [dirección]"),
        ("Calle 45 # 12-34, Bogotá", "es", "[dirección], Bogotá"),
        ("P.O. Box 123", "en", "[address]"),
    ],
)
def test_street_address_is_redacted(text, lang, clean):
    assert redact(text, lang=lang).text == clean


@pytest.mark.parametrize(
    "text",
    [
        "2 people in the way",
        "we had 2 fights in the hallway",
        "a 5 star place",
        "3 times in a row",
        "we play 4 square",
        "la calle es peligrosa 2 veces",
        "en la calle 2 veces",
        "I live on Main Street",
    ],
)
def test_numbers_near_street_words_are_not_addresses(text):
    assert redact(text).text == text


# --- names from the roster -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("José Pérez pushed me", "[name] pushed me"),
        ("jose perez pushed me", "[name] pushed me"),
        ("JOSE PEREZ pushed me", "[name] pushed me"),
        ("jOsÉ pushed me", "[name] pushed me"),
        ("Perez pushed me", "[name] pushed me"),
        ("Jose\u200b Perez pushed me", "[name] pushed me"),
        ("Jоsé pushed me", "[name] pushed me"),  # Cyrillic о
        ("mary-kate o'brien is mean", "[name] is mean"),
        ("Mary-Kate's locker", "[name]'s locker"),
        ("ask Nguyen", "ask [name]"),
        ("Will Turner said so", "[name] said so"),
        ("will turner said so", "[name] said so"),
        ("I told Grace and she laughed", "I told [name] and she laughed"),
        ("ask Al about it", "ask [name] about it"),
        ("Hope Castillo and hope castillo", "[name] and [name]"),
    ],
)
def test_roster_name_is_redacted_in_any_case_and_accent(text, clean):
    assert scrub(text) == clean


@pytest.mark.parametrize(
    "text",
    [
        "I will go and I hope so",
        "Grace is kind",  # sentence start: a capital proves nothing
        "by the grace of the coach",
        "May I go?",
        "in May we had a trip",
        "May 5th was fun",
        "al final nadie vino",
        "mi casa tiene luz",
        "Joseph and Perezoso",  # word boundaries
        "the grace period. Will it end?",
    ],
)
def test_roster_name_that_is_a_common_word_is_kept_as_a_word(text):
    assert scrub(text) == text


def test_empty_roster_redacts_no_plain_names():
    assert redact("Jose pushed me").text == "Jose pushed me"


def test_roster_is_compiled_once_per_roster():
    big = tuple(f"Student{i} Surname{i}" for i in range(2000))
    assert redact("ask student1999", names=big).text == "ask [name]"
    assert redact("ask surname7", names=big).text == "ask [name]"


# --- names after titles ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("Mr. Smith is unfair", "Mr. [name] is unfair"),
        ("mr smith is unfair", "mr [name] is unfair"),
        ("MR. SMITH IS UNFAIR", "MR. [name] IS UNFAIR"),
        ("mR. sMiTh is unfair", "mR. [name] is unfair"),
        ("Mrs.Jones yelled", "Mrs.[name] yelled"),
        ("Mx. Rivera helps", "Mx. [name] helps"),
        ("Dr. Patel said", "Dr. [name] said"),
        ("Ms. De la Cruz helped", "Ms. [name] helped"),
        ("Mr. John Smith said no", "Mr. [name] said no"),
        ("MR. JOHN SMITH SAID NO", "MR. [name] SAID NO"),
        ("Mr. Smith's class", "Mr. [name]'s class"),
        ("Mr. Smith's Honors class", "Mr. [name]'s Honors class"),
        ("Coach Rivera yelled", "Coach [name] yelled"),
        ("coach rivera yelled", "coach [name] yelled"),
        ("Miss Johnson is great", "Miss [name] is great"),
        ("my teacher Kowalski", "my teacher [name]"),
        ("la maestra García nos grita", "la maestra [nombre] nos grita"),
        ("la sra. lopez es buena", "la sra. [nombre] es buena"),
        ("la Srta. Ramírez", "la Srta. [nombre]"),
        ("el profe juan", "el profe [nombre]"),
        ("el maestro Hernández dijo", "el maestro [nombre] dijo"),
        ("don Ramón", "don [nombre]"),
        ("Ms. Brown and Mr. White", "Ms. [name] and Mr. [name]"),
    ],
)
def test_name_after_a_title_is_redacted_in_odd_case(text, clean):
    lang = "es" if "[nombre]" in clean else "en"
    assert redact(text, lang=lang).text == clean


@pytest.mark.parametrize(
    "text",
    [
        "coach yelled at us",
        "the coach said no",
        "I miss lunch",
        "i miss seeing my friends",
        "we miss recess",
        "my teacher is nice",
        "the teacher always helps",
        "this teacher drives me crazy",
        "the principal announced it",
        "la maestra dijo que no",
        "el profe nunca explica",
        "la maestra de inglés es buena",
        "MS students are nice",
        "sr year was fun",
        "Mr. and Mrs. are titles",
        "the nurse helped me",
        "I don't know",
        "we presented to the principal last year",
        "the coach first game of the season",
        "our counselor next week",
    ],
)
def test_ordinary_word_after_a_title_is_kept(text):
    assert redact(text).text == text


# --- the whole comment -----------------------------------------------------------------


def test_counts_say_how_many_of_each_kind_were_removed():
    result = redact(
        "Mr. Smith told José to email me at a@b.org or call 555 123 4567, "
        "I'm at 42 Wallaby Way, @jd22",
        names=ROSTER,
    )
    assert result.counts == {
        "name": 2,
        "email": 1,
        "phone": 1,
        "address": 1,
        "handle": 1,
    }
    assert set(result.counts) <= set(KINDS)


def test_clean_comment_comes_back_unchanged_with_no_counts():
    result = redact("The cafeteria food is cold and lunch is too short.", names=ROSTER)
    assert result == Redaction("The cafeteria food is cold and lunch is too short.", {})


def test_adjacent_first_and_last_name_become_one_placeholder():
    assert scrub("Coach José Pérez") == "Coach [name]"


def test_spanish_comment_gets_spanish_placeholders():
    text = "Mi maestra, la Sra. López, me dio su correo lopez@escuela.mx y su cel 55 1234 5678"
    assert redact(text, lang="es").text == (
        "Mi maestra, la Sra. [nombre], me dio su correo [correo] y su cel [teléfono]"
    )


def test_unknown_language_falls_back_to_english_placeholders():
    assert redact("a@b.org", lang="fr").text == "[email]"


def test_every_language_has_a_placeholder_for_every_kind():
    for placeholders in PLACEHOLDERS.values():
        assert set(placeholders) == set(KINDS)


def test_bidi_override_cannot_hide_an_email_from_the_redactor():
    hidden = "contact \u202ejohn\u202c@\u2066school\u2069.org"
    assert redact(hidden).text == "contact [email]"


def test_output_contains_no_invisible_characters():
    assert scrub("Jo\u200bsé \u202ePérez\u202c said\u2060 hi") == "[name] said hi"


def test_placeholders_are_not_redacted_again_by_a_roster_that_names_them():
    result = redact("email a@b.org and Name is here", names=("Name", "Email", "Link"))
    assert result.text == "email [email] and [name] is here"


@given(st.text(max_size=200))
def test_redact_never_fails_and_changes_only_what_it_counts(text):
    result = redact(text, names=ROSTER)
    assert sum(result.counts.values()) == 0 or "[" in result.text
    if not result.counts:
        assert result.text == normalize(text)


# --- safety flags ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "category"),
    [
        ("sometimes I want to kill myself", "en", "self_harm"),
        ("honestly I don't want to be here anymore", "en", "self_harm"),
        ("ya no quiero estar aquí", "es", "self_harm"),
        ("I WANT TO KILL MYSELF", "en", "self_harm"),
        ("i want to k1ll mys3lf", "en", "self_harm"),
        ("i want to k i l l m y s e l f", "en", "self_harm"),
        ("i want to kill\u200b myself", "en", "self_harm"),
        ("kms", "en", "self_harm"),
        ("I've been cutting myself", "en", "self_harm"),
        ("I don't want to live anymore", "en", "self_harm"),
        ("everyone would be better off without me", "en", "self_harm"),
        ("I think about suicide", "en", "self_harm"),
        ("me quiero morir", "es", "self_harm"),
        ("Me   QUIERO morír", "es", "self_harm"),
        ("ya no quiero vivir", "es", "self_harm"),
        ("pienso en suicidarme", "es", "self_harm"),
        ("a veces me corto", "es", "self_harm"),
        ("my stepdad hits me", "en", "abuse"),
        ("he hits me at home", "en", "abuse"),
        ("I don't feel safe at home", "en", "abuse"),
        ("a teacher touched me", "en", "abuse"),
        ("mi papá me pega", "es", "abuse"),
        ("no me siento segura en casa", "es", "abuse"),
        ("I'm going to shoot up the school", "en", "violence"),
        ("he said he'd bring a gun", "en", "violence"),
        ("I'll kill him", "en", "violence"),
        ("kys", "en", "violence"),
        ("lo voy a matar", "es", "violence"),
        ("va a traer una pistola a la escuela", "es", "violence"),
    ],
)
def test_comment_suggesting_risk_is_flagged(text, lang, category):
    flags = flag(text, lang=lang)
    assert flags.at_risk
    assert category in flags.categories


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("I killed it on the test", "en"),
        ("this homework is killing me", "en"),
        ("I'm dying of laughter", "en"),
        ("I want to die of embarrassment lol", "en"),
        ("shoot your shot", "en"),
        ("we bombed the test", "en"),
        ("kill them with kindness", "en"),
        ("shoot him a text", "en"),
        ("she hit me up yesterday", "en"),
        ("he beat me at chess", "en"),
        ("I cut myself on the broken chair", "en"),
        ("cut class", "en"),
        ("my mom will kill me if I fail", "en"),
        ("I could kill for a burrito", "en"),
        ("the game was a blast", "en"),
        ("me muero de risa", "es"),
        ("la tarea me mata", "es"),
        ("mi mamá me va a matar", "es"),
        ("me toca a mí", "es"),
        ("se me pega la canción", "es"),
        ("me corto el pelo mañana", "es"),
        ("caminé 5 kms", "es"),
    ],
)
def test_everyday_hyperbole_is_not_flagged(text, lang):
    assert not flag(text, lang=lang).at_risk


def test_abuse_is_still_flagged_after_the_name_was_redacted():
    assert "abuse" in flag(scrub("Mr. Kowalski touched me")).categories
    assert "abuse" in flag(redact("el Sr. López me pega", lang="es").text).categories


def test_several_categories_are_reported_sorted_and_once():
    flags = flag("he hits me and I want to kill myself, I want to kill myself")
    assert flags.categories == ("abuse", "self_harm")


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("you're a faggot", 1),
        ("FAGGOTS", 1),
        ("f@gg0t", 1),
        ("f a g g o t", 1),
        ("fagggot", 1),
        ("faaaag", 1),
        ("ｆａｇｇｏｔ", 1),
        ("fag\u200bgot", 1),
        ("that's so gay", 1),
        ("go back to your country, wetback", 2),
        ("eres un maricón", 1),
        ("no seas marica, que gay", 2),
        ("no homo", 1),
    ],
)
def test_slurs_and_biased_phrases_are_counted(text, count):
    flags = flag(text)
    assert flags.has_bias
    assert flags.bias_count == count


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("as a queer student I feel safe here", "en"),
        ("I'm gay and proud", "en"),
        ("gay club meets on fridays", "en"),
        ("the Niger river", "en"),
        ("crackers and spicy chips", "en"),
        ("homosexual rights are human rights", "en"),
        ("mi suéter es negro", "es"),
        ("el gato negro", "es-MX"),
        ("Scunthorpe and Essex", "en"),
        ("please slow down the speed of the lectures", "en"),
        ("woop woop, we won", "en"),
        ("we played jotto in class", "es"),
    ],
)
def test_innocent_words_are_not_counted_as_bias(text, lang):
    assert not flag(text, lang=lang).has_bias


def test_word_innocent_in_one_language_is_still_a_slur_in_the_other():
    assert flag("he called him a negro", lang="en").has_bias
    assert not flag("el perro negro", lang="es").has_bias


def test_clean_comment_has_no_flags():
    assert flag("The library is a calm place to study.") == Flags()


def test_flags_carry_nothing_from_the_comment():
    flags = flag("Jose Perez at 555 123 4567 says I want to kill myself, faggot")
    assert set(vars(flags)) == {"categories", "bias_count"}
    assert all(
        category in ("abuse", "self_harm", "violence") for category in flags.categories
    )


# --- masking ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("you're a faggot", "you're a f***"),
        ("Faggots everywhere", "F*** everywhere"),
        ("f@gg0t!", "f***!"),
        ("you $pic", "you s***"),
        ("f a g g o t lol", "f*** lol"),
        ("eres un maricón", "eres un m***"),
        ("that's so gay", "that's so gay"),
        ("the Niger river", "the Niger river"),
        ("mi suéter es negro", "mi suéter es negro"),
    ],
)
def test_mask_bias_keeps_the_first_letter_of_each_slur(text, masked):
    assert mask_bias(text, lang="es" if "mi " in text else "en") == masked


def test_masked_quote_still_counts_when_flagged_before_masking():
    text = "you faggot, you retard"
    assert flag(text).bias_count == 2
    assert mask_bias(text) == "you f***, you r***"
    assert not flag(mask_bias(text)).has_bias


def test_mask_bias_removes_bidi_tricks_for_display():
    assert mask_bias("nice \u202eteacher\u202c") == "nice teacher"


@pytest.mark.parametrize(
    "text",
    [
        "a" * 20000,
        "a@" * 5000,
        "1 " * 5000,
        "x at y dot " * 2000,
        "Mr. " * 5000,
        ("a" * 63 + ".") * 300,
        "f a g " * 3000,
        "calle " * 3000,
        "I told May, " * 1000,
    ],
)
def test_pathological_input_is_handled_in_linear_time(text):
    # A backtracking pattern would take minutes here; a comment box is the attack.
    started = time.perf_counter()
    redact(text, names=ROSTER)
    flag(text)
    mask_bias(text)
    assert time.perf_counter() - started < 5
