"""The collector's one clock. Every timestamp it stores comes from here, timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(moment: datetime, tz_name: str) -> date:
    """The center's calendar day of a moment: reports cut days at local midnight."""
    return moment.astimezone(zone(tz_name)).date()


def local_midnight_utc(day: date, tz_name: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone(tz_name)).astimezone(UTC)
