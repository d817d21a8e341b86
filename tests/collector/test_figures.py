"""Rates come with how sure they are: the Wilson 95% interval, a few-ratings mark, and rankings on it."""

from __future__ import annotations

import pytest

from collector.figures import FEW_RATINGS, figures, ranking_key, wilson_interval


@pytest.mark.parametrize(
    ("satisfied", "total", "low", "high"),
    [
        # Reference values of the Wilson score interval at 95% (z = 1.96).
        (3, 3, 0.4385, 1.0),
        (0, 10, 0.0, 0.2775),
        (50, 100, 0.4038, 0.5962),
        (297, 300, 0.9710, 0.9966),
    ],
)
def test_the_interval_is_wilsons(satisfied: int, total: int, low: float, high: float) -> None:
    interval = wilson_interval(satisfied, total)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=1e-4)
    assert interval[1] == pytest.approx(high, abs=1e-4)


def test_no_ratings_have_no_interval_and_are_few() -> None:
    empty = figures({"sat2": [0, 0]})
    assert (empty["total"], empty["rate_low"], empty["rate_high"], empty["few_ratings"]) == (0, None, None, True)
    assert wilson_interval(0, 0) is None


def test_figures_carry_the_interval_and_mark_few_ratings() -> None:
    # sat2: level 0 unsatisfied, level 1 satisfied.
    few = figures({"sat2": [0, FEW_RATINGS - 1]})
    enough = figures({"sat2": [1, FEW_RATINGS - 1]})
    assert few["few_ratings"] is True and enough["few_ratings"] is False
    assert few["rate_low"] < few["satisfaction_rate"] <= few["rate_high"] == 1.0
    assert enough["rate_low"] < enough["satisfaction_rate"] < enough["rate_high"]


def test_three_at_100_percent_do_not_outrank_three_hundred_at_99() -> None:
    three = figures({"sat2": [0, 3]})
    three_hundred = figures({"sat2": [3, 297]})
    nobody = figures({"sat2": [0, 0]})
    assert three["satisfaction_rate"] > three_hundred["satisfaction_rate"]
    ranked = sorted([three, nobody, three_hundred], key=ranking_key, reverse=True)
    assert ranked == [three_hundred, three, nobody]
