"""How a date range is read from the rollups: whole years from rollup_year, the whole months around
them from rollup_month, edge days from rollup_day, and never a coarser period than the buckets."""

from __future__ import annotations

from datetime import date

import pytest

from collector.satisfaction import _segments

D = date


@pytest.mark.parametrize(
    ("first", "last", "by", "reads"),
    [
        (D(2026, 1, 1), D(2026, 12, 31), None, [("rollup_year", D(2026, 1, 1), D(2026, 1, 1))]),
        (D(2024, 1, 1), D(2026, 12, 31), "year", [("rollup_year", D(2024, 1, 1), D(2026, 1, 1))]),
        (D(2025, 12, 20), D(2027, 2, 3), None, [
            ("rollup_day", D(2025, 12, 20), D(2025, 12, 31)),
            ("rollup_year", D(2026, 1, 1), D(2026, 1, 1)),
            ("rollup_month", D(2027, 1, 1), D(2027, 1, 1)),
            ("rollup_day", D(2027, 2, 1), D(2027, 2, 3)),
        ]),
        (D(2025, 11, 1), D(2027, 1, 31), None, [
            ("rollup_month", D(2025, 11, 1), D(2025, 12, 1)),
            ("rollup_year", D(2026, 1, 1), D(2026, 1, 1)),
            ("rollup_month", D(2027, 1, 1), D(2027, 1, 1)),
        ]),
        # months as buckets: a year is twelve months, each labelled
        (D(2026, 1, 1), D(2026, 12, 31), "month", [("rollup_month", D(2026, 1, 1), D(2026, 12, 1))]),
        (D(2026, 1, 1), D(2026, 12, 31), "quarter", [("rollup_month", D(2026, 1, 1), D(2026, 12, 1))]),
        (D(2026, 1, 1), D(2026, 12, 31), "week", [("rollup_day", D(2026, 1, 1), D(2026, 12, 31))]),
        # no whole year, no whole month
        (D(2026, 2, 10), D(2026, 3, 5), None, [("rollup_day", D(2026, 2, 10), D(2026, 3, 5))]),
        (D(2026, 1, 15), D(2026, 12, 31), None, [
            ("rollup_day", D(2026, 1, 15), D(2026, 1, 31)),
            ("rollup_month", D(2026, 2, 1), D(2026, 12, 1)),
        ]),
        (D(2026, 2, 28), D(2026, 2, 28), None, [("rollup_day", D(2026, 2, 28), D(2026, 2, 28))]),
    ],
)
def test_a_range_is_read_from_the_coarsest_whole_periods(first: date, last: date, by: str | None,
                                                         reads: list[tuple[str, date, date]]) -> None:
    assert [(table, lo, hi) for table, _, lo, hi in _segments(first, last, by)] == reads
