"""When the weekly and monthly reports are due: each closed week and month, once.

The report of a week is due on the Monday after it, and that of a month on the 1st after it, from
the send time of that day on, in the center's zone. A server that was off sends what it missed once
it is back, oldest first: every period whose send moment passed since the schedule began (so a new
installation does not mail a year of old reports), at most MAX_CATCH_UP of each kind. Which periods
went out already is the caller's record; this module only says what is due.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from collector.clock import as_utc, local_time
from collector.periods import bucket, month_start

KINDS = ("week", "month")
# After a long outage, the most recent reports of each kind are the ones still worth sending.
MAX_CATCH_UP = 6


@dataclass(frozen=True)
class DueReport:
    kind: str  # week | month
    period: str  # 2026-W48 | 2026-11
    send_from: datetime  # UTC: the moment it became due


def _send_days(kind: str, today: date) -> Iterator[date]:
    """The days a report of this kind goes out, from the latest on or before today, backwards."""
    if kind == "week":
        day = today - timedelta(days=today.weekday())
        while True:
            yield day
            day -= timedelta(days=7)
    elif kind == "month":
        day = month_start(today)
        while True:
            yield day
            day = month_start(day - timedelta(days=1))
    else:
        raise ValueError(f"reports are sent per {' or '.join(KINDS)}, not per {kind!r}")


def due_reports(
    now: datetime,
    tz_name: str,
    send_at: time,
    began: datetime,
    sent: Collection[tuple[str, str]],
    kinds: Collection[str] = KINDS,
) -> list[DueReport]:
    """The reports due at `now` (UTC) and not in `sent` ((kind, period) pairs), oldest first.
    `began`: when the schedule was switched on (UTC); nothing due before it is sent."""
    today = local_time(now, tz_name).date()
    due: list[DueReport] = []
    for kind in kinds:
        found = 0
        for day in _send_days(kind, today):
            send_from = as_utc(datetime.combine(day, send_at), tz_name)
            if send_from > now:
                continue  # today's send time has not come yet
            if send_from < began or found == MAX_CATCH_UP:
                break
            found += 1
            period, _, _ = bucket(day - timedelta(days=1), kind)
            if (kind, period) not in sent:
                due.append(DueReport(kind, period, send_from))
    return sorted(due, key=lambda report: (report.send_from, report.kind))
