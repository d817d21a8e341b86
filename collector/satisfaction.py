"""Satisfaction figures, from the rollup tables only (never a scan of the press table).

A range of local days is read as the whole calendar years inside it from `rollup_year`, the whole
months around them from `rollup_month` and the days at its edges from `rollup_day`, so a year costs one
row per group and level; month and quarter buckets read months, day and ISO-week buckets days; the
hour-by-weekday grid reads `rollup_hour` and, for the whole center's whole months,
`rollup_hour_month` (collector.rollup_read runs the queries). The rollups are
written and rebuilt by collector.rollups; figures come from counts by collector.figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, select

from collector.figures import Counts, figures, no_counts
from collector.models import Counter, Department, Officer
from collector.periods import bucket, month_start, next_month, next_year, year_start
from collector.rollup_read import read_grid, read_segments
from collector.rollups import NOBODY
from schemas.contract import scales

INCLUDABLE = ("suppressed", "test")


# --- reading the rollups -------------------------------------------------------------------------


@dataclass
class Filters:
    """Which presses count. None means no restriction; ids are registry ids (0 = none)."""

    counters: list[str] | None = None
    department_ids: list[int] | None = None
    officer_ids: list[int] | None = None
    include: frozenset[str] = field(default_factory=frozenset)


# Whole-period rollups, coarsest last: (table, its first-day column, first day of the period of a day,
# first day of the next period).
MONTHS = ("rollup_month", "month", month_start, next_month)
HOUR_MONTHS = ("rollup_hour_month", "month", month_start, next_month)
YEARS = ("rollup_year", "year", year_start, next_year)


def _segments(first: date, last: date, by: str | None, days: str = "rollup_day") -> list[tuple[str, str, date, date]]:
    """Split [first, last] into (table, time column, first, last) reads: the whole years inside it
    (unless months, quarters, weeks or days are the buckets), the whole months around them, and the
    edge days (from `days`); a period rollup's bounds are the first days of its first and last period."""
    periods = {"day": (), "week": (), "month": (MONTHS,), "quarter": (MONTHS,)}.get(by or "", (MONTHS, YEARS))
    return _split(first, last, periods, days)


def _split(first: date, last: date, periods: tuple[tuple[Any, ...], ...],
           days: str = "rollup_day") -> list[tuple[str, str, date, date]]:
    """The whole periods of the coarsest kind inside [first, last], its ends split by the finer kinds
    and, at the finest, read from the table of days `days`."""
    if first > last:
        return []
    if not periods:
        return [(days, "day", first, last)]
    table, column, start_of, next_start = periods[-1]
    whole_first = first if start_of(first) == first else next_start(first)
    after_whole = next_start(last) if next_start(last) - timedelta(days=1) == last else start_of(last)
    if whole_first >= after_whole:
        return _split(first, last, periods[:-1], days)
    return [
        *_split(first, whole_first - timedelta(days=1), periods[:-1], days),
        (table, column, whole_first, start_of(after_whole - timedelta(days=1))),
        *_split(after_whole, last, periods[:-1], days),
    ]


def tally(
    session: Session, *, first: date, last: date, group: str | None, by: str | None, filters: Filters,
    sites: Mapping[int, str | None] | None = None,
) -> dict[tuple[Any, str | None], Counts]:
    """(group key, bucket label) -> counts per scale and level. Group keys: counter code, officer id,
    department id, or site name (sites maps department id -> site). The whole center's total reads
    its days from rollup_day_total."""
    unfiltered = group is None and filters.counters is None and filters.department_ids is None \
        and filters.officer_ids is None
    return read_segments(
        session.connection(), _segments(first, last, by, "rollup_day_total" if unfiltered else "rollup_day"),
        group=group, by=by, counters=filters.counters,
        department_ids=filters.department_ids, officer_ids=filters.officer_ids, include=filters.include,
        sites=sites, label_of=(lambda day: bucket(day, by)[0]) if by else None,
    )


def grid(session: Session, *, first: date, last: date, filters: Filters) -> dict[tuple[int, int], Counts]:
    """(ISO weekday 1..7, local hour 0..23) -> counts per scale and level. The whole center's whole
    months come from rollup_hour_month, everything else from rollup_hour (by its counter and
    department indexes when filtered)."""
    filtered = filters.counters is not None or filters.department_ids is not None
    segments = _split(first, last, () if filtered else (HOUR_MONTHS,), days="rollup_hour")
    return read_grid(session.connection(), segments, counters=filters.counters,
                     department_ids=filters.department_ids, include=filters.include)


# --- the registry's names -------------------------------------------------------------------------


@dataclass
class Names:
    counters: dict[str, Counter]
    departments: dict[int, Department]
    officers: dict[int, Officer]

    @classmethod
    def load(cls, session: Session) -> Names:
        return cls(
            {c.code: c for c in session.exec(select(Counter)).all()},
            {d.id: d for d in session.exec(select(Department)).all() if d.id is not None},
            {o.id: o for o in session.exec(select(Officer)).all() if o.id is not None},
        )

    def describe(self, group: str, key: Any) -> dict[str, Any]:
        """code, name and (for counters and officers) department code of a group key."""
        if group == "counter":
            counter = self.counters.get(key)
            department = self.departments.get(counter.department_id) if counter else None
            return {"code": key, "name": counter.name if counter else key,
                    "department": department.code if department else None}
        if group == "officer":
            officer = self.officers.get(key)
            department = self.departments.get(officer.department_id or NOBODY) if officer else None
            return {"code": officer.code if officer else None, "name": officer.name if officer else None,
                    "department": department.code if department else None}
        if group == "department":
            dept = self.departments.get(key)
            return {"code": dept.code if dept else None, "name": dept.name if dept else None}
        return {"code": key, "name": key}


# --- the old per-counter figure (kept for API compatibility) --------------------------------------


def satisfaction(
    session: Session, *, counter: str, scale: str, first: date, last: date, include: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Counts per level of the counter's own scale (other scales' presses listed after them),
    satisfaction rate and index."""
    found = tally(session, first=first, last=last, group=None, by=None,
                  filters=Filters(counters=[counter], include=include))
    counts = found.get((None, None), {})

    shown = [scale] + sorted(set(counts) - {scale})
    levels = []
    for name in shown:
        definition = scales()[name]
        numbers = counts.get(name, no_counts())
        for index, level in enumerate(definition["levels"]):
            count = numbers[index]
            if name != scale and count == 0:
                continue
            levels.append(
                {"scale": name, "level": index, "key": level["key"], "label_vi": level["vi"],
                 "label_en": level["en"], "count": count}
            )
    summary = figures(counts)
    return {
        "counter": counter,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "scale": scale,
        "include": sorted(include),
        "total": summary["total"],
        "levels": levels,
        "satisfied": summary["satisfied"],
        "satisfaction_rate": summary["satisfaction_rate"],
        "index": summary["index"],
    }
