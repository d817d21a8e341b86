"""Weekly and monthly reports are due once each, on the center's days, and missed ones catch up."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from collector.report_schedule import MAX_CATCH_UP, due_reports

TZ = "Asia/Ho_Chi_Minh"  # UTC+7
SEND_AT = time(7, 30)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def local(text: str) -> datetime:
    """A local wall-clock time in the center, as UTC."""
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


def due(now: str, sent: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
        began: datetime | None = None) -> list[tuple[str, str]]:
    found = due_reports(local(now), TZ, SEND_AT, began or local("2026-11-20T00:00"), sent)
    return [(report.kind, report.period) for report in found]


def test_the_week_before_is_due_on_monday_from_the_send_time_in_the_centers_zone() -> None:
    # Monday 2026-11-30 07:30 local is Monday 00:30 UTC; at 07:29 local only older periods are due.
    sent = {("week", "2026-W47"), ("month", "2026-10")}
    assert due("2026-11-30T07:29", sent) == []
    assert due("2026-11-30T07:30", sent) == [("week", "2026-W48")]
    # Still due later that day until it is sent, and then not again.
    assert due("2026-11-30T15:00", sent) == [("week", "2026-W48")]
    assert due("2026-11-30T15:00", sent | {("week", "2026-W48")}) == []


def test_the_month_before_is_due_on_the_first() -> None:
    sent = {("week", "2026-W47"), ("week", "2026-W48"), ("month", "2026-10")}
    assert due("2026-12-01T07:00", sent) == []
    assert due("2026-12-01T08:00", sent) == [("month", "2026-11")]


def test_a_server_that_was_off_sends_what_it_missed_oldest_first_once() -> None:
    # Switched on 2026-11-01; off from before 2026-11-16 until Thursday 2026-12-03.
    began = local("2026-11-01T00:00")
    sent = {("month", "2026-10"), ("week", "2026-W44"), ("week", "2026-W45")}  # until Monday 2026-11-09
    assert due("2026-12-03T10:00", sent, began) == [
        ("week", "2026-W46"), ("week", "2026-W47"), ("week", "2026-W48"), ("month", "2026-11"),
    ]


def test_a_new_schedule_sends_nothing_from_before_it_began() -> None:
    began = local("2026-12-02T09:00")
    assert due("2026-12-02T10:00", began=began) == []
    assert due("2026-12-07T07:31", began=began) == [("week", "2026-W49")]


def test_a_long_outage_catches_up_only_the_latest_reports() -> None:
    found = due("2026-12-03T10:00", began=LONG_AGO)
    weeks = [period for kind, period in found if kind == "week"]
    months = [period for kind, period in found if kind == "month"]
    assert len(weeks) == len(months) == MAX_CATCH_UP
    assert weeks[-1] == "2026-W48" and months[-1] == "2026-11"


def test_the_iso_week_of_new_year() -> None:
    # Monday 2027-01-04 reports ISO week 2026-W53 (Monday 2026-12-28 to Sunday 2027-01-03).
    sent = {("month", "2026-12")}
    assert due("2027-01-04T08:00", sent, began=local("2027-01-01T00:00")) == [("week", "2026-W53")]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="per week or month"):
        due_reports(local("2026-12-03T10:00"), TZ, SEND_AT, LONG_AGO, set(), kinds=("day",))
