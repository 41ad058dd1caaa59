"""What a release stores and shows of themes: protection, quotes, renames and merges.

Plain data in, plain data out: ``theme_bases`` protects one population's themes,
``compose`` applies overrides and approvals. The database side is tested in
tests/web/test_release_themes.py.
"""

import pytest

from voice.models import ModerationStatus
from voice.release_themes import (
    OTHER_LABEL,
    QUOTES_SHOWN,
    Override,
    PreparedComment,
    compose,
    sentiment_of,
    theme_bases,
    tone_of,
)
from voice.themes import Theme, ThemeSet


def comment(number: int, *, polarity: float | None = 0.5) -> PreparedComment:
    return PreparedComment(
        ref=f"r{number}",
        group_id=1,
        text=f"comment {number}",
        at_risk=False,
        moderation=ModerationStatus.pending,
        polarity=polarity,
    )


def theme(indices, label="bus, late, morning", quotes=None) -> Theme:
    indices = tuple(indices)
    return Theme(
        label=label,
        keywords=tuple(label.split(", ")),
        size=len(indices),
        share=0.0,
        indices=indices,
        quotes=tuple(quotes if quotes is not None else indices[:5]),
        sentiment=None,
        language="en",
    )


def themeset(*themes_: Theme) -> ThemeSet:
    count = sum(t.size for t in themes_)
    return ThemeSet("embedding", False, True, count, tuple(themes_))


def base(key, size, candidates=(), *, population="group:a", other=False, **extra):
    return {
        "key": key,
        "population": population,
        "label": {"en": key, "es": key},
        "keywords": [key],
        "size": size,
        "sentiment": None,
        "language": "en",
        "seed": None,
        "other": other,
        "engine": "embedding",
        "candidates": list(candidates),
        **extra,
    }


# --- theme_bases: protection -----------------------------------------------------------


def test_sizes_are_rounded_to_5_and_small_themes_fold_into_other():
    found = themeset(
        theme(range(0, 23)), theme(range(23, 35)), theme(range(35, 39)), theme([39])
    )
    comments = [comment(i) for i in range(40)]
    bases = theme_bases("group:a", found, comments, k=10)
    assert [b["size"] for b in bases] == ["25", "10", None]
    other = bases[-1]
    assert other["other"] and other["label"] == OTHER_LABEL
    assert other["candidates"] == []  # "Other comments" is never quoted
    assert [b["key"] for b in bases] == ["group:a/1", "group:a/2", "group:a/other"]


def test_other_at_or_above_k_shows_its_rounded_size():
    found = themeset(theme(range(0, 20)), *(theme([20 + i]) for i in range(12)))
    bases = theme_bases("school", found, [comment(i) for i in range(32)], k=10)
    assert bases[-1]["other"] and bases[-1]["size"] == "10"


@pytest.mark.parametrize(("count", "themes_kept"), [(9, 0), (10, 1), (11, 1)])
def test_a_population_with_fewer_than_k_comments_gets_no_theme(count, themes_kept):
    found = themeset(theme(range(count)))
    bases = theme_bases("group:a", found, [comment(i) for i in range(count)], k=10)
    assert len(bases) == themes_kept


def test_candidates_are_references_in_the_engines_order():
    found = themeset(theme(range(12), quotes=[7, 3, 9]))
    bases = theme_bases("group:a", found, [comment(i) for i in range(12)], k=10)
    assert bases[0]["candidates"] == ["r7", "r3", "r9"]


# --- sentiment -------------------------------------------------------------------------


def test_sentiment_rests_on_at_least_k_english_comments():
    assert sentiment_of([0.5] * 9 + [None] * 3, k=10) is None
    shown = sentiment_of([0.5] * 7 + [-0.5] * 3, k=10)
    assert shown["tone"] == "positive"
    assert shown["positive"]["text"] == "70%" and shown["negative"]["text"] == "30%"


@pytest.mark.parametrize(
    ("positive", "negative", "tone"),
    [
        (0.53, 0.04, "positive"),
        (0.13, 0.27, "negative"),  # more negative, though the mean may read positive
        (0.35, 0.29, "mixed"),
        (0.20, 0.05, "mixed"),  # too few carry any feeling
    ],
)
def test_the_tone_follows_the_shares_not_the_mean(positive, negative, tone):
    assert tone_of(positive, negative) == tone


def test_sentiment_shares_are_top_and_bottom_coded():
    shown = sentiment_of([0.5] * 40, k=10)
    assert shown["positive"]["text"] == ">95%" and shown["negative"]["text"] == "<5%"


# --- compose: quotes, renames, merges --------------------------------------------------


def test_only_approved_candidates_are_quoted_best_first_and_at_most_three():
    bases = [base("group:a/1", "20", ["r1", "r2", "r3", "r4", "r5"])]
    shown = compose(bases, {}, {"r2": "two", "r4": "four", "r5": "five", "r9": "x"})
    assert [q["text"] for q in shown[0]["quotes"]] == ["two", "four", "five"]
    assert len(compose(bases, {}, {f"r{i}": "t" for i in range(9)})[0]["quotes"]) == (
        QUOTES_SHOWN
    )
    assert compose(bases, {}, {})[0]["quotes"] == []


def test_a_rename_names_the_theme_in_both_languages():
    shown = compose([base("group:a/1", "20")], {"group:a/1": Override("Buses")}, {})
    assert shown[0]["label"] == {"en": "Buses", "es": "Buses"} and shown[0]["renamed"]


def test_a_merge_adds_released_sizes_and_quotes_from_both():
    bases = [
        base("group:a/1", "20", ["a1", "a2"]),
        base("group:a/2", "15", ["b1", "b2"]),
        base("group:a/3", "10"),
    ]
    approved = {"a1": "A1", "a2": "A2", "b1": "B1", "b2": "B2"}
    shown = compose(bases, {"group:a/2": Override(merged_into="group:a/1")}, approved)
    assert [t["key"] for t in shown] == ["group:a/1", "group:a/3"]
    assert shown[0]["size"] == "35" and shown[0]["merged"] == ["group:a/2"]
    assert [q["text"] for q in shown[0]["quotes"]] == ["A1", "B1", "A2"]
    assert [p["key"] for p in shown[0]["parts"]] == ["group:a/1", "group:a/2"]


def test_merges_follow_chains_and_stop_at_cycles():
    bases = [base(f"group:a/{n}", "10") for n in (1, 2, 3)]
    chain = {
        "group:a/3": Override(merged_into="group:a/2"),
        "group:a/2": Override(merged_into="group:a/1"),
    }
    assert [t["key"] for t in compose(bases, chain, {})] == ["group:a/1"]
    cycle = {
        "group:a/1": Override(merged_into="group:a/2"),
        "group:a/2": Override(merged_into="group:a/1"),
    }
    shown = compose(bases, cycle, {})
    assert sum(int(t["size"]) for t in shown) == 30  # nothing lost or counted twice


def test_merges_across_populations_or_into_other_are_ignored():
    bases = [
        base("group:a/1", "20"),
        base("group:a/other", None, other=True),
        base("school/1", "40", population="school"),
    ]
    overrides = {
        "group:a/1": Override(merged_into="school/1"),
        "group:a/other": Override(merged_into="group:a/1"),
    }
    shown = compose(bases, overrides, {})
    assert [t["key"] for t in shown] == ["group:a/1", "group:a/other", "school/1"]


def test_merged_sentiment_weights_the_parts_by_released_size():
    positive = sentiment_of([0.5] * 30 + [-0.5] * 10, k=10)
    negative = sentiment_of([-0.5] * 10, k=10)
    bases = [
        base("group:a/1", "40", sentiment=positive),
        base("group:a/2", "10", sentiment=negative),
    ]
    merged = compose(bases, {"group:a/2": Override(merged_into="group:a/1")}, {})
    assert merged[0]["sentiment"]["positive"]["text"] == "61%"  # (75*40 + 5*10)/50
    assert merged[0]["sentiment"]["negative"]["value"] == 39  # (25*40 + 95*10)/50
    bases[1]["sentiment"] = None
    merged = compose(bases, {"group:a/2": Override(merged_into="group:a/1")}, {})
    assert merged[0]["sentiment"] is None


def test_themes_are_shown_largest_first_with_other_last_per_population():
    bases = [
        base("group:a/1", "10"),
        base("group:a/other", "20", other=True),
        base("group:a/2", "30"),
    ]
    assert [t["key"] for t in compose(bases, {}, {})] == [
        "group:a/2",
        "group:a/1",
        "group:a/other",
    ]
