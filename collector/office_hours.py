"""The center's office hours (local time): whether a moment falls in them, and how many office minutes
lie between two moments. A box silent at night is not silent; an alert at night reaches nobody."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from collector.clock import zone

# Typical hours of a one-stop center (domain notes): mornings and afternoons, Monday to Friday.
OFFICE_HOURS: tuple[tuple[time, time], ...] = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))
OFFICE_DAYS = frozenset(range(5))  # Monday..Friday
LOOKBACK_DAYS = 31  # silence is counted up to this far back (a box dead for months is just "silent")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OfficeHours:
    periods: tuple[tuple[time, time], ...] = OFFICE_HOURS  # local opening and closing times of each day
    days: frozenset[int] = OFFICE_DAYS  # weekdays, 0 = Monday

    @classmethod
    def parse(cls, periods: str, days: str) -> OfficeHours:
        """From "07:30-11:30,13:30-17:00" (24:00 closes at midnight) and "mon,tue,wed,thu,fri"."""
        spans = []
        for part in (p.strip() for p in periods.split(",") if p.strip()):
            opens, _, closes = part.partition("-")
            try:
                start = time.fromisoformat(opens.strip())
                end = time.max if closes.strip() == "24:00" else time.fromisoformat(closes.strip())
            except ValueError:
                raise ValueError(f"office hours {part!r}: write HH:MM-HH:MM") from None
            if end <= start:
                raise ValueError(f"office hours {part!r}: closes before it opens")
            spans.append((start, end))
        weekdays = set()
        for name in (d.strip().lower() for d in days.split(",") if d.strip()):
            if name not in DAY_NAMES:
                raise ValueError(f"office day {name!r}: one of {', '.join(DAY_NAMES)}")
            weekdays.add(DAY_NAMES.index(name))
        return cls(tuple(spans), frozenset(weekdays))

    def contains(self, moment: datetime, tz_name: str) -> bool:
        local = moment.astimezone(zone(tz_name))
        now = local.time()
        return local.weekday() in self.days and any(opens <= now < closes for opens, closes in self.periods)


STANDARD = OfficeHours()


def office_minutes(since: datetime, until: datetime, tz_name: str, hours: OfficeHours = STANDARD,
                   lookback_days: int | None = LOOKBACK_DAYS) -> int:
    """Minutes of office hours (local time) between two moments, counted back at most lookback_days
    (None: the whole span, as a report's period needs)."""
    tz = zone(tz_name)
    start = (since if lookback_days is None else max(since, until - timedelta(days=lookback_days))).astimezone(tz)
    end = until.astimezone(tz)
    total = 0.0
    day = start.date()
    while day <= end.date():
        if day.weekday() in hours.days:
            for opens, closes in hours.periods:
                lo = max(start, datetime.combine(day, opens, tz))
                hi = min(end, datetime.combine(day, closes, tz))
                if hi > lo:
                    total += (hi - lo).total_seconds() / 60
        day += timedelta(days=1)
    return int(total)
