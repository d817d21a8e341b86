"""Satisfaction figures, from the rollup tables only (never a scan of the press table).

A range of local days is read as the whole calendar years inside it from `rollup_year`, the whole
months around them from `rollup_month` and the days at its edges from `rollup_day`, so a year costs one
row per group and level; month and quarter buckets read months, day and ISO-week buckets days; the
hour-by-weekday grid reads `rollup_hour`. The rollups are written in the same transaction as the
presses (`add_to_rollups`, called by collector.store) and can be rebuilt from the press table
(`rebuild_rollups`).

Counts are kept as the rollups hold them: per scale, the presses at each of its levels (`Counts`).
Figures: counts per level (levels of different scales with the same key add up: "satisfied" is
"Hài lòng" on every scale), the satisfaction rate (share of ratings at or above the scale's
satisfied_from, 0..1) and the index (mean of levels mapped evenly onto 0..100 per scale).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from collector.clock import zone
from collector.models import LEVEL_COLUMNS, Counter, Department, Officer, RollupHour
from schemas.contract import scales

GROUPS = ("counter", "department", "officer", "site")
BUCKETS = ("day", "week", "month", "quarter", "year")
INCLUDABLE = ("suppressed", "test")
# Report columns, best first, as provincial reports print them.
KEY_ORDER = ("very_satisfied", "satisfied", "neutral", "unsatisfied", "very_unsatisfied")
NOBODY = 0  # officer_id / department_id in the rollups when there is none

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


# --- figures --------------------------------------------------------------------------------------


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


@cache
def _columns(keys: frozenset[str]) -> tuple[tuple[str, str, str], ...]:
    """(key, label vi, label en) of report columns, in report order."""
    labels = level_labels()
    return tuple((key, *labels.get(key, (key, key))) for key in ordered_keys(keys))


def figures(counts: Mapping[str, Sequence[int]], keys: Sequence[str] | None = None) -> dict[str, Any]:
    """total, levels [{key, label_vi, label_en, count, share}], satisfied, satisfaction_rate, index.
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
    return {
        "total": total,
        "levels": levels,
        "satisfied": satisfied,
        "satisfaction_rate": round(satisfied / total, 4) if total else None,
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


# --- periods --------------------------------------------------------------------------------------

# The days a question may name. Period arithmetic (the previous period, the bucket around a day)
# must stay inside what `date` holds, and nothing was rated before 1970 or will be after 2999.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def check_day_bounds(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{day} is outside the days this center can have ratings for "
                         f"({FIRST_DAY} to {LAST_DAY})")
    return day


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_end(day: date) -> date:
    return next_month(day) - timedelta(days=1)


def year_start(day: date) -> date:
    return date(day.year, 1, 1)


def next_year(day: date) -> date:
    return date(day.year + 1, 1, 1)


def bucket(day: date, by: str) -> tuple[str, date, date]:
    """The bucket of a local day: (label, first day, last day)."""
    if by == "day":
        return day.isoformat(), day, day
    if by == "week":
        year, week, weekday = day.isocalendar()
        monday = day - timedelta(days=weekday - 1)
        return f"{year}-W{week:02d}", monday, monday + timedelta(days=6)
    if by == "month":
        return f"{day:%Y-%m}", month_start(day), month_end(day)
    if by == "quarter":
        quarter = (day.month - 1) // 3 + 1
        first = date(day.year, 3 * quarter - 2, 1)
        return f"{day.year}-Q{quarter}", first, month_end(date(day.year, 3 * quarter, 1))
    if by == "year":
        return str(day.year), date(day.year, 1, 1), date(day.year, 12, 31)
    raise ValueError(f"unknown bucket {by!r}")


def parse_period(text: str) -> tuple[str, date, date]:
    """'2026-W48' (ISO week), '2026-11' (month), '2026-Q4', '2026' or '2026-11-03' -> (kind, first, last)."""
    text = text.strip()
    try:
        kind, first, last = _parse_period(text)
    except (ValueError, OverflowError):  # OverflowError: the month or week after 9999-12
        raise ValueError(
            f"period {text!r} is not a week (2026-W48), month (2026-11), quarter (2026-Q4), year (2026) or day"
        ) from None
    check_day_bounds(first)
    check_day_bounds(last)
    return kind, first, last


def _parse_period(text: str) -> tuple[str, date, date]:
    if not text.isascii():  # int() reads other scripts' digits ("²", "１")
        raise ValueError
    if "-W" in text:
        year, week = text.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return "week", monday, monday + timedelta(days=6)
    if "-Q" in text:
        year, quarter = text.split("-Q")
        if not 1 <= int(quarter) <= 4:
            raise ValueError
        _, first, last = bucket(date(int(year), 3 * int(quarter), 1), "quarter")
        return "quarter", first, last
    parts = text.split("-")
    if len(parts) == 1 and len(text) == 4:
        return "year", date(int(text), 1, 1), date(int(text), 12, 31)
    if len(parts) == 2 and len(parts[0]) == 4 and len(parts[1]) == 2:
        first = date(int(parts[0]), int(parts[1]), 1)
        return "month", first, month_end(first)
    day = date.fromisoformat(text)
    return "day", day, day


def previous_range(first: date, last: date) -> tuple[date, date]:
    """The period of the same length just before; a whole month's is the previous whole month."""
    if first.day == 1 and last == month_end(last):
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        start = first
        for _ in range(months):
            start = month_start(start - timedelta(days=1))
        return start, first - timedelta(days=1)
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)


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
YEARS = ("rollup_year", "year", year_start, next_year)


def _segments(first: date, last: date, by: str | None) -> list[tuple[str, str, date, date]]:
    """Split [first, last] into (table, time column, first, last) reads: the whole years inside it
    (unless months, quarters, weeks or days are the buckets), the whole months around them, and the
    edge days; a period rollup's bounds are the first days of its first and last period."""
    periods = {"day": (), "week": (), "month": (MONTHS,), "quarter": (MONTHS,)}.get(by or "", (MONTHS, YEARS))
    return _split(first, last, periods)


def _split(first: date, last: date, periods: tuple[tuple[Any, ...], ...]) -> list[tuple[str, str, date, date]]:
    """The whole periods of the coarsest kind inside [first, last], its ends split by the finer kinds."""
    if first > last:
        return []
    if not periods:
        return [("rollup_day", "day", first, last)]
    table, column, start_of, next_start = periods[-1]
    whole_first = first if start_of(first) == first else next_start(first)
    after_whole = next_start(last) if next_start(last) - timedelta(days=1) == last else start_of(last)
    if whole_first >= after_whole:
        return _split(first, last, periods[:-1])
    return [
        *_split(first, whole_first - timedelta(days=1), periods[:-1]),
        (table, column, whole_first, start_of(after_whole - timedelta(days=1))),
        *_split(after_whole, last, periods[:-1]),
    ]


def tally(
    session: Session, *, first: date, last: date, group: str | None, by: str | None, filters: Filters,
    sites: Mapping[int, str | None] | None = None,
) -> dict[tuple[Any, str | None], Counts]:
    """(group key, bucket label) -> counts per scale and level. Group keys: counter code, officer id,
    department id, or site name (sites maps department id -> site)."""
    from collector.rollup_read import read_segments

    return read_segments(
        session.connection(), _segments(first, last, by), group=group, by=by, counters=filters.counters,
        department_ids=filters.department_ids, officer_ids=filters.officer_ids, include=filters.include,
        sites=sites, label_of=(lambda day: bucket(day, by)[0]) if by else None,
    )


def grid(session: Session, *, first: date, last: date, filters: Filters) -> dict[tuple[int, int], Counts]:
    """(ISO weekday 1..7, local hour 0..23) -> counts per scale and level."""
    from collector.rollup_read import read_grid

    return read_grid(session.connection(), first=first, last=last, counters=filters.counters,
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

    def sites(self) -> dict[int, str | None]:
        return {i: d.site for i, d in self.departments.items()}

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


# --- keeping the rollups --------------------------------------------------------------------------


# Every rollup is a sum over this key: a batch is tallied once per distinct key (a few hundred keys
# for thousands of presses under load), then each rollup table gets one upsert row per key without
# its level, which adds to that level's column.
ROLLUP_KEY = ("day", "hour", "counter", "officer_id", "department_id", "scale", "level", "suppressed", "test")
_FLAGS = ("scale", "suppressed", "test")
_KEYED = ("counter", "officer_id", "department_id", *_FLAGS)
ROLLUP_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rollup_day", ("day", *_KEYED)),
    ("rollup_month", ("month", *_KEYED)),
    ("rollup_year", ("year", *_KEYED)),
    ("rollup_hour", ("day", "hour", "counter", "department_id", *_FLAGS)),
)


def rollup_rows(counts: Mapping[tuple[Any, ...], int]) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    """(table, key columns, rows (*key, *counts per level)) for each of ROLLUP_TABLES from a tally over
    ROLLUP_KEY. Rows are sorted, so concurrent collectors take row locks in the same order, and each
    key appears once (one statement may not touch a row twice on PostgreSQL)."""
    per_table: tuple[dict[tuple[Any, ...], list[int]], ...] = ({}, {}, {}, {})
    months: dict[date, date] = {}
    for (day, hour, counter, officer_id, department_id, scale, level, suppressed, test), count in counts.items():
        officer_id = officer_id or NOBODY
        department_id = department_id or NOBODY
        rest = (scale, bool(suppressed), bool(test))
        month = months.get(day)
        if month is None:
            month = months[day] = month_start(day)
        keys = ((day, counter, officer_id, department_id, *rest),
                (month, counter, officer_id, department_id, *rest),
                (month.replace(month=1), counter, officer_id, department_id, *rest),
                (day, hour, counter, department_id, *rest))
        for rows, key in zip(per_table, keys, strict=True):
            numbers = rows.get(key)
            if numbers is None:
                numbers = rows[key] = no_counts()
            numbers[level] += count
    return [
        (table, names, [(*key, *numbers) for key, numbers in sorted(rows.items())])
        for (table, names), rows in zip(ROLLUP_TABLES, per_table, strict=True)
    ]


def add_counts_to_rollups(connection: sa.Connection, counts: Mapping[tuple[Any, ...], int]) -> None:
    """Add a tally over ROLLUP_KEY to every rollup table, in the caller's transaction:
    one prepared upsert per table, executed for many rows (no statement compiled per batch)."""
    from collector.store import upsert_counts

    if not counts:
        return
    for table, names, rows in rollup_rows(counts):
        upsert_counts(connection, table, names, rows)


def add_to_rollups(session: Session, new_presses: Sequence[Mapping[str, Any]], tz_name: str) -> None:
    """Count newly inserted presses (dicts with the press columns) into every rollup table, in the
    caller's transaction."""
    if not new_presses:
        return
    tz = zone(tz_name)
    counts: Tally[tuple[Any, ...]] = Tally(
        (row["day"], row["pressed_at"].astimezone(tz).hour, row["counter"], row["officer_id"] or NOBODY,
         row["department_id"] or NOBODY, row["scale"], row["level"], row["suppressed"], row["test"])
        for row in new_presses
    )
    add_counts_to_rollups(session.connection(), counts)


def fixed_offset_seconds(tz_name: str) -> int | None:
    """The zone's UTC offset if it has been the same since 1980 (Asia/Ho_Chi_Minh: +7 h), else None."""
    tz = zone(tz_name)
    offsets = {
        datetime(year, month, 15, tzinfo=UTC).astimezone(tz).utcoffset()
        for year in range(1980, datetime.now(UTC).year + 2)
        for month in (1, 7)
    }
    if len(offsets) != 1:
        return None
    only = offsets.pop()
    return int(only.total_seconds()) if only is not None else None


def rebuild_rollups(connection: sa.Connection, tz_name: str) -> None:
    """Recount every rollup table from the press table, in SQL."""
    dialect = connection.dialect.name
    # (table, its period, the table it sums, that one's period): a month sums days, a year months
    periods = [("rollup_month", "month", "rollup_day", "day"), ("rollup_year", "year", "rollup_month", "month")]
    for table in ("rollup_hour", *(p[0] for p in periods), "rollup_day"):
        connection.execute(sa.text(f"DELETE FROM {table}"))
    levels = ", ".join(LEVEL_COLUMNS)
    counted = ", ".join(f"SUM(CASE WHEN level = {i} THEN 1 ELSE 0 END)" for i in range(len(LEVEL_COLUMNS)))
    connection.execute(sa.text(
        f"INSERT INTO rollup_day (day, counter, officer_id, department_id, scale, suppressed, test, {levels}) "
        f"SELECT day, counter, COALESCE(officer_id, 0), COALESCE(department_id, 0), scale, suppressed, test, "
        f"{counted} FROM press GROUP BY day, counter, COALESCE(officer_id, 0), COALESCE(department_id, 0), scale, "
        f"suppressed, test"
    ))
    keyed = ", ".join(_KEYED)
    summed = ", ".join(f"SUM({c})" for c in LEVEL_COLUMNS)
    for table, period, source, source_period in periods:
        first_day = (f"date({source_period}, 'start of {period}')" if dialect == "sqlite"
                     else f"CAST(date_trunc('{period}', {source_period}) AS DATE)")
        connection.execute(sa.text(
            f"INSERT INTO {table} ({period}, {keyed}, {levels}) SELECT {first_day}, {keyed}, {summed} "
            f"FROM {source} GROUP BY {first_day}, {keyed}"
        ))
    offset = fixed_offset_seconds(tz_name)
    if dialect == "postgresql":
        hour = "CAST(EXTRACT(HOUR FROM pressed_at AT TIME ZONE :tz) AS SMALLINT)"
    elif offset is not None:
        hour = f"CAST(strftime('%H', pressed_at, '{offset:+d} seconds') AS INTEGER)"
    else:
        _rebuild_hours_in_python(connection, tz_name)
        return
    connection.execute(sa.text(
        f"INSERT INTO rollup_hour (day, hour, counter, department_id, scale, suppressed, test, {levels}) "
        f"SELECT day, {hour}, counter, COALESCE(department_id, 0), scale, suppressed, test, {counted} "
        f"FROM press GROUP BY day, {hour}, counter, COALESCE(department_id, 0), scale, suppressed, test"
    ), {"tz": tz_name})


def _rebuild_hours_in_python(connection: sa.Connection, tz_name: str) -> None:
    from collector.models import Press, UTCDateTime

    tz = zone(tz_name)
    counts: dict[tuple[Any, ...], list[int]] = {}
    columns: list[Any] = [Press.day, Press.pressed_at, Press.counter, Press.department_id, Press.scale, Press.level,
               Press.suppressed, Press.test]
    decode = UTCDateTime().process_result_value
    for day, pressed_at, counter, dept, scale, level, suppressed, test in connection.execute(
        sa.select(*columns)
    ):
        moment = decode(pressed_at, connection.dialect) if isinstance(pressed_at, datetime) else pressed_at
        assert moment is not None
        key = (day, moment.astimezone(tz).hour, counter, dept or NOBODY, scale, suppressed, test)
        counts.setdefault(key, no_counts())[level] += 1
    names = ("day", "hour", "counter", "department_id", *_FLAGS, *LEVEL_COLUMNS)
    if counts:
        connection.execute(sa.insert(RollupHour), [dict(zip(names, (*k, *n))) for k, n in counts.items()])
