"""The collector's one clock. Every timestamp it stores comes from here, timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def utc_us(moment: datetime) -> int:
    """Microseconds since 1970 UTC, exactly (the store's times are integers until written)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; use collector.clock")
    return (moment - EPOCH) // _US


def from_utc_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_day(moment: datetime, tz_name: str) -> date:
    """The center's calendar day of a moment: reports cut days at local midnight."""
    return moment.astimezone(zone(tz_name)).date()


def local_midnight_utc(day: date, tz_name: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone(tz_name)).astimezone(UTC)


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
