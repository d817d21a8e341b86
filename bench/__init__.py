"""Benchmarks: each module measures figures against their budgets or baselines in the same run.

Every benchmark module has `main() -> list[Row]`; `python -m bench` runs them all and prints one table.
Benchmarks are not tests: they print figures, and exit non-zero only when a figure misses its target.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    name: str
    figure: float
    target: str | None  # e.g. "<= 100" or ">= 0.7"; None for a figure without a target
    unit: str
    ok: bool | None  # None when there is no target


def print_table(title: str, rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("measurement", "figure", "target", "unit", ""):
        table.add_column(column)
    for row in rows:
        mark = "" if row.ok is None else ("ok" if row.ok else "MISSED")
        table.add_row(row.name, f"{row.figure:,.3g}" if isinstance(row.figure, float) else f"{row.figure:,}",
                      row.target or "", row.unit, mark)
    Console().print(table)


def free_port() -> int:
    """A TCP port free on loopback now (for a broker, a server or a database the bench starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
