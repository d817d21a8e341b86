"""`check` tells what it did to the box: a box it could not reset is reported as such (exit 1), never
as "box reset"."""

from __future__ import annotations

from typing import Any

from techtools import port_of


def test_a_box_that_did_not_reset_is_not_reported_reset(tech: Any, blank_box: Any) -> None:
    # A blank virtual box has no board module and the unix port's machine module has no reset():
    # the reset raises at the box's REPL, and the box stays there.
    box = blank_box("r")
    boots = box.boots
    result = tech("check", port_of(box))
    assert result.exit_code == 1, result.output
    assert "box reset" not in result.output
    assert "did not reset" in result.stderr and "reset" in result.stderr.split("did not reset:", 1)[1], result.stderr
    assert "power-cycle it" in result.stderr
    assert "config.json" in result.stdout and "missing (blank box)" in result.stdout  # the report is still shown
    assert box.boots == boots

    kept = tech("check", "--no-reset", port_of(box))
    assert kept.exit_code == 0, kept.output
    assert "box reset" not in kept.output and "did not reset" not in kept.output
