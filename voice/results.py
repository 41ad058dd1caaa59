"""The release layer: SQL aggregates -> protection -> the stored, protected release.

DESIGN invariant 2: when a wave closes, :func:`close_wave` reseals its storage,
counts its answers with ``GROUP BY`` queries (Core selects returning tuples, never
answer objects), hands the counts to :func:`voice.lattice.build_release`, and
stores the result as a :class:`~voice.models.Release` with its content hash and
audit. Every page, export, chart, PDF and email then reads :func:`stored_release`.
While a wave is open only :func:`open_participation` is available.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa

from voice import lattice, release_themes, reseal
from voice.extensions import db
from voice.instruments import (
    FIVE_POINT_VALUES,
    MULTIPLE,
    NOT_REPORTED,
    PREFER_NOT,
    Dimension,
    Instrument,
    parse_instrument,
)
from voice.models import (
    AccessMode,
    AffinityGroup,
    Answer,
    Release,
    Response,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
from voice.privacy import round_count
from voice.release import ProtectedRelease, WaveInfo

#: Processes that protect a large release's measures in parallel (see
#: ``voice.lattice``); small releases always stay in the calling process.
RELEASE_WORKERS = min(2, os.cpu_count() or 1)
#: Releases kept in memory by content hash (they are immutable).
_CACHE_SIZE = 32
_cache: dict[str, ProtectedRelease] = {}


class WaveNotOpen(ValueError):
    """Only an open wave can be closed."""


def instrument_of(survey: Survey) -> Instrument:
    """Return the instrument exactly as the wave was published."""
    return parse_instrument(survey.instrument_snapshot, source=f"survey {survey.id}")


# -- counting ---------------------------------------------------------------------------

_R = Response.__table__
_A = Answer.__table__


# The wave's respondents and their answers, folded once into temporary tables that
# live only inside the closing transaction's connection: every count below is a
# GROUP BY over them, and only those counts reach Python.
def _temporary_tables(dimensions: int) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Return the tables of one count: people, scale scores, answer counts.

    People: one row per respondent, with group and one category per self-id
    dimension. Scale scores: one row per respondent and scale answered. Answer
    counts: per group, category of every dimension, item and value.
    """
    metadata = sa.MetaData()
    categories = [f"c{d}" for d in range(dimensions)]
    people = sa.Table(
        "wave_people",
        metadata,
        sa.Column("response_id", _R.c.id.type, primary_key=True),
        sa.Column("group_id", sa.Integer, nullable=False),
        *(sa.Column(name, sa.String(80)) for name in categories),
        prefixes=["TEMPORARY"],
    )
    scores = sa.Table(
        "wave_scores",
        metadata,
        sa.Column("response_id", _R.c.id.type),
        sa.Column("scale", sa.String(80)),
        sa.Column("score", sa.Integer),
        prefixes=["TEMPORARY"],
    )
    answers = sa.Table(
        "wave_answers",
        metadata,
        sa.Column("group_id", sa.Integer),
        *(sa.Column(name, sa.String(80)) for name in categories),
        sa.Column("item_key", sa.String(80)),
        sa.Column("value", sa.String(80)),
        sa.Column("n", sa.Integer),
        prefixes=["TEMPORARY"],
    )
    return people, scores, answers


def _categories(survey_id: int, dimensions: tuple[Dimension, ...]) -> sa.Subquery:
    """Put each respondent in one category per self-id dimension, in one pass.

    Mirrors :func:`voice.instruments.categorize`: "prefer not to say" gives
    ``not_reported``, two or more choices ``multiple``, one choice that value; a
    respondent who skipped the item gets NULL here and ``not_reported`` later.
    """
    columns = []
    for number, dimension in enumerate(dimensions):
        mine = _A.c.item_key == dimension.item
        declined = sa.func.max(
            sa.case((sa.and_(mine, _A.c.choice_value == PREFER_NOT), 1), else_=0)
        )
        chosen = sa.case((mine, _A.c.choice_value), else_=None)
        columns.append(
            sa.case(
                (declined == 1, NOT_REPORTED),
                (sa.func.count(sa.distinct(chosen)) > 1, MULTIPLE),
                else_=sa.func.min(chosen),
            ).label(f"c{number}")
        )
    return (
        sa.select(_A.c.response_id, *columns)
        .join(_R, _R.c.id == _A.c.response_id)
        .where(
            _R.c.survey_id == survey_id,
            _A.c.item_key.in_([d.item for d in dimensions]),
        )
        .group_by(_A.c.response_id)
        .subquery()
    )


def _category_key(dimension: Dimension | None, raw: str | None) -> str | None:
    """Fold a category SQL produced onto the dimension's keys (unknown -> not reported)."""
    if dimension is None:
        return None
    return raw if raw in dimension.category_keys else NOT_REPORTED


def _scale_scores(instrument: Instrument, people: sa.Table) -> sa.Select | None:
    """Give each respondent one whole-point score per scale they answered, in SQL.

    The score is the mean of the respondent's scored answers to the scale's items
    (reversed items turned round), rounded half up: ``(2 * sum + count) // (2 * count)``.
    """
    if not instrument.scales:
        return None
    members = [key for scale in instrument.scales for key in scale.items]
    reversed_keys = [key for key in members if instrument.item(key).reverse]
    top = len(FIVE_POINT_VALUES) + 1
    scored = sa.case(
        (_A.c.item_key.in_(reversed_keys), top - _A.c.numeric_value),
        else_=_A.c.numeric_value,
    )
    scale = sa.case(
        *((_A.c.item_key.in_(s.items), s.key) for s in instrument.scales),
        else_=None,
    )
    total, answered = sa.func.sum(scored), sa.func.count()
    return (
        sa.select(
            _A.c.response_id,
            scale.label("scale"),
            ((2 * total + answered) // (2 * answered)).label("score"),
        )
        .join(people, people.c.response_id == _A.c.response_id)
        .where(_A.c.item_key.in_(members), _A.c.numeric_value.is_not(None))
        .group_by(_A.c.response_id, scale)
    )


def wave_counts(survey: Survey, instrument: Instrument) -> lattice.WaveCounts:
    """Count one wave's participation and answers per cell, all in SQL.

    Three passes over the wave's answers fill temporary tables (which live only in
    this transaction's connection and are dropped before returning): each
    respondent's group and self-id categories; each respondent's scale scores; and
    answer counts per group, every category and option. Every count of every level
    (whole group, then each self-id dimension) is then a ``GROUP BY`` over those
    small tables; only the grouped counts come back to Python. For multi-choice
    items, whose respondents are not the sum of their choices, distinct respondents
    are counted per level from the answers of those items alone.

    :return: exact counts for :func:`voice.lattice.build_release`; never shown
    """
    audience = db.session.execute(
        sa.select(
            AffinityGroup.id,
            AffinityGroup.slug,
            AffinityGroup.name,
            AffinityGroup.name_es,
        )
        .join(SurveyAudience, SurveyAudience.group_id == AffinityGroup.id)
        .where(SurveyAudience.survey_id == survey.id)
        .order_by(AffinityGroup.name, AffinityGroup.id)
    ).all()
    slug_of = {row.id: row.slug for row in audience}
    dimensions = instrument.dimensions
    closed = [
        m.key.removeprefix("item:")
        for m in lattice.measures_of(instrument)
        if m.kind == "item"
    ]
    multi = [key for key in closed if instrument.item(key).type == "multi"]
    connection = db.session.connection()
    people, scores_table, cross = tables = _temporary_tables(len(dimensions))
    for table in tables:
        table.drop(connection, checkfirst=True)
        table.create(connection)
    try:
        category_columns = [people.c[f"c{d}"] for d in range(len(dimensions))]
        if dimensions:
            found = _categories(survey.id, dimensions)
            source = sa.select(
                _R.c.id,
                _R.c.group_id,
                *(found.c[f"c{d}"] for d in range(len(dimensions))),
            ).outerjoin(found, found.c.response_id == _R.c.id)
        else:
            source = sa.select(_R.c.id, _R.c.group_id)
        connection.execute(
            people.insert().from_select(
                ["response_id", "group_id", *(c.name for c in category_columns)],
                source.where(_R.c.survey_id == survey.id),
            )
        )
        scores = _scale_scores(instrument, people)
        if scores is not None:
            connection.execute(
                scores_table.insert().from_select(
                    ["response_id", "scale", "score"], scores
                )
            )
        value = sa.func.coalesce(
            sa.cast(_A.c.numeric_value, sa.String), _A.c.choice_value
        )
        profile = [people.c.group_id, *category_columns]
        connection.execute(
            cross.insert().from_select(
                [c.name for c in cross.columns],
                sa.select(*profile, _A.c.item_key, value, sa.func.count())
                .join(people, people.c.response_id == _A.c.response_id)
                .where(
                    _A.c.item_key.in_(closed),
                    sa.or_(
                        _A.c.choice_value.is_(None), _A.c.choice_value != PREFER_NOT
                    ),
                )
                .group_by(*profile, _A.c.item_key, value),
            )
        )
        counts = _level_counts(connection, instrument, tables, multi, slug_of)
    finally:
        for table in reversed(tables):
            table.drop(connection, checkfirst=True)
    return lattice.WaveCounts(
        groups=tuple(lattice.GroupInfo(r.slug, r.name, r.name_es) for r in audience),
        participation=dict(counts["participation"]),
        answers=dict(counts["answers"]),
        respondents=dict(counts["respondents"]),
        scale_scores=dict(counts["scale_scores"]),
    )


def _level_counts(
    connection: sa.Connection,
    instrument: Instrument,
    tables: tuple[sa.Table, sa.Table, sa.Table],
    multi: list[str],
    slug_of: dict[int, str],
) -> dict[str, dict[tuple, int]]:
    """Sum the temporary tables per level: whole group, then each dimension."""
    people, scores, cross = tables
    counts: dict[str, dict[tuple, int]] = {
        name: defaultdict(int)
        for name in ("participation", "answers", "respondents", "scale_scores")
    }
    levels: list[tuple[Dimension | None, int | None]] = [(None, None)]
    levels += [(d, number) for number, d in enumerate(instrument.dimensions)]
    for dimension, number in levels:
        own = [] if number is None else [people.c[f"c{number}"]]
        mine = [] if number is None else [cross.c[f"c{number}"]]
        cat = own[0] if own else sa.null()
        queries = {
            "participation": sa.select(
                people.c.group_id, cat, sa.func.count()
            ).group_by(people.c.group_id, *own),
            "answers": sa.select(
                cross.c.group_id,
                mine[0] if mine else sa.null(),
                cross.c.item_key,
                cross.c.value,
                sa.func.sum(cross.c.n),
            ).group_by(cross.c.group_id, *mine, cross.c.item_key, cross.c.value),
        }
        if multi:
            queries["respondents"] = (
                sa.select(
                    people.c.group_id,
                    cat,
                    _A.c.item_key,
                    sa.func.count(sa.distinct(_A.c.response_id)),
                )
                .join(people, people.c.response_id == _A.c.response_id)
                .where(
                    _A.c.item_key.in_(multi),
                    sa.or_(
                        _A.c.choice_value.is_(None), _A.c.choice_value != PREFER_NOT
                    ),
                )
                .group_by(people.c.group_id, *own, _A.c.item_key)
            )
        if instrument.scales:
            queries["scale_scores"] = (
                sa.select(
                    people.c.group_id,
                    cat,
                    scores.c.scale,
                    scores.c.score,
                    sa.func.count(),
                )
                .join(people, people.c.response_id == scores.c.response_id)
                .group_by(people.c.group_id, *own, scores.c.scale, scores.c.score)
            )
        level = dimension.key if dimension is not None else None
        for name, query in queries.items():
            for group_id, raw, *rest, count in connection.execute(query):
                if group_id not in slug_of:
                    continue
                cell = (slug_of[group_id], level, _category_key(dimension, raw))
                if name == "participation":
                    counts[name][cell] += count
                elif name == "respondents":
                    counts[name][(rest[0], *cell)] += count
                else:
                    counts[name][(rest[0], *cell, str(rest[1]))] += count
    return counts


def open_participation(survey: Survey) -> int:
    """Return an open wave's response count rounded to 5, the only figure it shows.

    One submission moves it only across a rounding boundary (DESIGN invariant 2).
    """
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(_R).where(_R.c.survey_id == survey.id)
    )
    return round_count(count or 0, allow_zero=True)


# -- closing and storing ------------------------------------------------------------------


def previous_wave(survey: Survey) -> Survey | None:
    """Return the last closed wave of the same instrument at the same school."""
    return db.session.scalar(
        sa.select(Survey)
        .where(
            Survey.school_id == survey.school_id,
            Survey.instrument_key == survey.instrument_key,
            Survey.status == SurveyStatus.closed,
            Survey.id != survey.id,
            Survey.closes_at <= survey.closes_at,
        )
        .order_by(Survey.closes_at.desc(), Survey.id.desc())
        .limit(1)
    )


def build_release(survey: Survey, *, now: datetime | None = None) -> ProtectedRelease:
    """Count, protect, audit and code one wave's figures (nothing is stored).

    :raises voice.privacy.ProtectionError: if no suppression passes the audit
    """
    instrument = instrument_of(survey)
    before = previous_wave(survey)
    wave = WaveInfo(
        survey_id=survey.id,
        slug=survey.slug,
        title=survey.title,
        wave_label=survey.wave_label,
        school=survey.school.name,
        instrument_key=survey.instrument_key,
        instrument_version=survey.instrument_version,
        closed_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
    )
    return lattice.build_release(
        instrument,
        wave_counts(survey, instrument),
        wave=wave,
        k=survey.min_cell,
        is_open_link=survey.access_mode == AccessMode.link,
        previous=stored_release(before) if before is not None else None,
        workers=RELEASE_WORKERS,
    )


def store_release(survey: Survey, release: ProtectedRelease) -> Release:
    """Add ``release`` as the wave's newest stored version (flush only)."""
    version = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(Release.version), 0)).where(
            Release.survey_id == survey.id
        )
    )
    row = Release(
        survey_id=survey.id,
        version=(version or 0) + 1,
        content=release.to_json(),
        sha256=release.sha256,
        audit=vars(release.audit).copy(),
    )
    db.session.add(row)
    db.session.flush()
    _remember(release)
    return row


def close_wave(survey: Survey, *, now: datetime | None = None) -> ProtectedRelease:
    """Reseal the wave's storage, build and store its release, and mark it closed.

    Flush only: the caller commits, then calls :func:`voice.reseal.compact` so the
    rewritten storage is compacted outside the transaction.

    :raises WaveNotOpen: if the wave is a draft or already closed
    :raises voice.privacy.ProtectionError: if no suppression passes the audit
    """
    if survey.status != SurveyStatus.open:
        raise WaveNotOpen(f"survey {survey.id} is {survey.status.value}, not open")
    now = now or datetime.now(UTC)
    reseal.reseal_wave(survey, now=now)
    release = build_release(survey, now=now)
    release = release_themes.add_themes(survey, release)  # issue 8: open text
    store_release(survey, release)
    survey.status = SurveyStatus.closed
    db.session.flush()
    return release


def close_due_waves(now: datetime) -> list[Survey]:
    """Close every open wave whose window has ended (flush only; caller commits).

    :return: the waves closed, in closing-time order
    """
    due = list(
        db.session.scalars(
            sa.select(Survey)
            .where(Survey.status == SurveyStatus.open, Survey.closes_at <= now)
            .order_by(Survey.closes_at, Survey.id)
        )
    )
    for survey in due:
        close_wave(survey, now=now)
    return due


def stored_release(survey: Survey) -> ProtectedRelease | None:
    """Return the wave's newest stored release, or None while it has none.

    Releases are immutable, so they are cached in-process by content hash; the hash
    is checked when a release is first read from the database.

    :raises ValueError: if the stored content does not match its hash
    """
    newest = db.session.execute(
        sa.select(Release.id, Release.sha256)
        .where(Release.survey_id == survey.id)
        .order_by(Release.version.desc())
        .limit(1)
    ).first()
    if newest is None:
        return None
    cached = _cache.get(newest.sha256)
    if cached is not None:
        return cached
    content = db.session.scalar(
        sa.select(Release.content).where(Release.id == newest.id)
    )
    release = ProtectedRelease.from_json(content)
    if release.sha256 != newest.sha256:
        raise ValueError(f"release {newest.id} does not match its content hash")
    _remember(release)
    return release


def _remember(release: ProtectedRelease) -> None:
    """Keep a release in the in-process cache, dropping the oldest beyond its size."""
    _cache[release.sha256] = release
    while len(_cache) > _CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
