"""The collector's one clock. Every timestamp it stores comes from here, timezone-aware UTC, and
every local day and hour (the center's zone, RATING_TIMEZONE) is worked out here: in Python, per
press without a conversion each (LocalClock), or in SQL (local_hour_sql)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_QUARTER_US = 900 * 1_000_000  # every UTC offset in use is a multiple of 15 minutes


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


def local_time(moment: datetime, tz_name: str) -> datetime:
    """A moment on the center's wall clock, to show it."""
    return moment.astimezone(zone(tz_name))


def as_utc(moment: datetime, tz_name: str) -> datetime:
    """A moment as UTC; one written without an offset is read as the center's local time."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone(tz_name))).astimezone(UTC)


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


def local_hour_sql(dialect: str, column: str, tz_name: str) -> str | None:
    """SQL for the local hour (0..23) of a UTC time column; PostgreSQL takes the zone as the
    parameter :tz. None on SQLite for a zone whose offset has changed since 1980: it has no zones,
    only a fixed offset to add."""
    if dialect == "postgresql":
        return f"CAST(EXTRACT(HOUR FROM {column} AT TIME ZONE :tz) AS SMALLINT)"
    offset = fixed_offset_seconds(tz_name)
    if offset is None:
        return None
    return f"CAST(strftime('%H', {column}, '{offset:+d} seconds') AS INTEGER)"


class LocalClock:
    """Local day and hour of UTC instants in one zone. The zone's offset is looked up once per
    15-minute slice of UTC time (and only trusted when it is the same at both ends of the slice),
    so a batch of presses costs a few dictionary look-ups instead of one astimezone() each."""

    def __init__(self, tz_name: str):
        self.tz = zone(tz_name)
        self._offsets: dict[int, int | None] = {}
        self._days: dict[int, date] = {}

    def day_hour(self, us: int) -> tuple[date, int]:
        quarter = us // _QUARTER_US
        offset = self._offsets.get(quarter, -1)
        if offset == -1:
            first = (EPOCH + timedelta(microseconds=quarter * _QUARTER_US)).astimezone(self.tz).utcoffset()
            last = (EPOCH + timedelta(microseconds=(quarter + 1) * _QUARTER_US - 1)).astimezone(self.tz).utcoffset()
            offset = first // _US if first is not None and first == last else None
            if len(self._offsets) > 10_000:
                self._offsets.clear()
            self._offsets[quarter] = offset
        if offset is None:  # a slice holding a zone transition: convert this one exactly
            local = (EPOCH + timedelta(microseconds=us)).astimezone(self.tz)
            return local.date(), local.hour
        local_us = us + offset
        number = local_us // 86_400_000_000
        day = self._days.get(number)
        if day is None:
            if len(self._days) > 10_000:
                self._days.clear()
            day = self._days[number] = date(1970, 1, 1) + timedelta(days=number)
        return day, (local_us // 3_600_000_000) % 24


@cache
def local_clock(tz_name: str) -> LocalClock:
    """The LocalClock of a zone, kept: its caches serve every batch."""
    return LocalClock(tz_name)
