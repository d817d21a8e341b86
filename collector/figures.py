"""Figures from counts: what the presses at each level of a scale come to.

Counts are kept as the rollups hold them: per scale, the presses at each of its levels (`Counts`).
Figures: counts per level (levels of different scales with the same key add up: "satisfied" is
"Hài lòng" on every scale), the satisfaction rate (share of ratings at or above the scale's
satisfied_from, 0..1) and the index (mean of levels mapped evenly onto 0..100 per scale).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from collector.models import LEVEL_COLUMNS
from schemas.contract import scales

# Report columns, best first, as provincial reports print them.
KEY_ORDER = ("very_satisfied", "satisfied", "neutral", "unsatisfied", "very_unsatisfied")

# Below this many ratings a rate is marked as resting on few ratings (shown, never hidden).
FEW_RATINGS = 30
Z_95 = 1.959963984540054  # the standard normal quantile of a two-sided 95% interval

Counts = dict[str, list[int]]  # scale -> presses at each level (index = level), as a rollup row holds them


def no_counts() -> list[int]:
    """The counts of a scale before any press: one zero per level the rollups hold."""
    return [0] * len(LEVEL_COLUMNS)


def add_counts(into: Counts, counts: Mapping[str, Sequence[int]]) -> None:
    """Add counts into `into`, which never shares a list with `counts`."""
    for scale, numbers in counts.items():
        add_scale_counts(into, scale, numbers)


def add_scale_counts(into: Counts, scale: str, numbers: Sequence[int]) -> None:
    """Add one scale's counts per level into `into` (copied, never shared)."""
    have = into.get(scale)
    if have is None:
        into[scale] = list(numbers)
    else:
        for level, n in enumerate(numbers):
            have[level] += n


@cache
def level_labels() -> dict[str, tuple[str, str]]:
    """key -> (vi, en) over every scale."""
    labels: dict[str, tuple[str, str]] = {}
    for name, definition in scales().items():
        if name == "comment":
            continue
        for level in definition["levels"]:
            labels.setdefault(level["key"], (level["vi"], level["en"]))
    return labels


def ordered_keys(keys: Iterable[str]) -> list[str]:
    present = set(keys)
    return [k for k in KEY_ORDER if k in present] + sorted(present - set(KEY_ORDER))


def scale_keys(scale_names: Iterable[str]) -> list[str]:
    return ordered_keys(level["key"] for name in scale_names for level in scales()[name]["levels"])


@cache
def _scale_levels(scale: str) -> tuple[int, int, tuple[str, ...]] | None:
    """(top level, satisfied_from, level keys) of a scale; None if unknown."""
    definition = scales().get(scale)
    if definition is None:
        return None
    return len(definition["levels"]) - 1, definition["satisfied_from"], tuple(lv["key"] for lv in definition["levels"])


@cache
def _level_meanings(scale: str) -> tuple[tuple[str, bool, float], ...]:
    """(key, satisfied or better, points on 0..100) of each of a scale's levels; () if unknown."""
    found = _scale_levels(scale)
    if found is None:
        return ()
    top, satisfied_from, level_keys = found
    return tuple((key, level >= satisfied_from, 100.0 * level / top) for level, key in enumerate(level_keys))


def level_meaning(scale: str, level: int) -> tuple[str, str, str, bool] | None:
    """(key, label vi, label en, satisfied or better) of one level of a scale; None if unknown."""
    meanings = _level_meanings(scale)
    if not 0 <= level < len(meanings):
        return None
    key, good, _ = meanings[level]
    vi, en = level_labels().get(key, (key, key))
    return key, vi, en, good


@cache
def _columns(keys: frozenset[str]) -> tuple[tuple[str, str, str], ...]:
    """(key, label vi, label en) of report columns, in report order."""
    labels = level_labels()
    return tuple((key, *labels.get(key, (key, key))) for key in ordered_keys(keys))


def wilson_interval(satisfied: int, total: int) -> tuple[float, float] | None:
    """The Wilson score 95% interval of the rate satisfied/total; None without ratings.
    Wilson's, not the normal approximation's: it stays inside 0..1 and is honest at 3 of 3, where
    the normal one claims 100% +- 0. Five lines of arithmetic: no statistics package for it."""
    if total <= 0:
        return None
    rate = satisfied / total
    z2 = Z_95 * Z_95
    centre = rate + z2 / (2 * total)
    margin = Z_95 * math.sqrt(rate * (1 - rate) / total + z2 / (4 * total * total))
    scale = 1 + z2 / total
    return max(0.0, (centre - margin) / scale), min(1.0, (centre + margin) / scale)


def ranking_key(figure: Mapping[str, Any]) -> float:
    """Sort key that ranks by how sure a rate is: the lower end of its interval (-1 without
    ratings), so 3 ratings at 100% do not outrank 300 at 99%. Rank with reverse=True."""
    low = figure.get("rate_low")
    return -1.0 if low is None else float(low)


def figures(counts: Mapping[str, Sequence[int]], keys: Sequence[str] | None = None) -> dict[str, Any]:
    """total, levels [{key, label_vi, label_en, count, share}], satisfied, satisfaction_rate,
    rate_low/rate_high (its Wilson 95% interval), few_ratings (total < FEW_RATINGS), index.
    A report computes this for thousands of groups: what depends only on the scales is cached.
    Counts of an unknown scale, or beyond a scale's top level, are left out."""
    by_key: dict[str, int] = {}
    total = satisfied = 0
    points = 0.0
    for scale, numbers in counts.items():
        for (key, good, worth), count in zip(_level_meanings(scale), numbers):
            if not count:
                continue
            by_key[key] = by_key.get(key, 0) + count
            total += count
            if good:
                satisfied += count
            points += count * worth
    columns = _columns(frozenset(keys).union(by_key) if keys else frozenset(by_key))
    levels = [
        {"key": key, "label_vi": vi, "label_en": en, "count": by_key.get(key, 0),
         "share": round(by_key.get(key, 0) / total, 4) if total else None}
        for key, vi, en in columns
    ]
    interval = wilson_interval(satisfied, total)
    return {
        "total": total,
        "levels": levels,
        "satisfied": satisfied,
        "satisfaction_rate": round(satisfied / total, 4) if total else None,
        "rate_low": round(interval[0], 4) if interval else None,
        "rate_high": round(interval[1], 4) if interval else None,
        "few_ratings": total < FEW_RATINGS,
        "index": round(points / total, 1) if total else None,
    }


def change(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """Differences against the previous period: ratings, rate (0..1, not percent) and index points."""

    def delta(name: str) -> float | None:
        if now[name] is None or before[name] is None:
            return None
        return round(now[name] - before[name], 4)

    return {"total": now["total"] - before["total"], "satisfaction_rate": delta("satisfaction_rate"),
            "index": delta("index")}
