"""Waiting on a condition variable that the simulator notifies at every event: one way, shared by
the full virtual boxes and the light ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def wait_until(cond: threading.Condition, predicate: Callable[[], Any], timeout: float, who: str) -> Any:
    """predicate()'s first truthy value, re-checked at each notify (and every 0.5 s in case one is
    missed); TimeoutError naming `who` after `timeout` s."""
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{who}: condition not met within {timeout} s")
            cond.wait(min(left, 0.5))
