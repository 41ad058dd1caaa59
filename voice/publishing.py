"""Publishing a wave: create it from the library, open and close it, hand out access.

Every function here that writes adds and flushes, writes the audit log (DESIGN
invariant 5) and leaves the commit to the calling view or command. Ballot codes are
returned in plain text exactly once, by :func:`issue_codes`; only their keyed hashes
are stored (invariant 1).
"""

from __future__ import annotations

import csv
import io
import math
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from config import MIN_CELL_FLOOR
from voice import audit, reseal, results
from voice.ballots import generate_code, hash_code
from voice.extensions import db
from voice.instruments import Instrument, instrument_to_snapshot
from voice.models import (
    AccessMode,
    AffinityGroup,
    BallotCode,
    Response,
    School,
    StaffUser,
    Survey,
    SurveyAudience,
    SurveyStatus,
)
from voice.operations import OperationError
from voice.privacy import ProtectionError, round_count

#: Random bytes in a group's link token: 192 bits, above the 128 the issue asks for.
TOKEN_BYTES = 24
#: Most ballot codes one batch may print (a sheet of this many is already 200 pages).
MAX_CODES_PER_BATCH = 2000
#: Share of a group we plan on hearing from; fewer expected answers than k is "tight".
EXPECTED_RESPONSE_RATE = 0.6


class PublishingError(OperationError):
    """A publishing step was refused; the message is safe to show the admin."""


@dataclass(frozen=True)
class SurveyPlan:
    """Everything an admin chooses when creating a wave."""

    school: School
    instrument: Instrument
    title: str
    wave_label: str
    groups: tuple[AffinityGroup, ...]
    languages: tuple[str, ...]
    opens_at: datetime
    closes_at: datetime
    min_cell: int
    access_mode: AccessMode = AccessMode.codes


@dataclass(frozen=True)
class GroupDraft:
    """The fields of an affinity group an admin edits."""

    name: str
    name_es: str = ""
    description: str = ""
    expected_size: int | None = None


@dataclass(frozen=True)
class Readiness:
    """Whether a group is big enough that its results can ever be released.

    ``level`` is ``"unknown"`` (no expected size entered), ``"too_small"`` (fewer
    students than k: nothing for the group alone will be released), ``"tight"``
    (only released if more than :data:`EXPECTED_RESPONSE_RATE` answer) or ``"ok"``.
    """

    level: str
    #: Percentage of the group that must answer for its results to be released.
    needed_percent: int | None


def readiness(expected_size: int | None, k: int) -> Readiness:
    """Judge a group's expected size against the wave's threshold ``k``."""
    if not expected_size:
        return Readiness("unknown", None)
    needed = min(100, math.ceil(100 * k / expected_size))
    if expected_size < k:
        return Readiness("too_small", needed)
    if k > expected_size * EXPECTED_RESPONSE_RATE:
        return Readiness("tight", needed)
    return Readiness("ok", needed)


def slugify(text: str, fallback: str) -> str:
    """Make a URL-safe, lowercase ASCII slug of ``text``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60]
    return slug or fallback


def _unique_slug(base: str, taken: Collection[str]) -> str:
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _as_utc(moment: datetime) -> datetime:
    """Read a naive datetime as UTC (the admin forms speak UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_window(opens_at: datetime, closes_at: datetime) -> None:
    if closes_at <= opens_at:
        raise PublishingError(_("The survey must close after it opens."))


def _check_k(k: int) -> None:
    if k < MIN_CELL_FLOOR:
        raise PublishingError(
            _(
                "k must be at least %(floor)s: smaller groups could be identified.",
                floor=MIN_CELL_FLOOR,
            )
        )


# --- surveys ----------------------------------------------------------------------


def create_survey(
    plan: SurveyPlan, *, actor: StaffUser | None, supported_languages: Sequence[str]
) -> Survey:
    """Create a draft wave with a frozen instrument snapshot and one link per group.

    :param supported_languages: the languages the app has catalogs for
    :raises PublishingError: k below the floor, a bad window, no group or language,
        or a group of another school
    """
    _check_k(plan.min_cell)
    opens_at, closes_at = _as_utc(plan.opens_at), _as_utc(plan.closes_at)
    _check_window(opens_at, closes_at)
    if not plan.title.strip() or not plan.wave_label.strip():
        raise PublishingError(_("A survey needs a title and a wave label."))
    if not plan.groups:
        raise PublishingError(_("Choose at least one affinity group."))
    if any(group.school_id != plan.school.id for group in plan.groups):
        raise PublishingError(_("Every group must belong to the survey's school."))
    offered = [
        lang for lang in plan.instrument.languages if lang in supported_languages
    ]
    languages = [lang for lang in offered if lang in plan.languages]
    if not languages or len(languages) != len(set(plan.languages)):
        raise PublishingError(
            _(
                "Choose at least one of the instrument's languages: %(languages)s",
                languages=", ".join(offered),
            )
        )
    taken = set(
        db.session.scalars(
            sa.select(Survey.slug).where(Survey.school_id == plan.school.id)
        )
    )
    survey = Survey(
        school=plan.school,
        slug=_unique_slug(slugify(f"{plan.title} {plan.wave_label}", "survey"), taken),
        title=plan.title.strip(),
        wave_label=plan.wave_label.strip(),
        instrument_key=plan.instrument.slug,
        instrument_version=plan.instrument.version,
        instrument_snapshot=instrument_to_snapshot(plan.instrument),
        opens_at=opens_at,
        closes_at=closes_at,
        status=SurveyStatus.draft,
        min_cell=plan.min_cell,
        languages=languages,
        access_mode=plan.access_mode,
    )
    survey.audiences = [
        SurveyAudience(group=group, token=secrets.token_urlsafe(TOKEN_BYTES))
        for group in dict.fromkeys(plan.groups)
    ]
    db.session.add(survey)
    db.session.flush()
    audit.record(
        actor,
        "survey.create",
        survey,
        title=survey.title,
        instrument=plan.instrument.key,
        groups=[group.slug for group in dict.fromkeys(plan.groups)],
        k=survey.min_cell,
        access_mode=survey.access_mode,
    )
    return survey


def reschedule(
    survey: Survey,
    opens_at: datetime,
    closes_at: datetime,
    *,
    actor: StaffUser | None,
) -> None:
    """Move the window of a wave that has not closed yet.

    :raises PublishingError: if the wave is closed or the window is backwards
    """
    if survey.status is SurveyStatus.closed:
        raise PublishingError(_("A closed wave cannot be reopened; create a new wave."))
    opens_at, closes_at = _as_utc(opens_at), _as_utc(closes_at)
    _check_window(opens_at, closes_at)
    survey.opens_at, survey.closes_at = opens_at, closes_at
    db.session.flush()
    audit.record(
        actor, "survey.reschedule", survey, opens_at=opens_at, closes_at=closes_at
    )


def publish(
    survey: Survey, *, actor: StaffUser | None, now: datetime | None = None
) -> None:
    """Open a draft wave: its links answer from ``opens_at`` until ``closes_at``.

    :raises PublishingError: if the wave is not a draft or its window has passed
    """
    now = now or datetime.now(UTC)
    if survey.status is not SurveyStatus.draft:
        raise PublishingError(_("Only a draft can be published."))
    if survey.closes_at <= now:
        raise PublishingError(
            _("The closing time has already passed; change the window first.")
        )
    survey.status = SurveyStatus.open
    db.session.flush()
    audit.record(actor, "survey.publish", survey)


def close(
    survey: Survey, *, actor: StaffUser | None, now: datetime | None = None
) -> None:
    """Close an open wave now and build its protected release (invariant 2).

    The caller rolls back on error, commits on success, then calls
    :func:`compact_storage`.

    :raises PublishingError: if the wave is not open or its release cannot be
        protected (the caller must roll back: storage may be half resealed)
    """
    now = now or datetime.now(UTC)
    if survey.status is not SurveyStatus.open:
        raise PublishingError(_("Only an open wave can be closed."))
    if survey.opens_at < now < survey.closes_at:
        survey.closes_at = now
    db.session.flush()
    try:
        results.close_wave(survey, now=now)
    except ProtectionError as error:
        raise PublishingError(
            _(
                "The results could not be protected, so the wave stays open: "
                "%(reason)s",
                reason=str(error),
            )
        ) from error
    audit.record(actor, "survey.close", survey)


def compact_storage() -> None:
    """Compact the resealed tables after the closing commit (VACUUM needs no transaction)."""
    reseal.compact()


def participation(survey_ids: Iterable[int]) -> dict[int, int]:
    """Return each wave's response count rounded to 5 (the only figure shown while open).

    One submission moves the shown count only across a rounding boundary, and never
    per group (invariant 2).
    """
    ids = list(survey_ids)
    counts = dict.fromkeys(ids, 0)
    if ids:
        rows = db.session.execute(
            sa.select(Response.survey_id, sa.func.count())
            .where(Response.survey_id.in_(ids))
            .group_by(Response.survey_id)
        )
        counts.update({survey_id: n for survey_id, n in rows})
    return {key: round_count(n, allow_zero=True) for key, n in counts.items()}


# --- links and codes --------------------------------------------------------------


def audience_link(base_url: str, audience: SurveyAudience) -> str:
    """Return the group's survey address, the one printed on its poster."""
    return f"{base_url.rstrip('/')}/s/{audience.token}"


def code_link(base_url: str, audience: SurveyAudience, code: str) -> str:
    """Return the address on a code card: the group's link with the code filled in."""
    return f"{audience_link(base_url, audience)}?code={code}"


def issue_codes(
    audience: SurveyAudience,
    count: int,
    *,
    secret_key: str,
    actor: StaffUser | None,
) -> list[str]:
    """Create ``count`` single-use codes for one group and return them, once.

    Only keyed hashes are stored, so the plain codes exist nowhere after the caller
    has printed them. More codes can be issued later.

    :raises PublishingError: if the wave uses open links, is closed, or ``count``
        is outside 1..MAX_CODES_PER_BATCH
    """
    survey = audience.survey
    if survey.access_mode is not AccessMode.codes:
        raise PublishingError(_("This survey uses open links, not ballot codes."))
    if survey.status is SurveyStatus.closed:
        raise PublishingError(_("This wave is closed; no more codes can be used."))
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise PublishingError(
            _(
                "Ask for between 1 and %(most)s codes at a time.",
                most=MAX_CODES_PER_BATCH,
            )
        )
    codes: dict[str, str] = {}
    while len(codes) < count:
        code = generate_code()
        codes.setdefault(hash_code(secret_key, survey.id, code), code)
    db.session.add_all(
        BallotCode(survey_id=survey.id, audience_id=audience.id, code_hash=digest)
        for digest in codes
    )
    db.session.flush()
    audit.record(actor, "codes.issue", survey, group=audience.group.slug, count=count)
    return list(codes.values())


def codes_csv(base_url: str, audience: SurveyAudience, codes: Iterable[str]) -> str:
    """Return the codes as CSV (group, code, link) for mail merges and label printers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["group", "code", "link"])
    for code in codes:
        writer.writerow(
            [audience.group.slug, code, code_link(base_url, audience, code)]
        )
    return out.getvalue()


def codes_issued(survey: Survey) -> dict[int, int]:
    """Return how many codes each audience has had printed (spent or not).

    Spent counts are deliberately not offered: per group they are exact
    participation figures.
    """
    rows = db.session.execute(
        sa.select(BallotCode.audience_id, sa.func.count())
        .where(BallotCode.survey_id == survey.id)
        .group_by(BallotCode.audience_id)
    )
    return {audience_id: n for audience_id, n in rows}


# --- groups -----------------------------------------------------------------------


def _check_group(draft: GroupDraft) -> None:
    if not draft.name.strip():
        raise PublishingError(_("A group needs a name."))
    if draft.expected_size is not None and draft.expected_size < 0:
        raise PublishingError(_("The expected size cannot be negative."))


def create_group(
    school: School, draft: GroupDraft, *, actor: StaffUser | None
) -> AffinityGroup:
    """Add an affinity group to ``school``.

    :raises PublishingError: if the name is empty or already used at the school
    """
    _check_group(draft)
    _check_name_free(school.id, draft.name)
    taken = set(
        db.session.scalars(
            sa.select(AffinityGroup.slug).where(AffinityGroup.school_id == school.id)
        )
    )
    group = AffinityGroup(
        school=school,
        slug=_unique_slug(slugify(draft.name, "group"), taken),
        **_group_values(draft),
    )
    db.session.add(group)
    db.session.flush()
    audit.record(actor, "group.create", group, name=group.name)
    return group


def update_group(
    group: AffinityGroup, draft: GroupDraft, *, actor: StaffUser | None
) -> None:
    """Change a group's names, description or expected size (its link stays the same).

    :raises PublishingError: if the name is empty or used by another group
    """
    _check_group(draft)
    _check_name_free(group.school_id, draft.name, except_id=group.id)
    for key, value in _group_values(draft).items():
        setattr(group, key, value)
    db.session.flush()
    audit.record(actor, "group.update", group, **_group_values(draft))


def _check_name_free(school_id: int, name: str, except_id: int | None = None) -> None:
    clash = db.session.scalar(
        sa.select(AffinityGroup.id).where(
            AffinityGroup.school_id == school_id,
            AffinityGroup.id != except_id if except_id is not None else sa.true(),
            sa.func.lower(AffinityGroup.name) == name.strip().lower(),
        )
    )
    if clash is not None:
        raise PublishingError(_("The school already has a group with that name."))


def _group_values(draft: GroupDraft) -> dict[str, object]:
    return {
        "name": draft.name.strip(),
        "name_es": draft.name_es.strip(),
        "description": draft.description.strip(),
        "expected_size": draft.expected_size,
    }
