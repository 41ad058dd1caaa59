"""Results pages draw a release's charts once per release and language, then reuse them."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.unit.release_helpers import Student, count_wave, mini
from voice import lattice
from voice.release import WaveInfo
from voice.web import page_figures
from voice.web import review_figures as figures

WAVE = WaveInfo(1, "fall", "Climate", "Fall 2026", "Test High", "mini", 1, "2026-11-01")


def release_of(shift: int):
    people = [
        Student(
            "a" if number < 25 else ("b" if number < 36 else "c"),
            numeric={"belong": 1 + (number + shift) % 5, "left_out": 1 + number % 3},
            choices={
                "gender_identity": ["girl" if number % 2 else "boy"],
                "bullied": ["yes" if number % 3 else "no"],
                "clubs": ["art", "music"] if number % 4 else ["sport"],
            },
        )
        for number in range(40)
    ]
    counts = count_wave(mini(), ["a", "b", "c"], people)
    return lattice.build_release(mini(), counts, wave=WAVE, k=10, is_open_link=False)


@pytest.fixture
def drawn_tables(app, monkeypatch):
    """Count the gap tables actually drawn (two per overview)."""
    page_figures._cache.clear()
    calls = []
    draw = figures.gap_table

    def counting(*args, **kwargs):
        calls.append(datetime.now())
        return draw(*args, **kwargs)

    monkeypatch.setattr(figures, "gap_table", counting)
    with app.test_request_context():
        yield calls
    page_figures._cache.clear()


def test_a_second_overview_of_the_same_release_reuses_its_figures(drawn_tables):
    release = release_of(0)
    first = page_figures.overview(release, "en")
    again = page_figures.overview(release, "en")
    assert again is first
    assert len(drawn_tables) == 2


def test_another_language_or_release_gets_figures_of_its_own(drawn_tables):
    release, other = release_of(0), release_of(2)
    english = page_figures.overview(release, "en")
    spanish = page_figures.overview(release, "es")
    changed = page_figures.overview(other, "en")
    assert len(drawn_tables) == 6
    assert len({id(english), id(spanish), id(changed)}) == 3


def test_the_cache_forgets_the_least_recently_used_page(drawn_tables, monkeypatch):
    monkeypatch.setattr(page_figures, "_CACHE_SIZE", 1)
    first, second = release_of(0), release_of(1)
    page_figures.overview(first, "en")
    page_figures.overview(second, "en")
    page_figures.overview(first, "en")
    assert len(drawn_tables) == 6
    assert len(page_figures._cache) == 1
