"""Themes of a closed wave's comments, stored in its protected release (issue 8).

DESIGN invariants 2 and 3. When a wave closes, :func:`voice.results.close_wave` calls
:func:`add_themes` once, before the release is stored. It redacts every comment of the
wave (the school's names and id patterns, placeholders in the comment's language),
masks slurs, flags comments that suggest a student may be at risk, and stores that on
the :class:`~voice.models.Comment` rows for the moderation queue. It then finds the
themes of each released population, the whole school and each released group, from
that population's comments only, and writes them into the release. Themes are never
computed on a page request.

What a stored theme holds (the JSON :func:`voice.reports._themes` and
``templates/review/_themes.html`` read): ``key``, ``population``, ``label``
(``{"en", "es"}``), ``keywords``, ``size`` (rounded to 5 like every count, as text),
``sentiment`` (or null when it cannot be stood behind), ``quotes`` (objects with
``text``) and the ``parts`` it was computed from. A theme of fewer than ``k``
comments is folded into "Other comments", whose size is withheld below ``k`` and
which is never quoted. Quotes carry no group, grade or any other demographic detail.

Moderation and the immutable release. A comment is shown only once a facilitator has
approved it, and facilitators moderate after the wave closes, so a release cannot
hold quotes when it is first built. Each theme therefore stores up to
``CANDIDATES`` *candidate* quotes as opaque references (a hash of the comment's
random id, never its text), nearest the theme's centre first, at-risk comments
left out. The quotes shown are the first ``QUOTES_SHOWN`` candidates that are
approved *at the time the release version was written*. Moderation never edits a
stored release; it leads to a new release version with the same figures and new
quotes (:func:`republish`):

- when a facilitator asks for it (the workspace offers it once approvals would
  change a theme's quotes), or renames or merges a theme;
- at once, in the same transaction, when a comment that a theme quotes is hidden
  or sent back to pending (:func:`_withdraw_unapproved_quotes`), so a hidden comment
  never stays quoted in any page or PDF.

Theme sizes, labels and sentiment stay as computed at closing time: a comment hidden
later was still said (as slurs stay countable), and only quotes show words.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import has_request_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from voice import audit, redact, results
from voice.extensions import db
from voice.models import (
    AffinityGroup,
    Comment,
    ModerationStatus,
    Response,
    StaffUser,
    Survey,
    SurveyAudience,
    ThemeOverride,
)
from voice.privacy import BOTTOM_CODE, TOP_CODE, CodedPercent, code_percent, round_count
from voice.release import GROUP, SCHOOL, Label, ProtectedRelease, canonical_json

if TYPE_CHECKING:
    from voice.themes import ThemeSet

# The text engine (scikit-learn, SciPy, TextBlob, the sentence model) is imported only
# where themes are computed, when a wave closes: every web worker imports this module
# through voice.results, and would otherwise carry it for nothing.

log = logging.getLogger(__name__)

#: Quotes shown per theme.
QUOTES_SHOWN = 3
#: Candidate quotes stored per theme, so hidden ones can be replaced.
CANDIDATES = 10
#: Keywords kept for a shown theme.
KEYWORDS_SHOWN = 10
#: Longest theme name a facilitator may give.
MAX_LABEL_LENGTH = 80
#: Key suffix and label of the theme that holds the themes smaller than k.
OTHER = "other"
OTHER_LABEL = {"en": "Other comments", "es": "Otros comentarios"}
NO_WORDS_LABEL = {"en": "(no distinctive words)", "es": "(sin palabras distintivas)"}


class ThemeError(ValueError):
    """A rename or merge was refused; the message is safe to show."""


# --- comment references ---------------------------------------------------------------


def comment_ref(comment_id: uuid.UUID) -> str:
    """Name a comment in a release without its id: 64 bits of a hash of the id.

    The release and its exports never carry a database key, and a reference says
    nothing about when the comment was written even if ids were ever time-ordered.
    """
    return hashlib.sha256(b"voice-comment:" + comment_id.bytes).hexdigest()[:16]


# --- preparing comments at close ------------------------------------------------------


@dataclass(frozen=True)
class PreparedComment:
    """A comment as themes see it: redacted, slurs masked, flagged; never who wrote it."""

    ref: str
    group_id: int
    #: Redacted text with slurs masked: what a quote shows.
    text: str
    at_risk: bool
    moderation: ModerationStatus
    #: TextBlob polarity, None for a Spanish comment.
    polarity: float | None


def prepare_comments(survey: Survey) -> list[PreparedComment]:
    """Redact, mask and flag every comment of a wave once, storing it (flush only).

    Comments already prepared keep their stored text. Rows are written in the order
    of their references, which says nothing about arrival (invariant 3).

    :return: the wave's comments, ordered by reference
    """
    from voice.sentiment import comment_polarity

    school = survey.school
    names = tuple(school.redaction_names or ())
    patterns = tuple(school.student_id_patterns or ())
    rows = db.session.execute(
        sa.select(
            Comment.id,
            Comment.text,
            Comment.redacted_text,
            Comment.flags,
            Comment.sentiment,
            Comment.moderation,
            Response.group_id,
            Response.language,
        )
        .join(Response, Comment.response_id == Response.id)
        .where(Response.survey_id == survey.id)
    ).all()
    prepared, updates = [], []
    for row in sorted(rows, key=lambda r: comment_ref(r.id)):
        lang = row.language.value
        flags = row.flags or {}
        text, polarity = row.redacted_text, row.sentiment
        if not text or "categories" not in flags:
            redacted = redact.redact(
                row.text, lang=lang, names=names, student_id_patterns=patterns
            ).text
            text = redact.mask_bias(redacted, lang=lang)
            found = redact.flag(row.text, lang=lang)
            flags = {
                "categories": list(found.categories),
                "at_risk": found.at_risk,
                "bias": found.bias_count,
            }
            polarity = comment_polarity(text)
            updates.append(
                {
                    "id": row.id,
                    "redacted_text": text,
                    "flags": flags,
                    "sentiment": polarity,
                }
            )
        prepared.append(
            PreparedComment(
                ref=comment_ref(row.id),
                group_id=row.group_id,
                text=text,
                at_risk=bool(flags.get("categories")),
                moderation=row.moderation,
                polarity=polarity,
            )
        )
    if updates:
        db.session.execute(sa.update(Comment), updates)
        db.session.flush()
    return prepared


# --- themes at close ------------------------------------------------------------------


def add_themes(survey: Survey, release: ProtectedRelease) -> ProtectedRelease:
    """Return ``release`` with the themes of its released populations' comments.

    Called once by :func:`voice.results.close_wave` before the release is stored. A
    failure here is logged and the release is stored without themes: the figures
    must not wait on the open-text engine.
    """
    try:
        bases = _compute_bases(survey, release)
        shown = compose(bases, overrides_of(survey), approved_quotes(survey))
    except Exception:  # the figures must not wait on the text engine (see above)
        log.exception("themes of survey %s could not be computed", survey.id)
        return release
    return replace(release, themes=tuple(shown))


def _released_groups(survey: Survey, release: ProtectedRelease) -> dict[str, int]:
    """Map each released group's population key to its group id."""
    slugs = {
        p.group: p.key
        for p in release.populations_of(GROUP)
        if p.participation is not None and p.group is not None
    }
    rows = db.session.execute(
        sa.select(AffinityGroup.slug, AffinityGroup.id)
        .join(SurveyAudience, SurveyAudience.group_id == AffinityGroup.id)
        .where(SurveyAudience.survey_id == survey.id)
    ).all()
    return {slugs[slug]: group_id for slug, group_id in rows if slug in slugs}


def _is_released(release: ProtectedRelease, key: str) -> bool:
    try:
        return release.population(key).participation is not None
    except KeyError:
        return False


def _compute_bases(survey: Survey, release: ProtectedRelease) -> list[dict[str, Any]]:
    """Find each released population's themes, as stored before any override."""
    from voice import embedding, themes

    comments = prepare_comments(survey)
    groups = _released_groups(survey, release)
    released_ids = set(groups.values())
    # Only released groups' comments, never hidden ones (invariant 3).
    pool = [
        c
        for c in comments
        if c.group_id in released_ids
        and c.moderation is not ModerationStatus.hidden
        and c.text.strip()
    ]
    populations: list[tuple[str, list[int]]] = []
    if _is_released(release, SCHOOL):
        populations.append((SCHOOL, list(range(len(pool)))))
    for key, group_id in groups.items():
        populations.append(
            (key, [i for i, c in enumerate(pool) if c.group_id == group_id])
        )
    populations = [(key, rows) for key, rows in populations if len(rows) >= release.k]
    if not populations:
        return []
    vectors = None
    if embedding.embedding_available():
        vectors = embedding.embed([c.text for c in pool])
    seeds = _carried_over_names(survey)
    bases: list[dict[str, Any]] = []
    for key, rows in populations:
        members = [pool[i] for i in rows]
        found = themes.find_themes(
            [c.text for c in members],
            vectors=vectors[rows] if vectors is not None else None,
            quotes=CANDIDATES,
            quotable=[not c.at_risk for c in members],
            seeds=seeds.get(key),
        )
        bases += theme_bases(key, found, members, k=release.k)
    return bases


def theme_bases(
    population: str,
    found: ThemeSet,
    comments: Sequence[PreparedComment],
    *,
    k: int,
) -> list[dict[str, Any]]:
    """Turn one population's themes into stored theme objects, protected.

    Sizes are rounded to 5; themes smaller than ``k`` are folded into one "Other
    comments" theme, whose size is withheld (None) when it too is below ``k`` and
    which has no quotes. A population with fewer than ``k`` comments gets nothing.

    :param comments: the comments ``found`` was computed from, in the same order
    """
    if found.comments < k:
        return []
    kept = [t for t in found.themes if t.size >= k]
    small = [i for t in found.themes if t.size < k for i in t.indices]
    bases = []
    for number, theme in enumerate(kept, start=1):
        label = (
            {"en": theme.label, "es": theme.label}
            if theme.keywords or theme.seed
            else dict(NO_WORDS_LABEL)
        )
        bases.append(
            {
                "key": f"{population}/{number}",
                "population": population,
                "label": label,
                "keywords": list(theme.keywords),
                "size": str(round_count(theme.size)),
                "sentiment": sentiment_of(
                    [comments[i].polarity for i in theme.indices], k=k
                ),
                "language": theme.language,
                "seed": theme.seed,
                "other": False,
                "engine": found.engine,
                "candidates": [comments[i].ref for i in theme.quotes],
            }
        )
    if small:
        bases.append(
            {
                "key": f"{population}/{OTHER}",
                "population": population,
                "label": dict(OTHER_LABEL),
                "keywords": [],
                "size": str(round_count(len(small))) if len(small) >= k else None,
                "sentiment": sentiment_of([comments[i].polarity for i in small], k=k),
                "language": "en",
                "seed": None,
                "other": True,
                "engine": found.engine,
                "candidates": [],
            }
        )
    return bases


def _coded(value: CodedPercent) -> dict[str, Any]:
    return {"value": value.value, "text": value.text, "coded": value.is_coded}


#: Share of comments a tone needs, and how many times the opposite share.
TONE_SHARE = 0.25
TONE_RATIO = 2


def tone_of(positive: float, negative: float) -> str:
    """Name a theme's tone from its shares of positive and negative comments.

    "positive" when at least ``TONE_SHARE`` of its comments are positive and
    ``TONE_RATIO`` times as many as negative ones, "negative" likewise, else
    "mixed": a mean polarity alone can read positive while most comments that
    carry a feeling are negative.
    """
    if positive >= TONE_SHARE and positive >= TONE_RATIO * negative:
        return "positive"
    if negative >= TONE_SHARE and negative >= TONE_RATIO * positive:
        return "negative"
    return "mixed"


def sentiment_of(
    polarities: Iterable[float | None], *, k: int
) -> dict[str, Any] | None:
    """Summarise a theme's sentiment, or None when fewer than ``k`` comments have one.

    Spanish comments have no sentiment (voice.sentiment), so a mostly Spanish theme,
    or one with fewer than ``k`` English comments, shows none rather than a figure
    resting on a handful of people.
    """
    from voice.sentiment import summarize_sentiment

    summary = summarize_sentiment(polarities)
    if summary is None or summary.comments < k:
        return None
    positive = round(summary.positive_share * summary.comments)
    negative = round(summary.negative_share * summary.comments)
    return {
        "tone": tone_of(summary.positive_share, summary.negative_share),
        "polarity": round(summary.polarity, 2),
        "positive": _coded(code_percent(positive, summary.comments)),
        "negative": _coded(code_percent(negative, summary.comments)),
    }


def _carried_over_names(survey: Survey) -> dict[str, dict[str, list[str]]]:
    """Return, per population, the previous wave's renamed themes as seeds.

    A seed is the new name and the texts of the renamed theme's candidate quotes;
    :func:`voice.themes.find_themes` gives the name to the closest new theme.
    """
    before = results.previous_wave(survey)
    if before is None:
        return {}
    previous = results.stored_release(before)
    if previous is None or not previous.themes:
        return {}
    renamed = [t for t in previous.themes if t.get("renamed")]
    if not renamed:
        return {}
    texts = {
        comment_ref(comment_id): text
        for comment_id, text in db.session.execute(
            sa.select(Comment.id, Comment.redacted_text)
            .join(Response, Comment.response_id == Response.id)
            .where(Response.survey_id == before.id)
        )
    }
    seeds: dict[str, dict[str, list[str]]] = {}
    for theme in renamed:
        refs = [r for part in theme.get("parts", ()) for r in part["candidates"]]
        found = [texts[r] for r in refs if texts.get(r)]
        if found:
            population = seeds.setdefault(theme["population"], {})
            population[theme["label"]["en"]] = found
    return seeds


# --- what is shown: overrides and approved quotes -------------------------------------


@dataclass(frozen=True)
class Override:
    """A facilitator's rename of a theme, or its merge into another."""

    label: str = ""
    merged_into: str | None = None


def overrides_of(survey: Survey) -> dict[str, Override]:
    """Return the wave's theme overrides by theme key."""
    return {
        row.theme_key: Override(row.label, row.merged_into)
        for row in db.session.scalars(
            sa.select(ThemeOverride).where(ThemeOverride.survey_id == survey.id)
        )
    }


def approved_quotes(survey: Survey) -> dict[str, str]:
    """Return reference -> shown text of the wave's approved, prepared comments."""
    rows = db.session.execute(
        sa.select(Comment.id, Comment.redacted_text)
        .join(Response, Comment.response_id == Response.id)
        .where(
            Response.survey_id == survey.id,
            Comment.moderation == ModerationStatus.approved,
            Comment.redacted_text != "",
        )
    )
    return {comment_ref(comment_id): text for comment_id, text in rows}


def _root(
    key: str,
    by_key: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Override],
) -> str:
    """Follow merges from ``key`` to the theme it is shown in (cycles stop early)."""
    seen = {key}
    while True:
        target = overrides.get(key, Override()).merged_into
        base, into = by_key[key], by_key.get(target or "")
        if (
            into is None
            or target in seen
            or into["population"] != base["population"]
            or into["other"]
            or base["other"]
        ):
            return key
        seen.add(target)
        key = target


def compose(
    bases: Sequence[Mapping[str, Any]],
    overrides: Mapping[str, Override],
    approved: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Return the themes as shown: overrides applied, approved quotes picked.

    Pure. A merged theme's size is the sum of its parts' released sizes (so it adds
    nothing that was not already published), and its sentiment the size-weighted
    mean of theirs, when all have one. Quotes are the first ``QUOTES_SHOWN`` approved
    candidates, taken from the parts in turn.

    :param bases: stored themes as computed at close, in population order
    :param overrides: theme key -> rename or merge
    :param approved: reference -> text of every approved comment
    """
    by_key = {b["key"]: b for b in bases}
    parts: dict[str, list[Mapping[str, Any]]] = {}
    for base in bases:
        parts.setdefault(_root(base["key"], by_key, overrides), []).append(base)
    shown_by_population: dict[str, list[dict[str, Any]]] = {}
    for base in bases:
        if base["key"] in parts:
            shown_by_population.setdefault(base["population"], []).append(
                _shown(base, parts[base["key"]], overrides, approved)
            )
    shown = []
    for population_themes in shown_by_population.values():
        shown += sorted(
            population_themes, key=lambda t: (t["other"], -int(t["size"] or 0))
        )
    return shown


def _shown(
    root: Mapping[str, Any],
    parts: list[Mapping[str, Any]],
    overrides: Mapping[str, Override],
    approved: Mapping[str, str],
) -> dict[str, Any]:
    name = overrides.get(root["key"], Override()).label.strip()
    keywords: list[str] = []
    for part in parts:
        keywords += [w for w in part["keywords"] if w not in keywords]
    return {
        "key": root["key"],
        "population": root["population"],
        "label": {"en": name, "es": name} if name else dict(root["label"]),
        "renamed": bool(name),
        "keywords": keywords[:KEYWORDS_SHOWN],
        "size": root["size"]
        if len(parts) == 1
        else str(sum(int(p["size"]) for p in parts)),
        "sentiment": root["sentiment"] if len(parts) == 1 else _merged_sentiment(parts),
        "language": root["language"],
        "other": root["other"],
        "engine": root["engine"],
        "merged": [p["key"] for p in parts[1:]],
        "quotes": [
            {"ref": r, "text": approved[r]} for r in _quote_refs(parts, approved)
        ],
        "parts": [dict(p) for p in parts],
    }


def _quote_refs(
    parts: Sequence[Mapping[str, Any]], approved: Mapping[str, str]
) -> list[str]:
    """Take approved candidates from each part in turn, best first."""
    chosen: list[str] = []
    depth = max((len(p["candidates"]) for p in parts), default=0)
    for rank in range(depth):
        for part in parts:
            if rank < len(part["candidates"]):
                ref = part["candidates"][rank]
                if ref in approved and ref not in chosen:
                    chosen.append(ref)
                    if len(chosen) == QUOTES_SHOWN:
                        return chosen
    return chosen


def _merged_sentiment(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Weight the parts' released sentiment by their released sizes."""
    if any(p["sentiment"] is None for p in parts):
        return None
    weights = [int(p["size"]) for p in parts]
    total = sum(weights)

    def mean(field: str) -> float:
        return (
            sum(
                p["sentiment"][field]["value"] * w
                for p, w in zip(parts, weights, strict=True)
            )
            / total
        )

    polarity = (
        sum(p["sentiment"]["polarity"] * w for p, w in zip(parts, weights, strict=True))
        / total
    )
    positive, negative = mean("positive"), mean("negative")
    return {
        "tone": tone_of(positive / 100, negative / 100),
        "polarity": round(polarity, 2),
        "positive": _coded(_recode(positive)),
        "negative": _coded(_recode(negative)),
    }


def _recode(percent: float) -> CodedPercent:
    """Round a derived percentage and apply the same top and bottom coding."""
    value = int(percent + 0.5)
    if value < BOTTOM_CODE:
        return CodedPercent(BOTTOM_CODE, f"<{BOTTOM_CODE}%", is_coded=True)
    if value > TOP_CODE:
        return CodedPercent(TOP_CODE, f">{TOP_CODE}%", is_coded=True)
    return CodedPercent(value, f"{value}%")


# --- new release versions -------------------------------------------------------------


def bases_of(release: ProtectedRelease) -> list[dict[str, Any]]:
    """Return the themes as computed at close, from any version of the release."""
    return [dict(part) for theme in release.themes for part in theme.get("parts", ())]


def themes_now(survey: Survey, release: ProtectedRelease) -> list[dict[str, Any]]:
    """Return the themes as they would be shown with today's overrides and approvals."""
    return compose(bases_of(release), overrides_of(survey), approved_quotes(survey))


def republish(
    survey: Survey, *, actor: StaffUser | None, reason: str
) -> ProtectedRelease | None:
    """Store a new release version whose themes reflect moderation and overrides.

    Every figure is copied from the newest version unchanged; only the themes'
    names, merges and quotes can differ. Flush only; the caller commits.

    :return: the new version, or None when nothing shown would change
    """
    release = results.stored_release(survey)
    if release is None or not release.themes:
        return None
    shown = themes_now(survey, release)
    if canonical_json(shown) == canonical_json([dict(t) for t in release.themes]):
        return None
    new = replace(release, themes=tuple(shown))
    results.store_release(survey, new)
    audit.record(actor, "themes.publish", survey, reason=reason, release=new.sha256)
    return new


def _theme(
    release: ProtectedRelease | None, key: str, population: str
) -> Mapping[str, Any]:
    """Return a shown theme of ``population``, or refuse (another's looks absent)."""
    for theme in release.themes if release is not None else ():
        if theme["key"] == key and theme["population"] == population:
            return theme
    raise ThemeError(_("That theme is not in this release. Reload the page."))


def _override_row(survey: Survey, key: str) -> ThemeOverride:
    row = db.session.scalar(
        sa.select(ThemeOverride).where(
            ThemeOverride.survey_id == survey.id, ThemeOverride.theme_key == key
        )
    )
    if row is None:
        row = ThemeOverride(survey_id=survey.id, theme_key=key, label="")
        db.session.add(row)
    return row


def rename_theme(
    actor: StaffUser, survey: Survey, population: str, key: str, label: str
) -> ProtectedRelease | None:
    """Give a shown theme a name of the facilitator's choosing (flush only).

    The name carries over to the closest theme of the next wave of the survey.

    :raises ThemeError: unknown theme, another population's, or an unusable name
    """
    theme = _theme(results.stored_release(survey), key, population)
    name = redact.normalize(label).replace("\n", " ")
    if not name or len(name) > MAX_LABEL_LENGTH:
        raise ThemeError(
            _(
                "Give the theme a name of 1 to %(count)d characters.",
                count=MAX_LABEL_LENGTH,
            )
        )
    if theme["other"]:
        raise ThemeError(_('"Other comments" cannot be renamed.'))
    _override_row(survey, key).label = name
    db.session.flush()
    audit.record(actor, "theme.rename", survey, theme=key)
    return republish(survey, actor=actor, reason="rename")


def merge_themes(
    actor: StaffUser, survey: Survey, population: str, key: str, into: str
) -> ProtectedRelease | None:
    """Show theme ``key`` as part of theme ``into`` from now on (flush only).

    :raises ThemeError: unknown themes, another population's, the same theme twice,
        or "Other comments"
    """
    release = results.stored_release(survey)
    theme, target = _theme(release, key, population), _theme(release, into, population)
    if key == into:
        raise ThemeError(_("Choose two different themes to merge."))
    if theme["other"] or target["other"]:
        raise ThemeError(_('"Other comments" cannot be merged.'))
    _override_row(survey, key).merged_into = into
    db.session.flush()
    audit.record(actor, "theme.merge", survey, theme=key, into=into)
    return republish(survey, actor=actor, reason="merge")


def reset_theme(
    actor: StaffUser, survey: Survey, population: str, key: str
) -> ProtectedRelease | None:
    """Undo a theme's rename and split off every theme merged into it (flush only).

    :raises ThemeError: unknown theme or another population's
    """
    theme = _theme(results.stored_release(survey), key, population)
    keys = [key, *theme.get("merged", ())]
    for row in db.session.scalars(
        sa.select(ThemeOverride).where(
            ThemeOverride.survey_id == survey.id, ThemeOverride.theme_key.in_(keys)
        )
    ):
        db.session.delete(row)
    db.session.flush()
    audit.record(actor, "theme.reset", survey, theme=key)
    return republish(survey, actor=actor, reason="reset")


# --- for the workspace ----------------------------------------------------------------


@dataclass(frozen=True)
class ThemeCard:
    """One theme as the workspace shows it, in the reader's language."""

    key: str
    label: str
    #: Distinctive words, when the label is a facilitator's name or "Other".
    keywords: tuple[str, ...]
    #: Rounded count as text; None when withheld.
    size: str | None
    quotes: tuple[str, ...]
    #: "positive", "mixed" or "negative" (see :func:`tone_of`); None when not
    #: available.
    tone: str | None
    positive: str | None
    negative: str | None
    is_other: bool
    is_renamed: bool
    #: Labels of the themes merged into this one.
    merged: tuple[str, ...]


@dataclass(frozen=True)
class ThemePanel:
    """A population's themes for the workspace, and what a moderator could update."""

    themes: tuple[ThemeCard, ...]
    is_fallback: bool
    #: Themes whose quotes would change with today's approvals (moderators only).
    outdated: int


def _card(theme: Mapping[str, Any], lang: str) -> ThemeCard:
    sentiment = theme.get("sentiment")
    return ThemeCard(
        key=theme["key"],
        label=Label(theme["label"]["en"], theme["label"]["es"]).get(lang),
        keywords=tuple(theme.get("keywords") or ()),
        size=theme.get("size"),
        quotes=tuple(q["text"] for q in theme.get("quotes") or ()),
        tone=sentiment["tone"] if sentiment else None,
        positive=sentiment["positive"]["text"] if sentiment else None,
        negative=sentiment["negative"]["text"] if sentiment else None,
        is_other=bool(theme.get("other")),
        is_renamed=bool(theme.get("renamed")),
        merged=tuple(
            Label(p["label"]["en"], p["label"]["es"]).get(lang)
            for p in theme.get("parts", ())[1:]
        ),
    )


def theme_panel(
    survey: Survey,
    release: ProtectedRelease,
    population: str,
    lang: str,
    *,
    for_moderator: bool,
) -> ThemePanel:
    """Return one released population's themes from the stored release.

    Reads the release only, plus, for a moderator, which comments are approved, to
    say whether the quotes could be updated. Nothing is computed from answers.
    """
    if not _is_released(release, population):
        return ThemePanel((), False, 0)
    stored = [t for t in release.themes if t.get("population") == population]
    outdated = 0
    if for_moderator and stored:
        now = {
            t["key"]: t["quotes"]
            for t in themes_now(survey, release)
            if t["population"] == population
        }
        outdated = sum(
            1 for t in stored if now.get(t["key"], t["quotes"]) != t["quotes"]
        )
    return ThemePanel(
        themes=tuple(_card(t, lang) for t in stored),
        is_fallback=any(t.get("engine") == "tfidf-nmf" for t in stored),
        outdated=outdated,
    )


# --- hiding a quoted comment withdraws it at once -------------------------------------

_MODERATED = "voice.release_themes.moderated"


def _note_moderation(session: Session, _context: Any, _instances: Any) -> None:
    """Remember which comments' moderation this flush changes."""
    for obj in session.dirty:
        if isinstance(obj, Comment):
            if sa.inspect(obj).attrs.moderation.history.has_changes():
                session.info.setdefault(_MODERATED, set()).add(obj.id)


def _withdraw_unapproved_quotes(session: Session) -> None:
    """Before a commit, republish any wave that quotes a comment no longer approved.

    Runs in the moderating transaction, so the hidden comment and the new release
    version are committed together, or neither is.
    """
    changed = session.info.pop(_MODERATED, None)
    if not changed:
        return
    survey_ids = session.scalars(
        sa.select(Response.survey_id)
        .join(Comment, Comment.response_id == Response.id)
        .where(Comment.id.in_(changed))
        .distinct()
    ).all()
    for survey_id in sorted(survey_ids):
        survey = session.get(Survey, survey_id)
        release = results.stored_release(survey)
        if release is None or not release.themes:
            continue
        quoted = {q["ref"] for t in release.themes for q in t.get("quotes") or ()}
        if quoted - approved_quotes(survey).keys():
            republish(survey, actor=_current_actor(), reason="quoted comment withdrawn")


def _current_actor() -> StaffUser | None:
    """Return the signed-in account behind this commit, if any."""
    if has_request_context() and current_user.is_authenticated:
        return current_user._get_current_object()  # type: ignore[attr-defined]
    return None


def _forget_moderation(session: Session) -> None:
    session.info.pop(_MODERATED, None)


def _install_hooks() -> None:
    """Listen on the app's sessions once (the module may be imported repeatedly)."""
    for name, hook in (
        ("before_flush", _note_moderation),
        ("before_commit", _withdraw_unapproved_quotes),
        ("after_rollback", _forget_moderation),
    ):
        if not event.contains(db.session, name, hook):
            event.listen(db.session, name, hook)


_install_hooks()
