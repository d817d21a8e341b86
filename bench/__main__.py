"""`make bench`: run every benchmark of the project and print one table."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any

from bench import Row, print_table

BENCHMARKS = ["firmware", "simulator", "collector", "queries", "fuzz", "load", "alerts", "reports", "ota", "dashboard"]


def _as_row(item: Row | tuple[Any, ...]) -> Row:
    """Some benchmarks give rows as plain (name, figure, target, unit, ok) tuples."""
    if isinstance(item, Row):
        return item
    name, figure, target, unit, ok = item
    return Row(str(name), figure, None if target is None else str(target), str(unit), ok)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", metavar="NAME", help=f"run only these, of: {', '.join(BENCHMARKS)}")
    names = parser.parse_args().only or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    everything: list[Row] = []
    for name in names:
        started = time.monotonic()
        print(f"== bench.{name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        rows = [_as_row(r) for r in module.main()]
        everything += [Row(f"{name}: {r.name}", r.figure, r.target, r.unit, r.ok) for r in rows]
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    print_table("All benchmarks", everything)
    return 1 if any(r.ok is False for r in everything) else 0


if __name__ == "__main__":
    sys.exit(main())
