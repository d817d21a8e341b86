"""`check` tells what it did to the box: a box it could not reset is reported as such (exit 1), never
as "box reset"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.technician import port_of

# A board module whose reset() fails: it raises, or it returns and the box goes on at its REPL.
BROKEN_RESETS = {
    "raises": (b"def reset():\n    raise OSError('reset line not wired')\n", "OSError: reset line not wired"),
    "returns": (b"def reset():\n    pass\n", "the reset returned and the box is still at its REPL"),
}


@pytest.mark.parametrize("how", sorted(BROKEN_RESETS))
def test_a_box_that_did_not_reset_is_not_reported_reset(tech: Any, blank_box: Any, how: str) -> None:
    board, said = BROKEN_RESETS[how]
    box = blank_box(f"r{how}", extra_files={"board.py": board})
    boots = box.boots
    result = tech("check", port_of(box))
    assert result.exit_code == 1, result.output
    assert "box reset" not in result.output
    assert f"did not reset: {said}" in result.stderr, result.stderr
    assert "power-cycle it" in result.stderr
    assert "missing (blank box)" in result.stdout  # the report is still shown
    assert box.boots == boots

    kept = tech("check", "--no-reset", port_of(box))
    assert kept.exit_code == 0, kept.output
    assert "box reset" not in kept.output and "did not reset" not in kept.output


def test_a_blank_box_is_reset(tech: Any, blank_box: Any) -> None:
    box = blank_box("rb")
    boots = box.boots
    result = tech("check", port_of(box))
    assert result.exit_code == 0, result.output
    assert "box reset: it runs its firmware again" in result.stdout
    box.wait_for(lambda: box.boots > boots, timeout=10)
