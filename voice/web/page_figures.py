"""The release-derived part of the results pages, computed once per release and language.

A stored release never changes (a new one gets a new content hash), so the charts,
tables and headlines drawn from it are the same on every visit: drawing the school
overview's thirty-odd SVG charts took most of its render time. Only the figures are
kept here; everything that can change between visits (comments, findings, answers,
the reader's permissions) is read fresh by the view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask_babel import gettext as _

from voice.release import DIMENSION, GROUP, SCHOOL, ProtectedRelease
from voice.web import review_figures as figures

#: Pages' figures kept per worker (an overview in two languages is about 0.7 MB).
_CACHE_SIZE = 64
_cache: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def _remembered(key: Hashable, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Return the figures under ``key``, computing them on first use (LRU)."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = compute()
    with _lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def overview(release: ProtectedRelease, lang: str) -> dict[str, Any]:
    """Return the school overview's figures: gaps, changes, tables and charts."""

    def compute() -> dict[str, Any]:
        groups = release.populations_of(GROUP)
        dimensions = release.populations_of(DIMENSION)
        measures = figures.headline_measures(release)
        return {
            "groups": groups,
            "explanation": figures.explanation(lang),
            "gaps": figures.headlines(
                figures.largest(release.gaps(), None), release, lang
            ),
            "changes": figures.headlines(
                figures.largest(release.changes(), None), release, lang
            ),
            "group_table": figures.gap_table(
                release, groups, measures, lang, "gaps-groups"
            ),
            "dimension_table": figures.gap_table(
                release, dimensions, measures, lang, "gaps-dims"
            ),
            "per_scale": [
                (m, figures.groups_chart(release, groups, m, lang))
                for m in measures
                if groups
            ],
            "school_scales": figures.scale_views(
                release, SCHOOL, lang, _("Whole school")
            ),
        }

    return _remembered(("overview", release.sha256, lang), compute)


def workspace(
    release: ProtectedRelease,
    previous: ProtectedRelease | None,
    key: str,
    lang: str,
    name: str,
) -> dict[str, Any]:
    """Return one population's workspace figures; ``name`` labels its charts."""

    def compute() -> dict[str, Any]:
        scales, loose = figures.scale_views(release, key, lang, name)
        return {
            "explanation": figures.explanation(lang),
            "gaps": figures.headlines(
                figures.largest(release.gaps(), key), release, lang, named=False
            ),
            "changes": figures.headlines(
                figures.largest(release.changes(), key), release, lang, named=False
            ),
            "comparison": figures.comparison(release, key, lang),
            "change": figures.change(release, previous, key, lang),
            "scales": scales,
            "loose": loose,
        }

    previous_hash = previous.sha256 if previous is not None else None
    cache_key = ("workspace", release.sha256, previous_hash, key, lang, name)
    return _remembered(cache_key, compute)
