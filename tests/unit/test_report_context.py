"""The report's content comes from the release alone, and the fetcher reaches nothing.

Pure: no app, no database; the release is hand-made (``report_data``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from tests.unit.report_data import CELLS, make_release
from voice import reports
from voice.reports import (
    AssetRefused,
    ReportError,
    SchoolInfo,
    SharedFinding,
    SurveyMeta,
    build_report_context,
    fetch_asset,
)

SCHOOL = SchoolInfo("Lincoln High School", "Riverside Unified")
META = SurveyMeta("Climate and belonging", "Fall 2026", date(2026, 11, 3), invited=300)
SHARED = (
    SharedFinding("group:bsu", "recommendation", "Learn our names.", "teachers"),
    SharedFinding("group:bsu", "finding", "Belonging is lower for us."),
    SharedFinding(
        "group:lsa", "recommendation", "Spanish at events.", "", "accepted", "Yes."
    ),
)


def context(scope="school", lang="en", **overrides):
    values = {
        "scope": scope,
        "lang": lang,
        "findings": SHARED,
        "school": SCHOOL,
        "survey_meta": META,
    }
    values.update(overrides)
    release = values.pop("release", None) or make_release()
    return build_report_context(release, **values)


def released_texts(release) -> set[str]:
    """Every percentage, count and mean the release states, as text."""
    texts = set()
    for row in CELLS.values():
        for cell in row.values():
            texts.update(filter(None, (cell.n_text, cell.mean)))
            if cell.favorable is not None:
                texts.add(cell.favorable.text)
            texts.update(share.text for _, share in cell.distribution if share)
    texts.update(p.participation for p in release.populations if p.participation)
    return texts


@pytest.mark.parametrize("scope", ["school", "group:bsu", "group:nsc"])
def test_every_percentage_in_the_report_is_one_the_release_states(scope):
    release = make_release()
    report = context(scope, release=release)
    stated = released_texts(release)
    words = [*report.headlines, *(f.note for f in report.scale_figures)]
    words += [value for table in report.appendix for row in table.rows for value in row]
    printed = {m for text in words for m in re.findall(r"[<>]?\d+%", text)}
    assert printed <= stated


def test_headlines_lead_with_the_widest_gaps_and_stop_at_five():
    report = context()
    assert 3 <= len(report.headlines) <= reports.HEADLINES
    assert report.headlines[0].startswith("Black Student Union: 44% favorable")
    assert "18 points below the whole school (62%)" in report.headlines[0]
    assert any(
        "rose 5 points school-wide since Spring 2026" in h for h in report.headlines
    )


def test_a_group_report_leads_with_its_own_gaps_and_changes_in_plain_words():
    report = context("group:bsu")
    assert report.headlines[0] == (
        "Belonging: 44% favorable in this group, 18 points below the whole school "
        "(62%)."
    )
    assert any("rose 8 points in this group since" in h for h in report.headlines)
    assert not any("Black Student Union" in h for h in report.headlines)
    assert not any("Latinx" in h or "school-wide" in h for h in report.headlines)


def test_a_withheld_group_report_leads_with_the_whole_schools_changes():
    report = context("group:nsc")
    assert report.headlines
    assert all("school-wide" in h for h in report.headlines)
    assert not any("Native Student Circle" in h for h in report.headlines)


def test_a_withheld_group_has_only_the_withheld_marker():
    report = context("group:nsc")
    assert not report.is_released
    assert report.participation is None and report.response_rate is None
    assert report.appendix[0].headers[1:] == ("Native Student Circle", "Whole school")
    assert {row[1] for table in report.appendix for row in table.rows} == {"Withheld"}
    assert "Withheld" not in {row[2] for t in report.appendix for row in t.rows}


def test_a_group_report_shows_only_that_groups_findings_and_themes():
    report = context("group:bsu")
    assert [f.text for f in report.recommendations] == ["Learn our names."]
    assert [f.text for f in report.findings] == ["Belonging is lower for us."]
    assert [t.label for t in report.themes] == ["names and respect"]
    assert report.themes[0].population is None


def test_themes_of_a_withheld_or_unknown_group_are_never_shown():
    theme = {"label": "x", "size": "15", "quotes": ["words of seven students"]}
    release = make_release(
        themes=(
            {**theme, "population": "group:nsc"},
            {**theme, "population": "group:gone"},
        )
    )
    assert context(release=release).themes == ()
    assert context("group:nsc", release=release).themes == ()


STORED_THEMES = (
    {
        "key": "school/1",
        "population": "school",
        "label": {"en": "lunch, line, time", "es": "lunch, line, time"},
        "keywords": ["lunch", "line", "time"],
        "size": "25",
        "sentiment": {"tone": "negative"},
        "other": False,
        "renamed": False,
        "parts": [{"seed": None}],
        "quotes": [{"ref": "a", "text": "Lunch is too short."}],
    },
    {
        "key": "group:bsu/1",
        "population": "group:bsu",
        "label": {"en": "Lunch time", "es": "Hora del almuerzo"},
        "keywords": ["lunch"],
        "size": "15",
        "sentiment": None,
        "other": False,
        "renamed": True,
        "parts": [{"seed": None}],
        "quotes": [{"ref": "a", "text": "Lunch is too short."}],
    },
    {
        "key": "group:bsu/other",
        "population": "group:bsu",
        "label": {"en": "Other comments", "es": "Otros comentarios"},
        "keywords": [],
        "size": None,
        "sentiment": None,
        "other": True,
        "renamed": False,
        "parts": [{"seed": None}],
        "quotes": [],
    },
)


def test_stored_themes_come_grouped_by_population_with_tone_and_names():
    report = context(release=make_release(themes=STORED_THEMES), lang="es")
    school, bsu = report.theme_sections
    assert school.population is None
    assert bsu.population == "Unión de Estudiantes Negros"
    (lunch,) = school.themes
    assert (lunch.label, lunch.size, lunch.tone) == (
        "lunch, line, time",
        "25",
        "more negative than positive",
    )
    assert not lunch.is_named and not lunch.is_other
    named, other = bsu.themes
    assert named.label == "Hora del almuerzo" and named.is_named and named.tone is None
    assert other.is_other and other.size is None and other.quotes == ()


def test_a_school_report_prints_each_quote_once():
    report = context(release=make_release(themes=STORED_THEMES))
    school, bsu = report.theme_sections
    assert school.themes[0].quotes == ("Lunch is too short.",)
    assert bsu.themes[0].quotes == () and bsu.themes[0].quotes_above
    assert not bsu.themes[1].quotes_above
    group = context("group:bsu", release=make_release(themes=STORED_THEMES))
    assert group.themes[0].quotes == ("Lunch is too short.",)
    assert [s.population for s in group.theme_sections] == [None]


def test_the_school_report_shows_every_shared_item_with_leaders_answers():
    report = context()
    assert [(r.group, r.answer) for r in report.recommendations] == [
        ("Black Student Union", None),
        ("Latinx Student Alliance", "Accepted"),
    ]
    assert {t.population for t in report.themes} == {"Black Student Union", None}


def test_the_school_appendix_has_the_school_and_every_group_but_no_dimension():
    report = context()
    assert [t.caption for t in report.appendix] == [
        "Belonging",
        "Student voice",
        "Other questions",
    ]
    assert report.appendix[0].headers == (
        "Question",
        "Whole school",
        "Black Student Union",
        "Latinx Student Alliance",
        "Native Student Circle",
    )
    assert report.appendix[0].rows == (
        ("I feel I belong here", "64%", "44%", "58%", "Withheld"),
    )


def test_many_groups_are_spread_over_tables_that_each_repeat_the_school(
    monkeypatch,
):
    monkeypatch.setattr(reports, "APPENDIX_COLUMNS", 3)
    tables = context().appendix
    assert [t.caption for t in tables[:2]] == [
        "Belonging (1 of 2)",
        "Belonging (2 of 2)",
    ]
    assert [t.headers[1:] for t in tables[:2]] == [
        ("Whole school", "Black Student Union", "Latinx Student Alliance"),
        ("Whole school", "Native Student Circle"),
    ]


def test_the_gap_tables_cover_affinity_groups_then_each_self_description():
    report = context()
    assert [f.heading for f in report.gap_tables] == [
        "Equity gaps by affinity group",
        "Equity gaps by grade band",
    ]
    assert [f.svg.table.rows[1][0] for f in report.gap_tables] == [
        "Black Student Union",
        "9th or 10th",
    ]


@pytest.mark.parametrize(
    ("participation", "invited", "rate"),
    [("240", 300, "80%"), ("240", None, None), ("240", 200, "100%"), (None, 300, None)],
)
def test_response_rate_is_released_participation_over_printed_codes(
    participation, invited, rate
):
    release = make_release()
    school = replace(release.populations[0], participation=participation)
    release = replace(release, populations=(school, *release.populations[1:]))
    report = context(release=release, survey_meta=replace(META, invited=invited))
    assert report.response_rate == rate


def test_spanish_report_uses_spanish_labels_dates_and_marker():
    report = context("group:nsc", lang="es")
    assert report.scope_label == "Círculo de Estudiantes Nativos"
    assert report.generated_on == "3 de noviembre de 2026"
    assert report.withheld == "Reservado"
    assert report.appendix[0].rows[0][0] == "Siento que pertenezco aquí"


def test_sentences_go_through_the_given_translation():
    seen = []

    def gettext(text):
        seen.append(text)
        return text.upper() if "%(" not in text else text

    report = context(gettext=gettext)
    assert "Whole school" in seen
    assert report.scale_figures[0].svg.table.headers[0] == "GROUP"


@pytest.mark.parametrize("scope", ["group:nobody", "dim:grade_band=grades_9_10"])
def test_a_scope_that_is_not_a_group_of_the_release_is_refused(scope):
    with pytest.raises(ReportError):
        context(scope)


def test_without_a_previous_wave_there_is_no_change_chart():
    report = context(release=replace(make_release(), previous_wave=None))
    assert report.change is None


def test_a_withheld_groups_change_chart_is_the_whole_schools():
    report = context("group:nsc")
    assert report.change.heading == "Change since Spring 2026, whole school"
    assert report.change.svg.table.rows[0][1:3] == ("57%", "62%")


def test_each_charts_alternative_text_reads_out_its_figures():
    report = context("group:bsu")
    figures = [report.comparison, report.change, *report.scale_figures]
    titles = [
        re.search(r"<title[^>]*>(.*?)</title>", str(f.svg.markup)).group(1)
        for f in [*figures, *report.gap_tables]
    ]
    assert titles[0] == (
        "Percent favorable: this group and the whole school. Belonging: This group "
        "44%, Whole school 62%, Gap −18 points; Student voice: This group 50%, "
        "Whole school 55%, Gap −5 points."
    )
    assert all(". " in title and "%" in title for title in titles)
    assert report.comparison.svg.table.caption == report.comparison.heading


def test_the_change_chart_shows_exactly_the_released_change():
    report = context()
    assert report.change is not None
    belonging = report.change.svg.table.rows[0]
    assert belonging[1:3] == ("57%", "62%")


def test_student_text_is_kept_as_text_for_the_template_to_escape():
    hostile = "<img src=x> {{ 7*7 }}"
    report = context(findings=(SharedFinding("group:bsu", "finding", hostile),))
    assert report.findings[0].text == hostile


# --- the URL fetcher ---------------------------------------------------------------


def test_the_bundled_fonts_are_served():
    body, media_type = fetch_asset("voice-asset:fonts/LiberationSans-Regular.ttf")
    assert media_type == "font/ttf"
    assert body[:4] == b"\x00\x01\x00\x00"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "http://127.0.0.1:9/canary",
        "https://example.org/font.ttf",
        "ftp://127.0.0.1/x",
        "voice-asset:fonts/../../config.py",
        "voice-asset:fonts/LICENSE-LiberationSans.txt",
        "voice-asset:fonts/missing.ttf",
        "voice-asset:/etc/passwd",
        "voice-asset:../static/fonts/LiberationSans-Regular.ttf",
        "//127.0.0.1/x",
        "fonts/LiberationSans-Regular.ttf",
    ],
)
def test_everything_else_is_refused(url):
    with pytest.raises(AssetRefused):
        fetch_asset(url)


@pytest.mark.parametrize(
    ("url", "body", "media_type"),
    [
        ("data:text/plain,hi%20there", b"hi there", "text/plain"),
        ("data:image/png;base64,iVBORw0K", b"\x89PNG\r\n", "image/png"),
        ("data:,x", b"x", "text/plain"),
    ],
)
def test_data_urls_are_decoded_locally(url, body, media_type):
    assert fetch_asset(url) == (body, media_type)
