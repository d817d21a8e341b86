"""The servers the tests start never lose a race for a port: a port chosen free may be taken by
another process before the server binds it (another pytest-xdist worker's server, anyone's outgoing
connection). Each test here hands the fixtures a port that another socket holds, as such a race
would, and the server comes up anyway."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.helpers import ports, postgres


def hold(listen: bool) -> socket.socket:
    """A socket on a port of its own: bound only (like a server between bind and listen, or a
    client's source port) or listening (another server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    if listen:
        sock.listen()
    return sock


@pytest.fixture(params=["bound", "listening"])
def held(request: pytest.FixtureRequest) -> Iterator[int]:
    with hold(request.param == "listening") as sock:
        yield sock.getsockname()[1]


def taken_first(monkeypatch: pytest.MonkeyPatch, port: int) -> list[int]:
    """Make the fixtures' next choice of a free port `port`; returns every port they chose."""
    chosen: list[int] = []
    free = ports.unused_port

    def choose() -> int:
        chosen.append(port if not chosen else free())
        return chosen[-1]

    monkeypatch.setattr(ports, "unused_port", choose)
    return chosen


def test_broker_comes_up_on_another_port_when_its_first_is_taken(
    held: int, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    chosen = taken_first(monkeypatch, held)
    broker = request.getfixturevalue("broker")
    assert chosen[0] == held and broker.port == chosen[-1] != held
    broker.client("collector", broker.collector_password)  # fails the test unless it connects


def test_collector_binds_a_port_of_its_own(
    broker: Any, collector_process: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every port the fixtures could choose is taken, and the collector still comes up: it takes
    port 0 and the fixture reads the port it got from its log."""
    with hold(listen=False) as sock:
        monkeypatch.setattr(ports, "unused_port", lambda: sock.getsockname()[1])
        collector = collector_process()
        assert collector.env["RATING_HTTP_PORT"] == "0"
        assert collector.get("/healthz", role=None).status_code == 200
        assert not collector.url.endswith(f":{sock.getsockname()[1]}")


def test_postgresql_comes_up_on_another_port_when_its_first_is_taken(
    held: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = taken_first(monkeypatch, held)
    with postgres.running_pg_server() as server:
        assert chosen[0] == held and server.port == chosen[-1] != held
        with psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres") as db:
            assert db.execute("SELECT 1").fetchone() == (1,)


def test_a_server_failing_for_another_reason_is_not_retried() -> None:
    """Only a lost port is worth another try: any other failure is the test's to see at once."""
    tries: list[int] = []

    def start(port: int) -> None:
        tries.append(port)
        raise RuntimeError("bad configuration")

    with pytest.raises(RuntimeError, match="bad configuration"):
        ports.on_a_free_port(start)
    assert len(tries) == 1
