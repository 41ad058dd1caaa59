"""The figure system of a release: lattice, suppression and coding, on plain counts."""

from __future__ import annotations

import re

import pytest

from tests.unit.release_helpers import Student, count_wave, mini, tiny
from voice import lattice, privacy
from voice.release import DIMENSION, GROUP, GROUP_DIMENSION, SCHOOL, WaveInfo

WAVE = WaveInfo(1, "fall", "Climate", "Fall 2026", "Test High", "tiny", 1, "2026-11-01")


def students(
    group: str,
    count: int,
    value: int | None = None,
    grade: str = "mixed",
    skip: bool = True,
):
    """Make ``count`` students; without ``value`` their answers cycle through 1..5.

    Grade "mixed" alternates lower and upper, so no population is all of its parent;
    every seventh student skips the item, as real students do.
    """
    return [
        Student(
            group,
            numeric={} if skip and n % 7 == 6 else {"belong": value or 1 + (n * 3) % 5},
            choices={
                "grade": [("lower", "upper")[n % 2] if grade == "mixed" else grade]
            },
        )
        for n in range(count)
    ]


def build(instrument, groups, people, k=10, previous=None):
    counts = count_wave(instrument, groups, people)
    return lattice.build_release(
        instrument, counts, wave=WAVE, k=k, is_open_link=False, previous=previous
    )


def test_every_population_of_the_lattice_is_enumerated_even_when_empty():
    release = build(tiny(), ["a", "b"], students("a", 20))
    kinds = [p.kind for p in release.populations]
    assert kinds.count(SCHOOL) == 1
    assert kinds.count(GROUP) == 2
    assert kinds.count(DIMENSION) == 3  # lower, upper, not_reported
    assert kinds.count(GROUP_DIMENSION) == 6
    assert release.population("group:b").participation is None


@pytest.mark.parametrize(("size", "released"), [(9, False), (10, True), (11, True)])
def test_a_group_is_released_only_at_or_above_k(size, released):
    people = students("a", size, skip=False) + students("b", 40)
    release = build(tiny(), ["a", "b"], people)
    cell = release.cell("group:a", "item:belong")
    assert (cell.n_text is not None) is released


def test_an_empty_population_looks_exactly_like_a_small_one():
    people = students("a", 30) + students("b", 3) + students("c", 30, grade="lower")
    release = build(tiny(), ["a", "b", "c", "d"], people)
    small = release.cell("group:b", "item:belong")
    empty = release.cell("group:d", "item:belong")
    assert small == empty
    assert release.population("group:b").participation is None
    assert release.population("group:d").participation is None


def test_one_small_group_forces_a_second_figure_to_be_withheld():
    people = students("a", 30) + students("b", 30, 2) + students("c", 4, 5)
    release = build(tiny(), ["a", "b", "c"], people)
    withheld = [
        key
        for key in ("group:a", "group:b", "group:c")
        if release.cell(key, "item:belong").n_text is None
    ]
    assert "group:c" in withheld
    assert len(withheld) >= 2


def test_a_population_equal_to_its_parent_is_not_published_twice():
    # Every student of group a is in grade "upper": group a minus (a, upper) is 0.
    people = students("a", 30, grade="upper") + students("b", 30, grade="lower")
    release = build(tiny(), ["a", "b"], people)
    parent = release.cell("group:a", "item:belong").n_text
    child = release.cell("group:a|dim:grade=upper", "item:belong").n_text
    assert parent is None or child is None


def test_figures_are_coded_counts_rounded_percentages_coded_means_one_decimal():
    people = students("a", 40) + students("b", 31) + students("c", 3)
    release = build(tiny(), ["a", "b", "c"], people)
    school = release.cell("school", "item:belong")
    assert school.n_text == "65"  # 65 answered (9 skipped), a multiple of 5
    shown = [share for _, share in school.distribution if share is not None]
    assert shown, "a school of 74 shows part of its distribution"
    for share in (*shown, school.favorable):
        assert share is None or re.fullmatch(r"(<5|>95|\d{1,2})%", share.text)
    assert school.mean is None or re.fullmatch(r"\d\.\d", school.mean)


def test_the_mean_rounds_halves_up_exactly():
    assert lattice._mean_text(153, 36) == "4.3"  # 4.25
    assert lattice._mean_text(7, 2) == "3.5"
    assert lattice._mean_text(10, 3) == "3.3"


def test_change_is_withheld_when_either_end_is_withheld_or_coded():
    before = build(tiny(), ["a", "b"], students("a", 30) + students("b", 5))
    after = build(
        tiny(), ["a", "b"], students("a", 35) + students("b", 6), previous=before
    )
    assert after.previous_wave == "Fall 2026"
    assert after.cell("school", "item:belong").change is not None
    assert after.cell("group:b", "item:belong").change is None


def test_the_joint_audit_of_a_release_passes_on_what_it_shows():
    instrument = mini()
    people = []
    for number in range(40):
        group = "a" if number < 25 else ("b" if number < 36 else "c")
        people.append(
            Student(
                group,
                numeric={"belong": 1 + number % 5, "left_out": 1 + number % 3},
                choices={
                    "gender_identity": ["girl" if number % 2 else "boy"],
                    "bullied": ["yes" if number % 3 else "no"],
                    "clubs": ["art", "music"] if number % 4 else ["sport"],
                },
            )
        )
    counts = count_wave(instrument, ["a", "b", "c"], people)
    release = lattice.build_release(
        instrument, counts, wave=WAVE, k=10, is_open_link=False
    )
    system = lattice.joint_system(instrument, counts, k=10)
    shown = lattice.published_keys(release)
    withheld = {f.key for f in system.figures} - shown
    result = privacy.audit(system, withheld)
    assert release.audit.passed and result.passed
    assert release.cell("group:c", "item:clubs").n_text is None


def test_protecting_measures_in_worker_processes_gives_the_same_release(monkeypatch):
    monkeypatch.setattr(lattice, "_PARALLEL_FIGURES", 0)
    people = [
        Student(
            "abcd"[min(3, number // 12)],
            numeric={"belong": 1 + number % 5, "left_out": 1 + number % 3},
            choices={
                "gender_identity": ["girl" if number % 2 else "boy"],
                "bullied": ["yes" if number % 3 else "no"],
                "clubs": ["art", "music"] if number % 4 else ["sport"],
            },
        )
        for number in range(40)
    ]
    counts = count_wave(mini(), ["a", "b", "c", "d"], people)

    def release(workers):
        return lattice.build_release(
            mini(), counts, wave=WAVE, k=10, is_open_link=False, workers=workers
        )

    serial, parallel = release(1), release(2)
    assert parallel.canonical_json() == serial.canonical_json()
    assert parallel.withheld_count == serial.withheld_count > 0
