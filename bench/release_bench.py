"""Time the release of a large wave: SQL counts, protection, audit, storage, reading.

A synthetic wave: 50,000 responses, 40 five-point items in 8 scales of 5, 8
affinity groups (two of them tiny, so suppression has work to do) and 4
self-identification dimensions of 5 options each (6 categories with "not reported").
Rows go in with Core bulk inserts; then the bench times

1. ``results.build_release`` (SQL aggregates, then protect + audit in the lattice),
2. storing it, and
3. reading a stored release back (cache cleared, so JSON is parsed and hashed) and
   computing one page's data from it (a group's table, its gaps and changes): the
   median over ``--reads`` runs, and the same with the in-process cache warm.

Run: ``.venv/bin/python bench/release_bench.py [--responses 50000] [--database-url URL]``
(default: a fresh SQLite file in a temporary directory). Results: release_results.md.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from config import TestingConfig
from voice import create_app, results
from voice.extensions import db
from voice.instruments import instrument_to_snapshot, parse_instrument
from voice.models import (
    AffinityGroup,
    Answer,
    Response,
    School,
    Survey,
    SurveyAudience,
    SurveyStatus,
)

GROUP_SHARES = (0.18, 0.18, 0.17, 0.16, 0.15, 0.15, 0.0008, 0.0002)
SCALES, ITEMS_PER_SCALE, DIMENSIONS, LEVELS = 8, 5, 4, 5
_TEXT = {"en": "x", "es": "x"}


def instrument_data() -> dict:
    """Write the synthetic instrument as a snapshot mapping."""
    items = [
        {
            "key": f"s{s}_i{i}",
            "type": "agree5",
            "reverse": i == ITEMS_PER_SCALE - 1,
            "text": {"en": f"Item {s}.{i}", "es": f"Ítem {s}.{i}"},
        }
        for s in range(SCALES)
        for i in range(ITEMS_PER_SCALE)
    ]
    return {
        "slug": "bench",
        "version": 1,
        "languages": ["en", "es"],
        "title": {"en": "Bench", "es": "Banco"},
        "response_options": {
            "agree5": [{"value": v, "text": _TEXT} for v in range(1, 6)],
            "prefer_not_say": _TEXT,
            "not_reported": _TEXT,
        },
        "pages": [
            {"key": f"p{p}", "title": _TEXT, "items": items[p * 5 : p * 5 + 5]}
            for p in range(SCALES)
        ],
        "self_id": {
            "key": "about_you",
            "title": _TEXT,
            "items": [
                {
                    "key": f"d{d}",
                    "type": "single",
                    "text": _TEXT,
                    "options": [
                        {"value": f"v{v}", "text": _TEXT} for v in range(LEVELS)
                    ],
                    "dimension": {"key": f"d{d}", "title": _TEXT},
                }
                for d in range(DIMENSIONS)
            ],
        },
        "scales": [
            {
                "key": f"scale{s}",
                "title": _TEXT,
                "favorable": [4, 5],
                "items": [f"s{s}_i{i}" for i in range(ITEMS_PER_SCALE)],
            }
            for s in range(SCALES)
        ],
    }


def seed(responses: int, rng: np.random.Generator) -> Survey:
    """Insert the school, groups, wave, responses and answers in bulk."""
    instrument = parse_instrument(instrument_data(), source="bench")
    school = School(name="Bench High", slug=f"bench-{uuid.uuid4().hex[:6]}")
    groups = [
        AffinityGroup(school=school, name=f"Group {g}", slug=f"g{g}")
        for g in range(len(GROUP_SHARES))
    ]
    now = datetime.now(UTC)
    survey = Survey(
        school=school,
        slug="bench",
        title="Bench",
        instrument_key="bench",
        instrument_version=1,
        instrument_snapshot=instrument_to_snapshot(instrument),
        wave_label="Bench",
        opens_at=now - timedelta(days=10),
        closes_at=now - timedelta(minutes=1),
        status=SurveyStatus.open,
        audiences=[SurveyAudience(group=g, token=uuid.uuid4().hex) for g in groups],
    )
    db.session.add_all([school, *groups, survey])
    db.session.commit()
    shares = np.array(GROUP_SHARES) / sum(GROUP_SHARES)
    membership = rng.choice(len(groups), size=responses, p=shares)
    ids = [uuid.uuid4() for _ in range(responses)]
    db.session.execute(
        sa.insert(Response.__table__),
        [
            {
                "id": i,
                "survey_id": survey.id,
                "group_id": groups[g].id,
                "language": "en",
            }
            for i, g in zip(ids, membership, strict=True)
        ],
    )
    rows = []
    for d in range(DIMENSIONS):
        choice = rng.choice(
            LEVELS + 1, size=responses, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05]
        )
        rows += [
            {
                "id": uuid.uuid4(),
                "response_id": i,
                "item_key": f"d{d}",
                "choice_value": f"v{c}",
            }
            for i, c in zip(ids, choice, strict=True)
            if c < LEVELS  # the last "level" skips the question
        ]
    db.session.execute(sa.insert(Answer.__table__), rows)
    for item in instrument.items:
        if item.dimension is not None:
            continue
        values = rng.choice(6, size=responses, p=[0.06, 0.08, 0.14, 0.22, 0.3, 0.2])
        db.session.execute(
            sa.insert(Answer.__table__),
            [
                {
                    "id": uuid.uuid4(),
                    "response_id": i,
                    "item_key": item.key,
                    "numeric_value": int(v),
                }
                for i, v in zip(ids, values, strict=True)
                if v > 0  # 0 skips the item
            ],
        )
    db.session.commit()
    return survey


def main() -> None:
    """Seed, build, store and read one release; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=50_000)
    parser.add_argument("--reads", type=int, default=25)
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="release-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.drop_all()
        db.create_all()
        started = time.perf_counter()
        survey = seed(args.responses, np.random.default_rng(args.seed))
        print(
            f"seeded {args.responses} responses in {time.perf_counter() - started:.1f} s"
        )
        instrument = results.instrument_of(survey)
        started = time.perf_counter()
        counts = results.wave_counts(survey, instrument)
        counted = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        release = results.build_release(survey)
        built, built_cpu = time.perf_counter() - started, time.process_time() - cpu
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        results.store_release(survey, release)
        survey.status = SurveyStatus.closed
        db.session.commit()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        worker_rss = children.ru_maxrss / 1024
        print(f"SQL counts alone: {counted:.1f} s ({len(counts.answers)} count rows)")
        print(
            f"build + protect + audit (counts included): {built:.1f} s wall, "
            f"{built_cpu:.1f} s CPU here + "
            f"{children.ru_utime + children.ru_stime:.1f} s CPU in "
            f"{results.RELEASE_WORKERS} protection workers (the host may be shared)"
        )
        print(
            f"peak memory (ru_maxrss): {rss:.0f} MB here, {worker_rss:.0f} MB in the "
            f"largest worker; at most {rss + results.RELEASE_WORKERS * worker_rss:.0f} "
            "MB together"
        )
        print(f"audit: {release.audit}")
        print(f"withheld markers: {release.withheld_count}")
        page = "group:g0"

        def read(cold: bool) -> float:
            if cold:
                results._cache.clear()
            begin = time.perf_counter()
            loaded = results.stored_release(survey)
            loaded.table(page)
            loaded.biggest_gaps(5)
            loaded.biggest_changes(5)
            return time.perf_counter() - begin

        cold = statistics.median(read(True) for _ in range(args.reads))
        warm = statistics.median(read(False) for _ in range(args.reads))
        print(
            f"stored release load + page data, median: {cold * 1000:.1f} ms cold, "
            f"{warm * 1000:.2f} ms cached"
        )


if __name__ == "__main__":
    main()
