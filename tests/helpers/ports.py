"""Free TCP ports for the servers the tests start, and what to do when one is taken first."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def unused_port() -> int:
    """A TCP port free on loopback now, for a server a test starts (with on_a_free_port: it may be
    taken before the server binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortTaken(Exception):
    """A server could not bind the port it was given: another process holds it."""


def port_taken(port: int, said: str) -> bool:
    """Did a server that failed to start on `port`, saying `said` (its error and log), lose it to
    another process? Either it says so, or the port cannot be bound now."""
    if "already in use" in said.lower():
        return True
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def on_a_free_port(start: Callable[[int], T], attempts: int = 5) -> T:
    """start(port) on a port unused_port() chose, and on another while start raises PortTaken.

    A port free when chosen may be taken before the server binds it: by another pytest-xdist
    worker's server, or as the source port of anyone's outgoing connection. Servers that can bind
    port 0 and report the port they got (the collector, Chromium) do that instead."""
    taken: list[int] = []
    for _ in range(attempts):
        port = unused_port()
        try:
            return start(port)
        except PortTaken:
            taken.append(port)
    pytest.fail(f"each port chosen for a server was taken before it could bind it: {taken}")


def log_size(path: Path) -> int:
    """Where a server's log ends now: what it writes from here on is log_since(path, log_size(path))."""
    return path.stat().st_size if path.exists() else 0


def log_since(path: Path, offset: int) -> str:
    """What a server logged after `offset`, to tell a lost port from another failure."""
    if not path.exists():
        return ""
    with open(path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")
