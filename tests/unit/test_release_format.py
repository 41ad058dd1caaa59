"""The stored release: canonical JSON, content hash, lookups, and its exports."""

from __future__ import annotations

import csv
import io
import json

import pytest

from voice import exports
from voice.privacy import CodedPercent
from voice.release import (
    GROUP,
    ITEM,
    SCHOOL,
    WITHHELD_TOKEN,
    AuditSummary,
    Label,
    Measure,
    MeasureOption,
    Population,
    ProtectedRelease,
    ReleasedMeasure,
    ReleaseFormatError,
    WaveInfo,
)

OPTIONS = (
    MeasureOption("yes", Label("Yes", "Sí")),
    MeasureOption("no", Label("No", "No")),
)


def pct(value: int) -> CodedPercent:
    return CodedPercent(value, f"{value}%")


def make_release(**overrides) -> ProtectedRelease:
    measure = Measure(
        "item:safe", ITEM, Label("Safe?", "¿Seguro?"), OPTIONS, True, False
    )
    values = {
        "wave": WaveInfo(3, "fall", "Climate", "Fall 2026", "Test High", "c", 1, "x"),
        "k": 10,
        "is_open_link": False,
        "populations": (
            Population(
                "school", SCHOOL, Label("Whole school", "Toda"), participation="60"
            ),
            Population(
                "group:a",
                GROUP,
                Label("=cmd|' /C calc'!A0", "A"),
                group="a",
                participation="30",
            ),
            Population("group:b", GROUP, Label("B", "B"), group="b"),
        ),
        "measures": (measure,),
        "cells": {
            "school": {
                "item:safe": ReleasedMeasure(
                    "60", pct(70), None, (("yes", pct(70)), ("no", pct(30)))
                )
            },
            "group:a": {
                "item:safe": ReleasedMeasure(
                    "30", pct(50), None, (("yes", pct(50)), ("no", None)), -12
                )
            },
            "group:b": {
                "item:safe": ReleasedMeasure(
                    None, None, None, (("yes", None), ("no", None))
                )
            },
        },
        "audit": AuditSummary(True, 4, 10, 2.0, 1, 2, 20, 3, 1),
        "previous_wave": "Spring 2026",
    }
    values.update(overrides)
    return ProtectedRelease(**values)


def test_a_release_survives_its_json_unchanged():
    release = make_release()
    again = ProtectedRelease.from_json(json.loads(json.dumps(release.to_json())))
    assert again.to_json() == release.to_json()
    assert again.sha256 == release.sha256


def test_the_hash_changes_when_any_figure_changes():
    release = make_release()
    cells = dict(release.cells)
    cells["school"] = {
        "item:safe": ReleasedMeasure(
            "60", pct(71), None, (("yes", pct(71)), ("no", pct(29)))
        )
    }
    assert make_release(cells=cells).sha256 != release.sha256


def test_a_release_of_another_format_version_is_refused():
    data = make_release().to_json()
    data["format_version"] = 99
    with pytest.raises(ReleaseFormatError):
        ProtectedRelease.from_json(data)


def test_gaps_compare_groups_with_the_school_only_where_both_are_released():
    release = make_release()
    assert [(g.population, g.points) for g in release.gaps()] == [("group:a", -20)]
    assert release.biggest_changes(5)[0].points == -12


def test_withheld_count_counts_every_marker_a_reader_sees():
    # group:b participation, its n, favorable and two options; group:a's "no".
    assert make_release().withheld_count == 6


def test_group_readers_see_their_groups_and_the_school_only():
    release = make_release()
    keys = [p.key for p in release.visible_populations(["a"])]
    assert keys == ["school", "group:a"]


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_marks_withheld_figures_with_one_token():
    release = make_release()
    rows = parse_csv(exports.to_csv(release, release.populations))
    withheld = {
        (r["population"], r["figure"]) for r in rows if r["value"] == WITHHELD_TOKEN
    }
    assert withheld == {
        ("group:b", "n"),
        ("group:b", "favorable"),
        ("group:b", "option:yes"),
        ("group:b", "option:no"),
        ("group:a", "option:no"),
        ("group:b", "change"),
        ("school", "change"),
    }


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_could_run_as_formulas_are_neutralized(start):
    assert exports.neutralize(start + "1+1") == "'" + start + "1+1"


def test_the_csv_never_starts_a_cell_with_a_formula_character():
    release = make_release()
    rows = parse_csv(exports.to_csv(release, release.populations))
    cells = [value for row in rows for value in row.values()]
    assert "'=cmd|' /C calc'!A0" in cells
    assert "'-12" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_the_json_export_has_null_for_every_withheld_figure_and_only_visible_rows():
    release = make_release()
    data = json.loads(exports.to_json(release, release.visible_populations(["b"])))
    assert set(data["cells"]) == {"school", "group:b"}
    cell = data["cells"]["group:b"]["item:safe"]
    assert cell["n"] is None and cell["favorable"] is None
    assert [share for _, share in cell["distribution"]] == [None, None]
    assert data["withheld"]["json"] is None
