"""MicroPython code on CPython: the one way host-side tools import the box's own modules (the
technician checks a config.json with firmware/config.py; the simulator's light mode runs
firmware/app.py's Box and reads contacts with simulator/board/simhw.py).

load(folder, *names) imports the named modules from the folder. Their imports of each other
(`import buttons`, app's load("recover")) resolve inside the same folder, and MicroPython's own
names come from stand-ins private to the loaded modules: `micropython` (const, native, viper), and
`time` / `asyncio` with MicroPython's additions (ticks_ms, ticks_us, ticks_add, ticks_diff,
sleep_ms, sleep_us; asyncio.sleep_ms, wait_for_ms) in front of CPython's own. Nothing is added to
sys.modules, sys.path or CPython's modules, so a load gives the same result whatever the process
imported before, and leaves the process as it was.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import time
from collections.abc import Awaitable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, TypeVar

from technician.build import FIRMWARE_DIR

# Ticks wrap at 2**30 like MicroPython's, so the firmware's wrap handling is exercised.
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


def _in_front_of(real: ModuleType, additions: dict[str, Any]) -> ModuleType:
    """A module with MicroPython's `additions`, every other name read from CPython's `real`."""
    module = ModuleType(real.__name__, f"CPython's {real.__name__} with MicroPython's {', '.join(additions)}")
    module.__dict__.update(additions)
    module.__dict__["__getattr__"] = lambda name: getattr(real, name)  # PEP 562: a module's fallback
    return module


def _stand_ins() -> dict[str, ModuleType]:
    micropython = ModuleType("micropython", "CPython stand-in for MicroPython's micropython module")
    micropython.__dict__.update(const=_identity, native=_identity, viper=_identity)
    return {
        "micropython": micropython,
        "time": _in_front_of(time, {"ticks_ms": ticks_ms, "ticks_us": ticks_us, "ticks_add": ticks_add,
                                    "ticks_diff": ticks_diff, "sleep_ms": sleep_ms, "sleep_us": sleep_us}),
        "asyncio": _in_front_of(asyncio, {"sleep_ms": asleep_ms, "wait_for_ms": wait_for_ms}),
    }


def load(folder: Path, *names: str) -> SimpleNamespace:
    """The named modules of `folder` (MicroPython code) imported on CPython, as attributes of
    the result; each load makes fresh modules, shared only among themselves."""
    folder = Path(folder)
    loaded: dict[str, ModuleType] = _stand_ins()
    own_builtins = {**builtins.__dict__}

    def import_module(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                      level: int = 0) -> ModuleType:
        if level == 0 and name in loaded:
            return loaded[name]
        path = folder / f"{name}.py"
        if level != 0 or "." in name or not path.is_file():
            return builtins.__import__(name, globals, locals, fromlist, level)  # CPython's json, os, ...
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        module.__dict__["__builtins__"] = own_builtins  # its `import x` and __import__() come here
        loaded[name] = module  # before it runs, as sys.modules would: startup and app import each other
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del loaded[name]
            raise
        return module

    own_builtins["__import__"] = import_module
    return SimpleNamespace(**{name: import_module(name) for name in names})


def load_firmware(*names: str, firmware_dir: Path = FIRMWARE_DIR) -> SimpleNamespace:
    """Modules of the box's firmware (firmware/*.py by default) on CPython."""
    return load(firmware_dir, *names)
