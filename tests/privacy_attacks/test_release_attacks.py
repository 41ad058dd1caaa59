"""Attacks on a released wave through everything it publishes, to every role.

Seeded data: groups of 30, 12, 7 and 2 students, and one nonbinary student who is
the only one in group charlie (``seed.py``). Every test reads what the exports
actually served, assumes each shown value reveals its exact count, and tries to
recover a withheld one.
"""

from __future__ import annotations

import json
import random

import pytest

from tests.privacy_attacks.attacker import (
    FORMATS,
    bounds,
    exact,
    figure_tokens,
    html_figures,
    pdf_text,
    printed_text,
    shown_keys,
    table_figures,
)
from tests.privacy_attacks.conftest import ROLES
from voice import lattice

UNIQUE = "group:charlie|dim:gender_identity=nonbinary"
SMALL_GROUPS = ("group:charlie", "group:delta")


#: Every output a role is served: the exports, the results pages, the summary PDFs.
OUTPUTS = (*sorted(FORMATS), "pages", "pdf")
MISSING = "(not in the export)"


def served(attacked, role, fmt):
    """Return {figure key: text or None} of everything one output showed one role."""
    if fmt in FORMATS:
        return FORMATS[fmt](attacked.payloads[role][fmt])
    if fmt == "pages":
        documents = [html_figures(html) for html in attacked.pages[role].values()]
    else:
        documents = [
            report_figures(*attacked.reports[url]) for url in attacked.pdfs[role]
        ]
    figures: dict[str, str | None] = {}
    for document in documents:
        for key, value in document.items():
            assert figures.setdefault(key, value) == value, key
    return figures


def report_figures(context, html):
    """Return a report's figures: its labelled tables and the tables of its charts."""
    charts = [
        figure.svg.table
        for figure in (
            context.comparison,
            context.change,
            *context.scale_figures,
            *context.gap_tables,
        )
        if figure is not None
    ]
    figures = html_figures(html)
    for key, value in table_figures(charts, context.withheld).items():
        assert figures.setdefault(key, value) == value, key
    return figures


def targets(attacked, withheld: set[str]) -> list[str]:
    """Withheld figures worth solving for: small groups, the unique student, a sample."""
    keys = {f.key for f in attacked.system.figures}
    chosen = sorted(
        key
        for key in withheld & keys
        if key.startswith((*SMALL_GROUPS, UNIQUE, "dim:gender_identity=nonbinary"))
    )
    rest = sorted(withheld & keys - set(chosen))
    return chosen + random.Random(4).sample(rest, min(20, len(rest)))


@pytest.mark.parametrize("fmt", OUTPUTS)
@pytest.mark.parametrize("role", sorted(ROLES))
def test_linear_programming_over_everything_served_determines_no_withheld_figure(
    attacked, role, fmt
):
    figures = served(attacked, role, fmt)
    published = shown_keys(figures)
    all_keys = {f.key for f in attacked.system.figures}
    assert published <= all_keys, "an output shows a figure outside the lattice"
    withheld = all_keys - published
    found = bounds(attacked.system, published, targets(attacked, withheld))
    determined = {key: ends for key, ends in found.items() if exact(*ends)}
    assert not determined


def test_the_unique_student_is_withheld_everywhere(attacked):
    for role in ROLES:
        for fmt in OUTPUTS:
            figures = served(attacked, role, fmt)
            mine = {k: v for k, v in figures.items() if k.startswith(f"{UNIQUE}#")}
            assert all(value is None for value in mine.values())
    charlie = served(attacked, "facilitator", "pages")
    assert charlie["group:charlie#participation#p"] is None


@pytest.mark.parametrize("role", sorted(ROLES))
def test_csv_and_json_show_the_same_figures_and_withhold_the_same_ones(attacked, role):
    as_csv = served(attacked, role, "csv")
    as_json = served(attacked, role, "json")
    assert as_csv == as_json


def test_what_is_served_is_exactly_what_the_release_publishes(attacked):
    figures = served(attacked, "admin", "json")
    assert shown_keys(figures) == lattice.published_keys(attacked.release)


def test_the_facilitator_is_served_their_group_and_the_school_only(attacked):
    populations = {key.split("#")[0] for key in served(attacked, "facilitator", "csv")}
    assert populations == {"school", "group:charlie"} | {
        p.key for p in attacked.release.populations if p.group == "charlie"
    }


def test_no_payload_names_an_internal_figure_or_the_raw_counts(attacked):
    for payloads in attacked.payloads.values():
        for text in payloads.values():
            assert "rest~" not in text
            assert "|skip" not in text and "microcell" not in text


def partitions(release):
    """Yield (whole, parts) population keys that add up exactly."""
    groups = [p.key for p in release.populations_of("group")]
    yield "school", groups
    for dimension in attacked_dimensions(release):
        categories = [
            p.key
            for p in release.populations_of("dimension")
            if p.dimension == dimension
        ]
        yield "school", categories
        for group in release.populations_of("group"):
            yield (
                group.key,
                [
                    p.key
                    for p in release.populations_of("group_dimension")
                    if p.group == group.group and p.dimension == dimension
                ],
            )
        for category in release.populations_of("dimension"):
            if category.dimension == dimension:
                yield (
                    category.key,
                    [
                        p.key
                        for p in release.populations_of("group_dimension")
                        if p.dimension == dimension and p.category == category.category
                    ],
                )


def attacked_dimensions(release):
    return sorted({p.dimension for p in release.populations_of("dimension")})


def test_totals_minus_parts_never_isolate_one_withheld_part(attacked):
    """School minus the other groups, a group minus its other categories, and so on.

    Sums and counts add over a partition, so this also covers complement means
    ((n_p m_p - n_g m_g) / (n_p - n_g)) and complement percentages.
    """
    figures = served(attacked, "admin", "csv")
    kinds = {key.split("#", 1)[1] for key in figures}
    for whole, parts in partitions(attacked.release):
        for kind in kinds:
            if figures.get(f"{whole}#{kind}") is None:
                continue
            hidden = [p for p in parts if figures.get(f"{p}#{kind}") is None]
            assert len(hidden) != 1, (whole, kind, hidden)


def test_one_hundred_percent_minus_the_other_options_reveals_nothing(attacked):
    figures = served(attacked, "admin", "json")
    release = attacked.release
    for population in release.populations:
        for measure in release.measures:
            base = f"{population.key}#{measure.key}#"
            if figures.get(base + "n") is None or measure.key == "item:clubs":
                continue  # a withheld n hides every share; multi-choice shares overlap
            options = [f"{base}o={o.value}" for o in measure.options]
            hidden = [key for key in options if figures[key] is None]
            assert len(hidden) != 1, hidden
            if figures.get(base + "fav") is not None:
                favorable = _favorable_options(attacked, measure)
                for side in (favorable, {o.value for o in measure.options} - favorable):
                    hidden_side = [v for v in side if figures[f"{base}o={v}"] is None]
                    assert len(hidden_side) != 1, (base, hidden_side)


def _favorable_options(attacked, measure) -> set[str]:
    instrument = attacked.instrument
    kind, key = measure.key.split(":", 1)
    target = instrument.scale(key) if kind == "scale" else instrument.item(key)
    return {str(v) for v in target.favorable}


def test_the_stored_audit_passed_and_is_kept_with_the_release(attacked):
    audit = attacked.release.audit
    assert audit.passed
    assert audit.withheld_small > 0 and audit.withheld_complementary > 0
    stored = json.loads(attacked.payloads["admin"]["json"])["audit"]
    assert stored["passed"] is True


# --- pages and PDFs: the same figures, the same withheld set, as the exports --------


@pytest.mark.parametrize("fmt", ["pages", "pdf"])
@pytest.mark.parametrize("role", sorted(ROLES))
def test_pages_and_pdfs_print_each_figure_as_the_export_does(attacked, role, fmt):
    """Every figure a page or report prints is the export's, withheld where it is."""
    exported = served(attacked, role, "json")
    printed = served(attacked, role, fmt)
    differ = {
        key: (value, exported.get(key, MISSING))
        for key, value in printed.items()
        if exported.get(key, MISSING) != value
    }
    assert not differ


@pytest.mark.parametrize("fmt", ["pages", "pdf"])
def test_pages_and_pdfs_print_shown_and_withheld_figures_of_every_kind(attacked, fmt):
    """Guards the comparison above: it must cover real figures, not an empty page."""
    printed = served(attacked, "admin", fmt)
    kinds = {key.rsplit("#", 1)[1].split("=")[0] for key in printed}
    assert (
        {"n", "fav", "sum", "o", "p"} <= kinds
        if fmt == "pages"
        else {"fav", "o", "p"} <= kinds
    )
    assert any(v is None for v in printed.values())
    assert any(v is not None for v in printed.values())
    groups = {p.key for p in attacked.release.populations_of("group")}
    assert groups <= {key.split("#")[0] for key in printed}


def test_every_role_got_its_pages_and_pdfs(attacked):
    assert len(attacked.pages["admin"]) == 9  # overview, 4 workspaces in 2 languages
    assert len(attacked.pages["leader"]) == 1
    assert len(attacked.pages["facilitator"]) == 2  # their group, in 2 languages
    assert len(attacked.pdfs["admin"]) == len(attacked.pdfs["leader"]) == 5
    assert (
        list(attacked.pdfs["facilitator"])
        == [url for url in attacked.reports if "/groups/" in url][2:3]
    )


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_pdf_prints_what_its_report_lays_out(attacked, role):
    """The PDF's text holds the same percentages, means and withheld markers as the
    HTML it was printed from (charts' text included), so the checks of the report's
    figures above hold for the PDF itself."""
    for url, pdf in attacked.pdfs[role].items():
        context, html = attacked.reports[url]
        expected = figure_tokens(printed_text(html), context.withheld)
        assert expected[context.withheld] > 0 and expected.total() > 20
        assert figure_tokens(pdf_text(pdf), context.withheld) == expected, url
