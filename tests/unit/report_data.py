"""A small hand-made protected release, and PDF readers, for the report tests."""

from __future__ import annotations

import io
from types import MappingProxyType

from pypdf import PdfReader

from voice.privacy import CodedPercent
from voice.release import (
    DIMENSION,
    GROUP,
    ITEM,
    SCALE,
    SCHOOL,
    AuditSummary,
    Label,
    Measure,
    MeasureOption,
    Population,
    ProtectedRelease,
    ReleasedMeasure,
    WaveInfo,
)

LIKERT = tuple(
    MeasureOption(str(value), Label(en, es))
    for value, en, es in (
        (1, "Strongly disagree", "Muy en desacuerdo"),
        (2, "Disagree", "En desacuerdo"),
        (3, "Neutral", "Neutral"),
        (4, "Agree", "De acuerdo"),
        (5, "Strongly agree", "Muy de acuerdo"),
    )
)
YES_NO = (
    MeasureOption("yes", Label("Yes", "Sí")),
    MeasureOption("no", Label("No", "No")),
)

MEASURES = (
    Measure(
        "scale:belonging",
        SCALE,
        Label("Belonging", "Pertenencia"),
        LIKERT,
        has_favorable=True,
        has_mean=True,
        items=("belong_1",),
    ),
    Measure(
        "scale:voice",
        SCALE,
        Label("Student voice", "Voz estudiantil"),
        LIKERT,
        has_favorable=True,
        has_mean=True,
        items=("voice_1",),
    ),
    Measure(
        "item:safe_yesno",
        ITEM,
        Label("I feel safe at school", "Me siento seguro en la escuela"),
        YES_NO,
        has_favorable=True,
        has_mean=False,
    ),
    Measure(
        "item:belong_1",
        ITEM,
        Label("I feel I belong here", "Siento que pertenezco aquí"),
        LIKERT,
        has_favorable=True,
        has_mean=True,
        scale="belonging",
    ),
    Measure(
        "item:voice_1",
        ITEM,
        Label("Adults listen to students", "Los adultos escuchan"),
        LIKERT,
        has_favorable=True,
        has_mean=True,
        scale="voice",
    ),
)

POPULATIONS = (
    Population(
        "school",
        SCHOOL,
        Label("Whole school", "Toda la escuela"),
        None,
        None,
        None,
        "240",
    ),
    Population(
        "group:bsu",
        GROUP,
        Label("Black Student Union", "Unión de Estudiantes Negros"),
        "bsu",
        participation="45",
    ),
    Population(
        "group:lsa",
        GROUP,
        Label("Latinx Student Alliance", "Alianza de Estudiantes Latinx"),
        "lsa",
        participation="80",
    ),
    Population(
        "group:nsc",
        GROUP,
        Label("Native Student Circle", "Círculo de Estudiantes Nativos"),
        "nsc",
        participation=None,
    ),
    Population(
        "dim:grade_band=grades_9_10",
        DIMENSION,
        Label("Grade band: 9th or 10th", "Grado: 9.º o 10.º"),
        dimension="grade_band",
        category="grades_9_10",
        participation="120",
    ),
)


def pct(value: int) -> CodedPercent:
    """Return a released whole percentage."""
    return CodedPercent(value, f"{value}%")


def likert(n: str | None, favorable: int, mean: str, change: int | None = None):
    """Return a released five-point measure (a withheld one when ``n`` is None)."""
    if n is None:
        return ReleasedMeasure(None, None, None, tuple((o.value, None) for o in LIKERT))
    low = 100 - favorable
    shares = (low // 3, low // 3, low - 2 * (low // 3), favorable // 2)
    shares = (*shares, favorable - shares[3])
    return ReleasedMeasure(
        n,
        pct(favorable),
        mean,
        tuple((o.value, pct(s)) for o, s in zip(LIKERT, shares, strict=True)),
        change,
    )


def yes_no(n: str | None, yes: int):
    """Return a released yes/no measure."""
    if n is None:
        return ReleasedMeasure(None, None, None, (("yes", None), ("no", None)))
    return ReleasedMeasure(
        n, pct(yes), None, (("yes", pct(yes)), ("no", pct(100 - yes)))
    )


WITHHELD_ROW = {
    "scale:belonging": likert(None, 0, ""),
    "scale:voice": likert(None, 0, ""),
    "item:safe_yesno": yes_no(None, 0),
    "item:belong_1": likert(None, 0, ""),
    "item:voice_1": likert(None, 0, ""),
}

CELLS = {
    "school": {
        "scale:belonging": likert("240", 62, "3.7", change=5),
        "scale:voice": likert("235", 55, "3.4", change=-3),
        "item:safe_yesno": yes_no("240", 81),
        "item:belong_1": likert("240", 64, "3.8"),
        "item:voice_1": likert("235", 55, "3.4"),
    },
    "group:bsu": {
        "scale:belonging": likert("45", 44, "3.2", change=8),
        "scale:voice": likert("45", 50, "3.3"),
        "item:safe_yesno": yes_no("45", 70),
        "item:belong_1": likert("45", 44, "3.2"),
        "item:voice_1": likert("45", 50, "3.3"),
    },
    "group:lsa": {
        "scale:belonging": likert("80", 58, "3.5"),
        "scale:voice": likert("80", 41, "3.1"),
        "item:safe_yesno": yes_no("80", 84),
        "item:belong_1": likert("80", 58, "3.5"),
        "item:voice_1": likert("80", 41, "3.1"),
    },
    "group:nsc": WITHHELD_ROW,
    "dim:grade_band=grades_9_10": {
        "scale:belonging": likert("120", 60, "3.6"),
        "scale:voice": likert("120", 52, "3.4"),
        "item:safe_yesno": yes_no("120", 79),
        "item:belong_1": likert("120", 60, "3.6"),
        "item:voice_1": likert("120", 52, "3.4"),
    },
}

THEMES = (
    {
        "population": "group:bsu",
        "label": {"en": "names and respect", "es": "nombres y respeto"},
        "size": "15",
        "quotes": ["I wish teachers learned how to say our names right."],
    },
    {
        "population": "school",
        "label": "counselors",
        "size": "20",
        "quotes": [{"text": "The counselor really helped me this year."}],
    },
)


def make_release(**overrides) -> ProtectedRelease:
    """Return a small release: three groups (one withheld), two scales, three items."""
    values = {
        "wave": WaveInfo(
            survey_id=1,
            slug="fall-2026",
            title="Climate and belonging",
            wave_label="Fall 2026",
            school="Lincoln High School",
            instrument_key="climate-belonging",
            instrument_version=1,
            closed_at="2026-11-01T00:00:00+00:00",
        ),
        "k": 10,
        "is_open_link": False,
        "populations": POPULATIONS,
        "measures": MEASURES,
        "cells": MappingProxyType(
            {key: MappingProxyType(row) for key, row in CELLS.items()}
        ),
        "audit": AuditSummary(
            passed=True,
            checked=40,
            lp_solves=80,
            narrowest_gap=3.0,
            rounds=2,
            blocks=3,
            figures=200,
            withheld_small=30,
            withheld_complementary=6,
        ),
        "previous_wave": "Spring 2026",
        "themes": THEMES,
    }
    values.update(overrides)
    return ProtectedRelease(**values)


def pdf_text(pdf: bytes) -> str:
    """Return the text of every page, as a reader's copy-paste would give it."""
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def pdf_attachments(pdf: bytes) -> dict:
    """Return the files embedded in a PDF (name -> contents), however attached."""
    reader = PdfReader(io.BytesIO(pdf))
    found = dict(reader.attachments)
    for page in reader.pages:
        for annotation in page.get("/Annots") or ():
            if annotation.get_object().get("/Subtype") == "/FileAttachment":
                found[f"annotation {len(found)}"] = annotation
    return found
