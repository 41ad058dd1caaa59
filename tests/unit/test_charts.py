"""The charts module draws released figures as accessible, self-contained SVG."""

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from markupsafe import escape

from voice import charts
from voice.charts import (
    ChangeRow,
    ChartLabels,
    ComparisonRow,
    DistributionRow,
    GapRow,
    Svg,
    change_chart,
    distribution_chart,
    favorable_comparison_chart,
    gap_table_chart,
)

NS = "{http://www.w3.org/2000/svg}"
OPTIONS = ("Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree")
SCALES = ("Belonging", "Adults", "Safety")
TICKS = {"0%", "25%", "50%", "75%", "100%"}
HOSTILE = "</text><script>alert('x')</script> & \"quoted\" <b>\x00\x1b"

LABELS = ChartLabels(
    title="Belonging",
    description="How each group answered.",
    withheld="Withheld",
    category="Group",
    your_group="Your group",
    whole_school="Whole school",
    previous="Fall 2025",
    current="Spring 2026",
    gap="Gap",
    change="Change",
    percent="{value}%",
    point="{value} point",
    points="{value} points",
)


@dataclass(frozen=True)
class Coded:
    """Stands in for privacy.CodedPercent: a value to draw and a text to print."""

    value: int | None
    text: str
    is_coded: bool = False


def draw_distribution(labels: ChartLabels = LABELS, prefix: str = "d") -> Svg:
    return distribution_chart(
        [
            DistributionRow("Your group", (12, 16, 20, 28, 24)),
            DistributionRow("Whole school", (12, 18, 22, 28, 20)),
        ],
        labels,
        options=OPTIONS,
        id_prefix=prefix,
    )


def draw_comparison(labels: ChartLabels = LABELS, prefix: str = "c") -> Svg:
    return favorable_comparison_chart(
        [ComparisonRow("Belonging", 64, 72), ComparisonRow("Adults", 81, 70)],
        labels,
        id_prefix=prefix,
    )


def draw_change(labels: ChartLabels = LABELS, prefix: str = "ch") -> Svg:
    return change_chart(
        [ChangeRow("Belonging", 58, 64), ChangeRow("Adults", 77, 71)],
        labels,
        id_prefix=prefix,
    )


def draw_gaps(labels: ChartLabels = LABELS, prefix: str = "g") -> Svg:
    return gap_table_chart(
        [GapRow("Group A", (60, 81, 42)), GapRow("Group B", (72, 68, 66))],
        labels,
        columns=SCALES,
        school=(68, 70, 52),
        id_prefix=prefix,
    )


DRAWERS: dict[str, Callable[..., Svg]] = {
    "distribution": draw_distribution,
    "comparison": draw_comparison,
    "change": draw_change,
    "gaps": draw_gaps,
}
every_chart = pytest.mark.parametrize("draw", DRAWERS.values(), ids=DRAWERS.keys())


def parse(svg: Svg) -> ET.Element:
    return ET.fromstring(str(svg.markup))


def texts(svg: Svg) -> list[str]:
    """Every visible text of a chart, one per <text> element."""
    return ["".join(t.itertext()) for t in parse(svg).iter(f"{NS}text")]


def percents(strings: list[str]) -> Counter[str]:
    return Counter(s for s in strings if re.fullmatch(r"[<>]?\d+%", s))


def table_cells(svg: Svg) -> list[str]:
    return [cell for row in svg.table.rows for cell in row[1:]]


def luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# --- Structure and accessibility ---------------------------------------------------


@every_chart
def test_chart_is_well_formed_scalable_svg_1_1(draw):
    root = parse(draw())
    assert root.tag == f"{NS}svg"
    assert root.get("version") == "1.1"
    assert re.fullmatch(r"0 0 \d+(\.\d)? \d+(\.\d)?", root.get("viewBox", ""))


@every_chart
def test_chart_has_its_natural_size_in_em_and_no_style_attribute(draw):
    """A ``style`` attribute is inline CSS, which the pages' CSP blocks outright.

    The size the chart is drawn at goes in width/height instead, in em of the text
    around it (16 units per em, the same aspect as the viewBox), so chart words
    keep one size relative to the page's in a browser and in the PDF alike; the
    page's stylesheet lets it shrink.
    """
    root = parse(draw())
    assert not [e.tag for e in root.iter() if "style" in e.attrib]
    _, _, view_width, view_height = map(float, root.get("viewBox").split())
    width, height = root.get("width"), root.get("height")
    assert width.endswith("em") and height.endswith("em")
    assert float(width[:-2]) == pytest.approx(view_width / 16, abs=0.001)
    assert float(height[:-2]) == pytest.approx(view_height / 16, abs=0.001)


@every_chart
def test_chart_is_an_image_named_by_its_title_and_description(draw):
    root = parse(draw(prefix="fig-1"))
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert by_id[title_id].tag == f"{NS}title"
    assert by_id[title_id].text == LABELS.title
    assert by_id[desc_id].tag == f"{NS}desc"
    assert by_id[desc_id].text == LABELS.description
    assert root[0] is by_id[title_id]


@every_chart
def test_ids_are_prefixed_unique_and_every_reference_resolves(draw):
    first, second = parse(draw(prefix="one")), parse(draw(prefix="two"))
    ids_first = [e.get("id") for e in first.iter() if e.get("id")]
    ids_second = [e.get("id") for e in second.iter() if e.get("id")]
    assert len(ids_first) == len(set(ids_first))
    assert all(i.startswith("one") for i in ids_first)
    assert not set(ids_first) & set(ids_second)
    for element in first.iter():
        for value in element.attrib.values():
            for target in re.findall(r"url\(#([^)]+)\)", value):
                assert target in ids_first


@every_chart
def test_chart_references_nothing_outside_itself(draw):
    root = parse(draw())
    tags = {e.tag.removeprefix(NS) for e in root.iter()}
    assert not tags & {"script", "style", "image", "foreignObject", "a", "use"}
    for element in root.iter():
        for name, value in element.attrib.items():
            assert "href" not in name
            assert "http" not in value
            assert not re.search(r"url\((?!#)", value)


@every_chart
def test_text_is_never_smaller_than_13_units(draw):
    sizes = [float(t.get("font-size", "0")) for t in parse(draw()).iter(f"{NS}text")]
    assert sizes
    assert min(sizes) >= 13


@every_chart
def test_chart_font_falls_back_to_generic_sans_serif(draw):
    assert parse(draw()).get("font-family", "").endswith("sans-serif")


@every_chart
def test_output_is_deterministic(draw):
    assert draw().markup == draw().markup
    assert draw().table == draw().table


def test_output_is_identical_in_another_process_with_another_hash_seed():
    script = (
        "import sys; sys.path.insert(0, 'tests/unit'); sys.path.insert(0, '.');"
        "import test_charts as t;"
        "print(''.join(str(d().markup) for d in t.DRAWERS.values()))"
    )
    root = Path(__file__).resolve().parents[2]
    here = "".join(str(d().markup) for d in DRAWERS.values())
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == here


def test_svg_goes_into_jinja_and_markupsafe_unescaped():
    svg = draw_comparison()
    assert escape(svg) == svg.markup
    assert str(svg.markup).startswith("<svg ")


# --- Escaping -----------------------------------------------------------------------


def hostile_labels() -> ChartLabels:
    return replace(
        LABELS,
        title=HOSTILE,
        description=HOSTILE,
        category=HOSTILE,
        your_group=HOSTILE,
        whole_school=HOSTILE,
        previous=HOSTILE,
        current=HOSTILE,
        gap=HOSTILE,
    )


@pytest.mark.parametrize(
    "draw",
    [
        lambda: distribution_chart(
            [DistributionRow(HOSTILE, (50, 50)), DistributionRow("x", None)],
            hostile_labels(),
            options=(HOSTILE, HOSTILE),
            id_prefix="h",
        ),
        lambda: favorable_comparison_chart(
            [ComparisonRow(HOSTILE, 40, 60)], hostile_labels(), id_prefix="h"
        ),
        lambda: change_chart(
            [ChangeRow(HOSTILE, 40, 60)], hostile_labels(), id_prefix="h"
        ),
        lambda: gap_table_chart(
            [GapRow(HOSTILE, (40,))],
            hostile_labels(),
            columns=(HOSTILE,),
            school=(Coded(60, "<60% & \"'"),),
            id_prefix="h",
        ),
    ],
    ids=DRAWERS.keys(),
)
def test_hostile_labels_are_escaped_as_text(draw):
    svg = draw()
    root = parse(svg)
    assert not [e for e in root.iter() if e.tag.removeprefix(NS) in {"script", "b"}]
    title = root.find(f"{NS}title")
    assert title is not None
    assert title.text == "</text><script>alert('x')</script> & \"quoted\" <b>"
    drawn = " ".join(texts(svg))
    assert "<script>" in drawn or "</text>" in drawn
    assert "\x00" not in str(svg.markup)
    assert "\x1b" not in str(svg.markup)


@pytest.mark.parametrize("prefix", ["", "1chart", "a b", 'a"', "a>b", "é"])
def test_id_prefix_that_is_not_a_plain_xml_id_is_refused(prefix):
    with pytest.raises(ValueError, match="id_prefix"):
        draw_comparison(prefix=prefix)


# --- Withheld figures ---------------------------------------------------------------


def test_withheld_distribution_row_shows_the_marker_and_no_number():
    svg = distribution_chart(
        [DistributionRow("Newcomers", None)],
        LABELS,
        options=OPTIONS,
        id_prefix="w",
    )
    drawn = texts(svg)
    assert "Withheld" in drawn
    assert not [t for t in drawn if re.search(r"\d", t)]
    assert svg.table.rows == (("Newcomers", *["Withheld"] * len(OPTIONS)),)


def test_spanish_withheld_text_is_used_verbatim():
    svg = distribution_chart(
        [DistributionRow("Recién llegados", None)],
        replace(LABELS, withheld="Reservado"),
        options=OPTIONS,
        id_prefix="w",
    )
    assert "Reservado" in texts(svg)
    assert "Withheld" not in str(svg.markup)


def test_withheld_text_carries_the_withheld_class():
    root = parse(draw_distribution_with(None))
    marked = [t for t in root.iter(f"{NS}text") if t.get("class") == "withheld"]
    assert ["".join(t.itertext()) for t in marked] == ["Withheld"]


def draw_distribution_with(percents) -> Svg:
    return distribution_chart(
        [DistributionRow("Group", percents)], LABELS, options=OPTIONS, id_prefix="x"
    )


def test_coded_figure_without_a_value_is_withheld():
    svg = favorable_comparison_chart(
        [ComparisonRow("Belonging", Coded(None, "37%"), 60)], LABELS, id_prefix="c"
    )
    assert "37%" not in texts(svg)
    assert svg.table.rows == (("Belonging", "Withheld", "60%", "Withheld"),)


@pytest.mark.parametrize(
    ("group", "school"), [(None, 60), (60, None), (None, None)], ids=str
)
def test_gap_is_withheld_when_either_side_is(group, school):
    svg = favorable_comparison_chart(
        [ComparisonRow("Belonging", group, school)], LABELS, id_prefix="c"
    )
    drawn = texts(svg)
    assert not [t for t in drawn if "point" in t]
    assert svg.table.rows[0][3] == "Withheld"
    assert drawn.count("Withheld") == 1 + (group is None) + (school is None)


@pytest.mark.parametrize(
    ("before", "after"), [(None, 60), (60, None), (None, None)], ids=str
)
def test_change_is_withheld_when_either_wave_is(before, after):
    svg = change_chart([ChangeRow("Belonging", before, after)], LABELS, id_prefix="c")
    drawn = texts(svg)
    assert not [t for t in drawn if "point" in t]
    assert svg.table.rows == (
        (
            "Belonging",
            "Withheld" if before is None else "60%",
            "Withheld" if after is None else "60%",
            "Withheld",
        ),
    )
    released = [v for v in (before, after) if v is not None]
    dots = list(parse(svg).iter(f"{NS}circle"))
    assert len(dots) == 2 + len(released)  # two in the legend


def test_withheld_gap_table_cell_shows_the_marker_only():
    svg = gap_table_chart(
        [GapRow("Group A", (None, 81, 42))],
        LABELS,
        columns=SCALES,
        school=(68, None, 52),
        id_prefix="g",
    )
    assert svg.table.rows == (
        ("Whole school", "68%", "Withheld", "52%"),
        ("Group A", "Withheld", "81% (Withheld)", "42% (−10 points)"),
    )
    drawn = texts(svg)
    assert drawn.count("Withheld") == 3
    assert "81%" in drawn
    assert "−10 points" in drawn


def test_partly_withheld_row_keeps_true_scale_and_hatches_the_rest():
    root = parse(draw_distribution_with((None, 20, 30, None, 25)))
    bars = [r for r in root.iter(f"{NS}rect") if float(r.get("height", 0)) == 32]
    widths = [float(r.get("width")) for r in bars]
    fills = [r.get("fill") for r in bars]
    assert fills == ["url(#x-o1)", "url(#x-o2)", "url(#x-o4)", "url(#x-withheld)"]
    # Each released option keeps its share of the full bar (minus a 1-unit gap).
    assert widths[:3] == pytest.approx([360 * 0.20 - 1, 360 * 0.30 - 1, 360 * 0.25 - 1])
    assert widths[3] == pytest.approx(360 * 0.25)


# --- The table matches the chart ---------------------------------------------------


@every_chart
def test_table_has_the_same_numbers_as_the_chart(draw):
    svg = draw()
    drawn = percents(texts(svg)) - Counter(TICKS)
    tabled = Counter(re.findall(r"[<>]?\d+%", " ".join(table_cells(svg))))
    assert drawn == tabled
    drawn_points = sorted(t for t in texts(svg) if "point" in t)
    tabled_points = sorted(re.findall(r"[+−]?\d+ points?", " ".join(table_cells(svg))))
    assert drawn_points == tabled_points


def test_table_headers_name_the_series_and_the_difference():
    assert draw_comparison().table.headers == (
        "Group",
        "Your group",
        "Whole school",
        "Gap",
    )
    assert draw_change().table.headers == (
        "Group",
        "Fall 2025",
        "Spring 2026",
        "Change",
    )
    assert draw_distribution().table.headers == ("Group", *OPTIONS)
    assert draw_gaps().table.headers == ("Group", *SCALES)
    assert draw_gaps().table.caption == "Belonging"


def test_gap_table_lists_the_school_first_then_value_and_gap_per_group():
    assert draw_gaps().table.rows == (
        ("Whole school", "68%", "70%", "52%"),
        ("Group A", "60% (−8 points)", "81% (+11 points)", "42% (−10 points)"),
        ("Group B", "72% (+4 points)", "68% (−2 points)", "66% (+14 points)"),
    )


# --- Numbers -------------------------------------------------------------------------


def test_distribution_percent_texts_sum_to_the_released_total():
    drawn = texts(draw_distribution())
    row_texts = [int(t.rstrip("%")) for t in drawn if re.fullmatch(r"\d+%", t)]
    assert sum(row_texts) == 200


@pytest.mark.parametrize(
    "row", [(10, 15, 20, 30, 25), (10, 15, 20, 30, 26), (9, 15, 20, 30, 25)]
)
def test_full_row_segments_fill_the_bar_even_when_rounding_misses_100(row):
    root = parse(draw_distribution_with(row))
    bars = [r for r in root.iter(f"{NS}rect") if float(r.get("height", 0)) == 32]
    xs = [float(r.get("x")) for r in bars]
    widths = [float(r.get("width")) for r in bars]
    assert xs[0] == 0
    assert xs[-1] + widths[-1] == pytest.approx(360, abs=0.2)
    gaps = [1.0] * (len(row) - 1) + [0.0]  # a hairline between segments
    for width, gap, share in zip(widths, gaps, row, strict=True):
        assert width + gap == pytest.approx(360 * share / sum(row), abs=0.1)


def test_narrow_segment_prints_no_text_but_the_table_keeps_it():
    svg = distribution_chart(
        [DistributionRow("Group", (3, 17, 20, 35, 25))],
        LABELS,
        options=OPTIONS,
        id_prefix="n",
    )
    assert "3%" not in texts(svg)
    assert svg.table.rows[0][1] == "3%"


def test_coded_figure_prints_its_text_and_draws_its_value():
    svg = favorable_comparison_chart(
        [ComparisonRow("Voice", 88, Coded(95, ">95%", is_coded=True))],
        LABELS,
        id_prefix="c",
    )
    assert ">95%" in texts(svg)
    assert "&gt;95%" in str(svg.markup)
    bars = [r for r in parse(svg).iter(f"{NS}rect") if r.get("height") == "15"]
    assert [float(r.get("width")) for r in bars] == pytest.approx(
        [312 * 0.88, 312 * 0.95], abs=0.05
    )
    assert svg.table.rows == (("Voice", "88%", ">95%", "\u2248\u00a0\u22127 points"),)


def test_gap_from_a_privacy_coded_percent_is_marked_approximate():
    from voice.privacy import code_percent  # local: keeps the subprocess test light

    svg = favorable_comparison_chart(
        [ComparisonRow("Voice", code_percent(99, 100), code_percent(90, 100))],
        LABELS,
        id_prefix="c",
    )
    assert {">95%", "90%", "\u2248\u00a0+5 points"} <= set(texts(svg))


def test_gap_table_marks_gaps_from_coded_figures_approximate():
    from voice.privacy import code_percent

    svg = gap_table_chart(
        [GapRow("Group", (code_percent(1, 100), 50))],
        LABELS,
        columns=("a", "b"),
        school=(20, code_percent(96, 100)),
        id_prefix="g",
    )
    assert svg.table.rows[1] == (
        "Group",
        "<5% (\u2248\u00a0\u221215 points)",
        "50% (\u2248\u00a0\u221245 points)",
    )


@pytest.mark.parametrize(
    ("group", "school", "written"),
    [
        (72, 64, "+8 points"),
        (63, 64, "−1 point"),
        (64, 64, "0 points"),
        (65, 64, "+1 point"),
    ],
)
def test_gap_is_written_in_signed_points(group, school, written):
    svg = favorable_comparison_chart(
        [ComparisonRow("Belonging", group, school)], LABELS, id_prefix="c"
    )
    assert written in texts(svg)


def test_change_is_this_wave_minus_the_previous_one():
    svg = draw_change()
    assert [row[3] for row in svg.table.rows] == ["+6 points", "−6 points"]


def test_localized_templates_shape_every_number():
    spanish = replace(LABELS, percent="{value}\u00a0%", points="{value} puntos")
    svg = draw_comparison(spanish)
    assert "64\u00a0%" in texts(svg)
    assert "+11 puntos" in texts(svg)


@pytest.mark.parametrize(
    "build",
    [
        lambda: favorable_comparison_chart([], LABELS, id_prefix="c"),
        lambda: favorable_comparison_chart(
            [ComparisonRow("x", 101, 5)], LABELS, id_prefix="c"
        ),
        lambda: change_chart([ChangeRow("x", -1, 5)], LABELS, id_prefix="c"),
        lambda: change_chart([ChangeRow("x", True, 5)], LABELS, id_prefix="c"),
        lambda: distribution_chart(
            [DistributionRow("x", (50, 50))], LABELS, options=OPTIONS, id_prefix="d"
        ),
        lambda: distribution_chart(
            [DistributionRow("x", None)], LABELS, options=(), id_prefix="d"
        ),
        lambda: gap_table_chart(
            [GapRow("x", (1, 2))],
            LABELS,
            columns=SCALES,
            school=(1, 2, 3),
            id_prefix="g",
        ),
        lambda: gap_table_chart(
            [GapRow("x", (1,))], LABELS, columns=("a",), school=(), id_prefix="g"
        ),
        lambda: gap_table_chart(
            [GapRow("x", (1,))],
            LABELS,
            columns=("a",),
            school=(1,),
            id_prefix="g",
            notable=10,
            large=10,
        ),
    ],
)
def test_malformed_input_is_refused(build):
    with pytest.raises(ValueError):
        build()


# --- Labels that do not fit ----------------------------------------------------------


def test_long_label_is_wrapped_in_full_never_cut():
    long = "Cultural responsiveness in classrooms, clubs, sports and every school event"
    svg = favorable_comparison_chart(
        [ComparisonRow(long, 50, 40)], LABELS, id_prefix="c"
    )
    lines = [t for t in texts(svg) if t.split()[0] in long.split()]
    assert len(lines) >= 3
    assert " ".join(lines) == long
    assert svg.table.rows[0][0] == long


def test_absurdly_long_label_is_cut_after_eight_lines_and_kept_whole_in_the_table():
    absurd = " ".join(["belonging"] * 200)
    svg = change_chart([ChangeRow(absurd, 50, 40)], LABELS, id_prefix="ch")
    lines = [t for t in texts(svg) if t.startswith("belonging")]
    assert len(lines) == 8
    assert lines[-1].endswith("…")
    assert svg.table.rows[0][0] == absurd


def test_word_wider_than_a_line_is_split_with_a_hyphen_not_cut():
    word = "Antidisestablishmentarianism"
    lines = charts._wrap(f"The {word} committee", 120, 15, bold=True)
    assert len(lines) > 2
    assert all(charts._text_width(line, 15, bold=True) <= 120 for line in lines)
    assert "".join(line.removesuffix("-") for line in lines[1:-1]).startswith(word)
    assert not any("…" in line for line in lines)


GAP_CASES = {
    "en": (
        LABELS,
        (
            "Black Student Union",
            "Students with Disabilities Committee",
            "LGBTQ+ Students & Allies",
        ),
        (
            "Sense of belonging",
            "Adult relationships",
            "Cultural responsiveness",
            "Safety and respect",
            "Student voice",
        ),
    ),
    "es": (
        replace(
            LABELS,
            withheld="Reservado",
            whole_school="Toda la escuela",
            percent="{value}\u00a0%",
            point="{value} punto",
            points="{value} puntos",
        ),
        (
            "Unión de Estudiantes Negros",
            "Comité de Estudiantes con Discapacidades",
            "Alianza de Estudiantes Latinx",
        ),
        (
            "Sentido de pertenencia",
            "Relaciones con los adultos",
            "Sensibilidad cultural",
            "Seguridad y respeto",
            "La voz de los estudiantes",
        ),
    ),
}


@pytest.mark.parametrize("labels, groups, scales", GAP_CASES.values(), ids=GAP_CASES)
def test_gap_table_draws_every_label_and_header_whole(labels, groups, scales):
    svg = gap_table_chart(
        [GapRow(g, (60, 81, Coded(3, "<5\u00a0%", True), None, 55)) for g in groups],
        labels,
        columns=scales,
        school=(68, 70, 52, 49, 57),
        id_prefix="g",
    )
    root = parse(svg)
    drawn = texts(svg)
    assert not [t for t in drawn if t.endswith("…")]
    # Every word of every row label and header is drawn whole, on one line.
    words = {w for t in drawn for w in t.split()}
    for name in (*groups, *scales, labels.whole_school):
        assert set(name.split()) <= words, name
    # Each cell's gap is written in full, even the longest ("≈ −49 points").
    gaps = [re.fullmatch(r".+ \((.+)\)", c) for c in table_cells(svg)]
    assert {m.group(1) for m in gaps if m} <= set(drawn)
    assert any(t.startswith("≈") for t in drawn)
    # Row labels stay left of the first column of cells.
    first_cell = min(
        float(r.get("x"))
        for r in root.iter(f"{NS}rect")
        if float(r.get("x", 0)) > 0 and float(r.get("height", 0)) >= 44
    )
    for text in root.iter(f"{NS}text"):
        if text.get("x") == "0" and text.get("font-size") == "15":
            width = charts._text_width("".join(text.itertext()), 15, bold=True)
            assert width <= first_cell, "".join(text.itertext())


def test_gap_table_grows_a_row_for_a_label_that_wraps():
    short = parse(draw_gaps())
    wrapped = parse(
        gap_table_chart(
            [GapRow(" ".join(["Committee"] * 12), (60, 81, 42))],
            LABELS,
            columns=SCALES,
            school=(68, 70, 52),
            id_prefix="g",
        )
    )
    heights = [
        max(float(r.get("height")) for r in root.iter(f"{NS}rect") if r.get("x"))
        for root in (short, wrapped)
    ]
    assert heights[1] > heights[0]


def test_label_that_fits_is_not_cut():
    assert "Belonging" in texts(draw_comparison())


@pytest.mark.parametrize(
    "svg",
    [
        draw_comparison(),
        draw_change(),
        favorable_comparison_chart(
            [
                ComparisonRow("Students with Disabilities Committee", None, 100),
                ComparisonRow("Belonging", 100, 99),
            ],
            replace(LABELS, points="{value} puntos"),
            id_prefix="c",
        ),
    ],
    ids=["comparison", "change", "long"],
)
def test_grid_lines_cross_no_row_label_and_no_difference(svg):
    root = parse(svg)
    lines = []
    for path in root.iter(f"{NS}path"):
        if path.get("stroke") == GRID:
            x, top, bottom = map(float, re.findall(r"[\d.]+", path.get("d")))
            lines.append((x, top, bottom))
    assert len(lines) >= 10
    # Row labels and differences are the 15-unit texts; a line's extent in y must
    # miss every one of them (from the top of its capitals to its descenders).
    big = [t for t in root.iter(f"{NS}text") if t.get("font-size") == "15"]
    assert len(big) >= 4
    for text in big:
        baseline = float(text.get("y"))
        for _, top, bottom in lines:
            assert bottom < baseline - 12 or top > baseline + 4, "".join(
                text.itertext()
            )
    # Small value labels next to a mark sit on white where a line could pass.
    backed = {
        (float(r.get("y")), float(r.get("height")))
        for r in root.iter(f"{NS}rect")
        if r.get("fill") == "#FFFFFF"
    }
    for text in root.iter(f"{NS}text"):
        content = "".join(text.itertext())
        if text.get("font-size") == "13" and content.endswith("%") and len(content) < 5:
            baseline = float(text.get("y"))
            if baseline > min(top for _, top, _ in lines):  # not a tick label
                assert any(y < baseline <= y + h for y, h in backed), content


# --- Colour ---------------------------------------------------------------------------


@pytest.mark.parametrize("count", range(1, 10))
@pytest.mark.parametrize("ordinal", [True, False])
def test_option_fills_meet_3_to_1_and_their_text_4_5_to_1(count, ordinal):
    swatches = charts._swatches(count, ordinal=ordinal)
    assert len(swatches) == count
    for swatch in swatches:
        assert contrast(swatch.fill, "#FFFFFF") >= 3
        assert contrast(swatch.fill, swatch.ink) >= 4.5


@pytest.mark.parametrize("count", range(2, 9))  # beyond 8, patterns repeat
@pytest.mark.parametrize("ordinal", [True, False])
def test_options_differ_by_pattern_not_only_colour(count, ordinal):
    patterns = [s.pattern for s in charts._swatches(count, ordinal=ordinal)]
    assert len(set(patterns)) == count


GRID = "#D9D9D9"  # light grid lines are decorative, exempt from 3:1


@pytest.mark.parametrize(
    "draw",
    [draw_distribution, draw_comparison, draw_change],
    ids=lambda draw: draw.__name__,
)
def test_every_colour_that_carries_data_meets_3_to_1_on_white(draw):
    root = parse(draw())
    defined = {p.get("id"): p for p in root.iter(f"{NS}pattern")}
    drawn = [el for e in root if e.tag != f"{NS}defs" for el in e.iter()]
    colours = []
    for element in drawn:
        for attribute in ("fill", "stroke"):
            colour = element.get(attribute, "")
            target = re.fullmatch(r"url\(#(.+)\)", colour)
            if target and not target.group(1).endswith("withheld"):
                colour = defined[target.group(1)][0].get("fill")
            if element.tag == f"{NS}text" or colour in {"", "#FFFFFF", GRID}:
                continue
            if colour.startswith("#"):
                colours.append(colour)
    assert len(set(colours)) >= 2
    for colour in colours:
        assert contrast(colour, "#FFFFFF") >= 3, colour


def test_gap_cells_text_meets_4_5_to_1_on_its_shade():
    root = parse(draw_gaps())
    cells = [
        r
        for r in root.iter(f"{NS}rect")
        if float(r.get("height", 0)) == 44 and r.get("fill", "").startswith("#")
    ]
    assert len(cells) == 9
    assert len({c.get("fill") for c in cells}) >= 4
    for cell in cells:
        x, y = float(cell.get("x")), float(cell.get("y"))
        inside = [
            t
            for t in root.iter(f"{NS}text")
            if x < float(t.get("x")) < x + float(cell.get("width"))
            and y < float(t.get("y")) < y + 44
        ]
        assert inside
        for text in inside:
            assert contrast(cell.get("fill"), text.get("fill")) >= 4.5


# --- The PDF renderer draws the same markup ------------------------------------------


def test_weasyprint_draws_every_chart_without_complaint_or_fetch(caplog):
    import weasyprint

    fetched = []

    def refuse(url, *args, **kwargs):
        fetched.append(url)
        raise ValueError(f"refused {url}")

    charts_html = "".join(str(draw().markup) for draw in DRAWERS.values())
    with caplog.at_level("WARNING", logger="weasyprint"):
        pdf = weasyprint.HTML(
            string=f"<html lang='en'><body>{charts_html}</body></html>",
            url_fetcher=refuse,
        ).write_pdf()
    assert pdf.startswith(b"%PDF")
    assert fetched == []
    complaints = [r.getMessage() for r in caplog.records]
    # Where the system lacks HarfBuzz-Subset, WeasyPrint says it subsets fonts with
    # fontTools instead: a fact about the machine, not about the charts.
    assert [c for c in complaints if "HarfBuzz-Subset" not in c] == []


WORDY = "Withheld because fewer than ten students in this group answered it"


@pytest.mark.parametrize(
    "draw",
    [
        lambda labels: favorable_comparison_chart(
            [ComparisonRow("Belonging", None, 60)], labels, id_prefix="c"
        ),
        lambda labels: change_chart(
            [ChangeRow("Belonging", None, 60)], labels, id_prefix="c"
        ),
    ],
    ids=["comparison", "change"],
)
def test_long_withheld_text_is_cut_in_the_chart_and_whole_in_the_table(draw):
    svg = draw(replace(LABELS, withheld=WORDY))
    cut = [t for t in texts(svg) if t.startswith("Withheld because")]
    assert cut
    assert all(t.endswith("…") and len(t) < len(WORDY) for t in cut)
    assert WORDY in svg.table.rows[0]


def test_a_keyed_table_pairs_each_figure_cell_with_its_identifier():
    svg = draw_comparison().keyed(
        [["g#belonging", "s#belonging", None], ["g#a", None, None]]
    )
    assert svg.table.cells()[0] == (
        ("64%", "g#belonging"),
        ("72%", "s#belonging"),
        (svg.table.rows[0][3], None),
    )
    assert svg.markup == draw_comparison().markup  # identifiers never reach the SVG


def test_an_unkeyed_table_pairs_its_cells_with_no_identifier():
    assert all(key is None for row in draw_change().table.cells() for _, key in row)


def test_identifiers_that_do_not_fit_the_table_are_refused():
    with pytest.raises(ValueError, match="one identifier"):
        draw_comparison().keyed([["g#belonging", "s#belonging"]] * 2)
    with pytest.raises(ValueError, match="one identifier"):
        draw_comparison().keyed([["a", "b", None]])
