"""What the firmware needs from MicroPython, on CPython: time.ticks_ms/ticks_us/ticks_add/ticks_diff/
sleep_ms/sleep_us, asyncio.sleep_ms/wait_for_ms and the micropython module (const, native, viper).

install() only adds names CPython lacks (it never replaces one), so the rest of the process is
unaffected. Ticks wrap at 2**30 like MicroPython's, so the firmware's wrap handling is exercised.
"""

from __future__ import annotations

import asyncio
import sys
import time
import types
from collections.abc import Awaitable
from typing import Any, TypeVar

TICKS_PERIOD = 1 << 30
TICKS_HALF = TICKS_PERIOD // 2
T = TypeVar("T")


def ticks_ms() -> int:
    return (time.monotonic_ns() // 1_000_000) % TICKS_PERIOD


def ticks_us() -> int:
    return (time.monotonic_ns() // 1_000) % TICKS_PERIOD


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) % TICKS_PERIOD


def ticks_diff(a: int, b: int) -> int:
    return (a - b + TICKS_HALF) % TICKS_PERIOD - TICKS_HALF


def sleep_ms(ms: int) -> None:
    time.sleep(ms / 1000)


def sleep_us(us: int) -> None:
    time.sleep(us / 1_000_000)


async def asleep_ms(ms: int) -> None:
    await asyncio.sleep(ms / 1000)


async def wait_for_ms(aw: Awaitable[T], ms: int) -> T:
    return await asyncio.wait_for(aw, ms / 1000)


def _identity(x: Any) -> Any:
    return x


def install() -> None:
    missing_from_time: dict[str, Any] = {"ticks_ms": ticks_ms, "ticks_us": ticks_us, "ticks_add": ticks_add,
                                         "ticks_diff": ticks_diff, "sleep_ms": sleep_ms, "sleep_us": sleep_us}
    missing_from_asyncio: dict[str, Any] = {"sleep_ms": asleep_ms, "wait_for_ms": wait_for_ms}
    for module, functions in ((time, missing_from_time), (asyncio, missing_from_asyncio)):
        for name, fn in functions.items():
            if not hasattr(module, name):
                setattr(module, name, fn)
    if "micropython" not in sys.modules:
        mp = types.ModuleType("micropython", "CPython stand-in for MicroPython's micropython module")
        mp.const = _identity  # type: ignore[attr-defined]
        mp.native = mp.viper = _identity  # type: ignore[attr-defined]
        sys.modules["micropython"] = mp
