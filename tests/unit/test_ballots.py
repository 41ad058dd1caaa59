"""Ballot codes: entropy, typing tolerance and keyed hashing."""

from __future__ import annotations

import math

import pytest

from voice.ballots import (
    ALPHABET,
    CODE_LENGTH,
    ENTROPY_BITS,
    format_code,
    generate_code,
    hash_code,
    is_well_formed,
    normalize_code,
)


def test_code_carries_at_least_60_random_bits():
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert ENTROPY_BITS == CODE_LENGTH * math.log2(len(ALPHABET)) >= 60


def test_generated_codes_are_printed_in_groups_of_four_and_well_formed():
    code = generate_code()
    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4]
    assert is_well_formed(code)


def test_generated_codes_do_not_repeat():
    assert len({generate_code() for _ in range(2000)}) == 2000


def test_generated_codes_use_every_symbol():
    seen = set("".join(normalize_code(generate_code()) for _ in range(500)))
    assert seen == set(ALPHABET)


@pytest.mark.parametrize(
    "typed",
    [
        "7KQ2-M9XH-4RTB",
        "7kq2m9xh4rtb",
        " 7KQ2 M9XH 4RTB ",
        "7KQ2\u2013M9XH\u20144RTB",
        "７ＫＱ２－Ｍ９ＸＨ－４ＲＴＢ",
        "7kq2.m9xh.4rtb",
    ],
)
def test_what_a_student_types_normalises_to_the_printed_code(typed):
    assert normalize_code(typed) == "7KQ2M9XH4RTB"
    assert format_code(typed) == "7KQ2-M9XH-4RTB"


@pytest.mark.parametrize(
    ("typed", "read"), [("O", "0"), ("o", "0"), ("I", "1"), ("l", "1"), ("L", "1")]
)
def test_look_alike_letters_read_as_digits(typed, read):
    assert normalize_code(f"ABC{typed}-DEFG-HJKM") == f"ABC{read}DEFGHJKM"


@pytest.mark.parametrize(
    "typed",
    ["", "7KQ2-M9XH-4RT", "7KQ2-M9XH-4RTBX", "7KQ2-M9XH-4RTU", "7KQ2-M9XH-4RT!"],
)
def test_wrong_length_or_symbol_is_not_well_formed(typed):
    assert not is_well_formed(typed)


def test_hash_ignores_how_the_code_was_typed():
    assert hash_code("k", 1, "7KQ2-M9XH-4RTB") == hash_code("k", 1, "7kq2 m9xh 4rtb")


def test_hash_depends_on_secret_and_survey():
    base = hash_code("k", 1, "7KQ2-M9XH-4RTB")
    assert base != hash_code("other", 1, "7KQ2-M9XH-4RTB")
    assert base != hash_code("k", 2, "7KQ2-M9XH-4RTB")
    assert base != hash_code(b"k", 1, "7KQ2-M9XH-4RTC")


def test_hash_is_64_hex_characters_to_fit_the_column():
    digest = hash_code("k", 1, "7KQ2-M9XH-4RTB")
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
