"""Periods of local days: the buckets a figure is given by, a period's name, the period before."""

from __future__ import annotations

from datetime import date, timedelta

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
