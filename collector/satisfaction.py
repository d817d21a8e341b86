"""Satisfaction figures of a counter over local days, from the rollup table."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, func, select

from collector.models import Rollup
from schemas.contract import scales


def satisfaction(
    session: Session, *, counter: str, scale: str, first: date, last: date, include: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Counts per level, satisfaction rate (share of ratings at or above the scale's satisfied_from,
    0..1) and index (mean of levels mapped evenly onto 0..100). Suppressed and test presses are left
    out unless named in include. Presses of another scale than the counter's (a box swapped for one
    set up differently) are listed after the counter's own levels and counted in every figure."""
    query = (
        select(Rollup.scale, Rollup.level, func.sum(Rollup.count))
        .where(Rollup.counter == counter, col(Rollup.day) >= first, col(Rollup.day) <= last)
        .group_by(col(Rollup.scale), col(Rollup.level))
    )
    if "suppressed" not in include:
        query = query.where(Rollup.suppressed == False)
    if "test" not in include:
        query = query.where(Rollup.test == False)
    counts = {(s, int(lvl)): int(n) for s, lvl, n in session.exec(query).all()}

    shown = [scale] + sorted({s for s, _ in counts} - {scale})
    levels = []
    total = satisfied = 0
    points = 0.0
    for name in shown:
        definition = scales()[name]
        top = len(definition["levels"]) - 1
        for index, level in enumerate(definition["levels"]):
            count = counts.get((name, index), 0)
            if name != scale and count == 0:
                continue
            levels.append(
                {"scale": name, "level": index, "key": level["key"], "label_vi": level["vi"],
                 "label_en": level["en"], "count": count}
            )
            total += count
            if index >= definition["satisfied_from"]:
                satisfied += count
            points += count * 100.0 * index / top
    return {
        "counter": counter,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "scale": scale,
        "include": sorted(include),
        "total": total,
        "levels": levels,
        "satisfied": satisfied,
        "satisfaction_rate": round(satisfied / total, 4) if total else None,
        "index": round(points / total, 1) if total else None,
    }
