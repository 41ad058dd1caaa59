"""Time and size the leadership PDFs of a 50,000-response wave (issue 6).

A report renders from the wave's stored protected release, whose size is set by the
lattice (school, groups, self-description categories, group x category) and the
instrument, not by the number of responses; building that release from 50,000
responses is the release layer's job and its own benchmark (``privacy_bench.py``).
Setup (not timed, in a separate process so its memory is not counted) stores a
closed climate-and-belonging wave of 50,000 respondents in 10 affinity groups (two
small), with a release of exactly the lattice's shape whose figures are drawn at
random and coded as released figures are.

Measured: ``report_service.build_pdf`` end to end (load the stored release, build the
context, render the HTML, render the PDF in the sandboxed child) for the school
summary and for the largest group's summary, English and Spanish; the median of the
warm runs, after one cold run that starts the renderer's fork server. Memory: the peak
resident size of a rendering process (a fresh process doing exactly what the sandboxed
child does) and of this process.

Run: ``.venv/bin/python bench/report_bench.py [--runs 5] [--responses 50000]
[--pdfs DIR]`` (``--pdfs`` keeps the four PDFs, to look at them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

GROUPS = (
    ("bsu", "Black Student Union", 7200),
    ("lsa", "Latinx Student Alliance", 9800),
    ("aapi", "Asian American & Pacific Islander Alliance", 6100),
    ("mll", "Multilingual Learners", 5400),
    ("gsa", "LGBTQ+ Students & Allies", 4300),
    ("msa", "Muslim Student Association", 3900),
    ("sad", "Students with Disabilities Council", 3600),
    ("fgc", "First-Generation College Bound", 9635),
    ("nsc", "Native Student Circle", 40),
    ("pis", "Pacific Islander Students", 25),
)


def synthetic_release(survey, instrument, responses: int, seed: int):
    """Return a release of a ``responses``-strong wave, shaped as the lattice is.

    Populations: the school, every group, every self-description category, and
    every group x category (the lattice of ``voice.lattice``); measures: those of
    ``lattice.measures_of``. Figures are drawn at random but coded as released ones
    are (counts rounded to 5, whole and top/bottom-coded percentages); a population
    under 10 is withheld whole.
    """
    from voice.lattice import measures_of
    from voice.privacy import code_percent, round_count
    from voice.release import (
        DIMENSION,
        GROUP,
        GROUP_DIMENSION,
        SCHOOL,
        AuditSummary,
        Label,
        Population,
        ProtectedRelease,
        ReleasedMeasure,
        WaveInfo,
    )

    rng = np.random.default_rng(seed)
    sizes = np.array([size for _, _, size in GROUPS], dtype=float)
    sizes = np.maximum(1, np.round(sizes * responses / sizes.sum())).astype(int)
    shares = {
        d.key: rng.dirichlet(np.ones(len(d.categories))) for d in instrument.dimensions
    }
    people = [
        ("school", SCHOOL, Label("Whole school", "Toda la escuela"), {}, responses)
    ]
    for (slug, name, _), size in zip(GROUPS, sizes, strict=True):
        people.append(
            (f"group:{slug}", GROUP, Label(name, name), {"group": slug}, size)
        )
    for d in instrument.dimensions:
        for c, share in zip(d.categories, shares[d.key], strict=True):
            label = Label(
                f"{d.title.get('en')}: {c.label.get('en')}",
                f"{d.title.get('es')}: {c.label.get('es')}",
            )
            where = {"dimension": d.key, "category": c.key}
            people.append(
                (f"dim:{d.key}={c.key}", DIMENSION, label, where, responses * share)
            )
    for (slug, name, _), size in zip(GROUPS, sizes, strict=True):
        for d in instrument.dimensions:
            for c, share in zip(d.categories, shares[d.key], strict=True):
                label = Label(f"{name} · {c.label.get('en')}", name)
                where = {"group": slug, "dimension": d.key, "category": c.key}
                people.append(
                    (
                        f"group:{slug}|dim:{d.key}={c.key}",
                        GROUP_DIMENSION,
                        label,
                        where,
                        size * share,
                    )
                )
    measures = measures_of(instrument)
    populations = []
    cells = {}
    for key, kind, label, where, size in people:
        size = int(size)
        shown = size >= 10
        populations.append(
            Population(
                key,
                kind,
                label,
                participation=str(round_count(size)) if shown else None,
                **where,
            )
        )
        row = {}
        for measure in measures:
            if not shown:
                row[measure.key] = ReleasedMeasure(
                    None, None, None, tuple((o.value, None) for o in measure.options)
                )
                continue
            weights = rng.dirichlet(np.ones(len(measure.options)) * 3)
            counts = np.round(weights * size).astype(int)
            whole = max(1, int(counts.sum()))
            distribution = tuple(
                (o.value, code_percent(int(n), whole))
                for o, n in zip(measure.options, counts, strict=True)
            )
            favorable = code_percent(int(counts[-2:].sum()), whole)
            mean = None
            if measure.has_mean:
                mean = f"{float(np.dot(np.arange(1, 6), weights)):.1f}"
            row[measure.key] = ReleasedMeasure(
                str(round_count(size)),
                favorable if measure.has_favorable else None,
                mean,
                distribution,
                int(rng.integers(-9, 10)) if not favorable.is_coded else None,
            )
        cells[key] = row
    return ProtectedRelease(
        wave=WaveInfo(
            survey_id=survey.id,
            slug=survey.slug,
            title=survey.title,
            wave_label=survey.wave_label,
            school=survey.school.name,
            instrument_key=survey.instrument_key,
            instrument_version=survey.instrument_version,
            closed_at=survey.closes_at.isoformat(timespec="seconds"),
        ),
        k=10,
        is_open_link=False,
        populations=tuple(populations),
        measures=measures,
        cells=cells,
        audit=AuditSummary(True, 5000, 9000, 2.0, 3, 6, 40000, 3000, 400),
        previous_wave="Spring 2026",
    )


def setup(database: str, responses: int) -> None:
    """Store a closed wave with a release of ``responses`` respondents (own process)."""
    from voice import create_app, results
    from voice.extensions import db
    from voice.instruments import instrument_to_snapshot, load_library
    from voice.models import (
        AffinityGroup,
        School,
        Survey,
        SurveyAudience,
        SurveyStatus,
    )

    app = create_app(overrides={"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    with app.app_context():
        db.create_all()
        instrument = load_library(app.config["SURVEYS_DIR"])["climate-belonging.v1"]
        school = School(
            name="Roosevelt High School", slug="roosevelt", district="Metro"
        )
        groups = [
            AffinityGroup(school=school, name=name, slug=slug)
            for slug, name, _ in GROUPS
        ]
        closes = datetime.now(UTC) - timedelta(days=3)
        survey = Survey(
            school=school,
            slug="fall-2026",
            title="Climate and belonging",
            instrument_key=instrument.slug,
            instrument_version=instrument.version,
            instrument_snapshot=instrument_to_snapshot(instrument),
            wave_label="Fall 2026",
            opens_at=closes - timedelta(days=14),
            closes_at=closes,
            status=SurveyStatus.closed,
        )
        survey.audiences = [
            SurveyAudience(group=g, token=f"t-{g.slug}") for g in groups
        ]
        db.session.add_all([school, *groups, survey])
        db.session.flush()
        release = synthetic_release(survey, instrument, responses, seed=1)
        results.store_release(survey, release)
        db.session.commit()
        print(
            f"setup: {responses} responses, {len(release.populations)} populations, "
            f"{len(release.measures)} measures, {release.withheld_count} withheld "
            f"figures, release JSON {len(release.canonical_json()) // 1024} KB",
            flush=True,
        )


def peak_rss_mb() -> int:
    """Return this process's own peak resident size (``VmHWM``; Linux), in MB.

    ``ru_maxrss`` is not used: Linux carries a parent's peak into its children.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def render_child(html: str, runs: int, out) -> None:
    """Render like the sandboxed child does; report CPU seconds and peak RSS."""
    from voice import reports

    cpu = []
    for _ in range(runs + 1):
        started = time.process_time()
        reports.write_pdf(html)
        cpu.append(time.process_time() - started)
    out.put((statistics.median(cpu[1:]), peak_rss_mb()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--responses", type=int, default=50_000)
    parser.add_argument("--pdfs", type=Path, help="Write the PDFs to this folder.")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="report-bench-")
    database = str(Path(folder) / "bench.sqlite3")
    os.environ["VOICE_INSTANCE_PATH"] = folder
    spawn = multiprocessing.get_context("spawn")
    builder = spawn.Process(target=setup, args=(database, args.responses))
    builder.start()
    builder.join()
    if builder.exitcode != 0:
        raise SystemExit("setup failed")

    import sqlalchemy as sa

    from voice import create_app, report_service
    from voice.extensions import db
    from voice.models import AffinityGroup, Survey

    # A loaded machine must not turn a slow run into a timeout: measure, don't cap.
    app = create_app(
        overrides={
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "REPORT_TIMEOUT": 600.0,
        }
    )
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey))
        largest = db.session.scalar(
            sa.select(AffinityGroup).where(AffinityGroup.slug == "lsa")
        )
        rows = []
        htmls = {}
        for kind, group in (("school", None), ("group", largest)):
            for lang in ("en", "es"):
                timings = []
                for _ in range(args.runs + 1):
                    started = time.perf_counter()
                    built = report_service.build_pdf(survey, group=group, lang=lang)
                    timings.append(time.perf_counter() - started)
                if args.pdfs:
                    args.pdfs.mkdir(parents=True, exist_ok=True)
                    (args.pdfs / f"{kind}-{lang}.pdf").write_bytes(built.pdf)
                context, _sha = report_service.build_context(
                    survey, group=group, lang=lang
                )
                htmls[(kind, lang)] = report_service.render_html(context)
                started = time.perf_counter()
                for _ in range(args.runs):
                    report_service.render_html(
                        report_service.build_context(survey, group=group, lang=lang)[0]
                    )
                html_time = (time.perf_counter() - started) / args.runs
                rows.append(
                    (
                        kind,
                        lang,
                        timings[0],
                        statistics.median(timings[1:]),
                        max(timings[1:]),
                        html_time,
                        len(built.pdf),
                    )
                )
        print()
        print(f"{args.responses} responses, {args.runs} warm runs each (+1 cold)")
        print("| report | lang | cold s | median s | max s | context+HTML s | PDF KB |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for kind, lang, cold, median, worst, html_time, size in rows:
            print(
                f"| {kind} | {lang} | {cold:.2f} | {median:.2f} | {worst:.2f} | "
                f"{html_time:.2f} | {size // 1024} |"
            )
    print()
    print(
        "Rendering alone, in a fresh process (CPU time is what an idle machine takes):"
    )
    print("| report | lang | render CPU s (median) | render process peak RSS MB |")
    print("| --- | --- | --- | --- |")
    for (kind, lang), html in htmls.items():
        results = spawn.Queue()
        child = spawn.Process(target=render_child, args=(html, args.runs, results))
        child.start()
        cpu, peak = results.get()
        child.join()
        print(f"| {kind} | {lang} | {cpu:.2f} | {peak} |")
    own = peak_rss_mb()
    print(f"\nbenchmark process (app + release + HTML) peak RSS: {own} MB")
    print(f"load average during the run: {os.getloadavg()}, CPUs: {os.cpu_count()}")


if __name__ == "__main__":
    main()
