"""Shared fixtures: a real Mosquitto, real databases (SQLite and PostgreSQL), a real collector.
The functions and classes they are built on live in tests/helpers/ (e.g. tests.helpers.ports'
on_a_free_port, tests.helpers.broker's start_broker, tests.helpers.postgres' new_pg_database).

Fixtures for anyone's tests (names are the contract):

- refusing_port              -> a loopback port where every connection is refused, for the whole test
- wait_for                   -> wait_for(condition, timeout=10, what="...") polls until condition() is truthy
- stack_dir                  -> tmp data dir laid out like `rating-collector broker setup` does
- broker                     -> BrokerHandle: a running Mosquitto with the collector account;
                                .port, .add_box(box, password) (bound to its box id, as add-box does),
                                .client(user, password) -> connected paho client (a box as its box id)
- pg_server                  -> (session) a throwaway PostgreSQL; fails if PostgreSQL is not installed
- private_pg_server          -> a PostgreSQL of the test's own, which it may .stop(mode) and .start()
- db_url                     -> a fresh, empty database URL, parametrized over sqlite and postgresql
- sqlite_url                 -> a fresh SQLite URL in stack_dir
- engine                     -> SQLAlchemy engine on db_url, migrated to head
- test_registry              -> the registry dict that collector_process loads by default
- registered                 -> engine with test_registry loaded (the center's zone, Asia/Ho_Chi_Minh)
- collector_process          -> factory: collector_process(db_url=None, registry=test_registry, **env)
                                starts `python -m collector serve` against `broker`, waits for /healthz
                                and returns a CollectorProcess (.url, .token(role), .get(path), .stop(),
                                .kill(), .metric(name)); every started process is stopped at teardown.
- make_press                 -> factory of valid press payload dicts: make_press(box="box-017", seq=1, **fields)
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The repository's root first on the path, however pytest was started: the tests import the project's
# packages and tests.helpers from there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.broker import COLLECTOR_USER, set_passwords
from tests.helpers.broker import BrokerHandle, start_broker
from tests.helpers.collector import CollectorProcess, launch_collector
from tests.helpers.postgres import PgServer, new_pg_database, running_pg_server
from tests.helpers.presses import press_payload
from tests.helpers.registry import TEST_REGISTRY, load_registry_into
from tests.helpers.waiting import wait_until


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port where every connection is refused, for the whole test: bound and never
    listened on, so no other process can take it meanwhile (a port merely free now could be)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """wait_for(condition, timeout=10, what="...") polls until condition() is truthy."""
    return wait_until


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with running_pg_server() as server:
        yield server


@pytest.fixture
def private_pg_server() -> Iterator[PgServer]:
    """A PostgreSQL of this test's own, which it may stop and start (.stop(mode), .start())."""
    with running_pg_server() as server:
        yield server


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    # Not under tmp_path: pytest makes that 0700 for root, and Mosquitto started as root drops to
    # the 'mosquitto' user, which must reach its files.
    root = Path(tempfile.mkdtemp(prefix="rating-stack-"))
    root.chmod(0o755)
    data = root / "data"
    (data / "secrets").mkdir(parents=True)
    data.chmod(0o755)
    try:
        yield data
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def sqlite_url(stack_dir: Path) -> str:
    return f"sqlite:///{stack_dir / 'collector.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, stack_dir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{stack_dir / 'collector.sqlite3'}"
    return new_pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    from collector.db import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


# --- registry and payloads ---------------------------------------------------------------------


@pytest.fixture
def test_registry() -> dict[str, Any]:
    return json.loads(json.dumps(TEST_REGISTRY))


@pytest.fixture
def registered(engine: Any, test_registry: dict[str, Any], tmp_path: Path) -> Any:
    """The engine with test_registry loaded, as `rating-collector registry load` does."""
    from collector.db import session_scope
    from collector.registry import load_registry

    path = tmp_path / "registry.json"
    path.write_text(json.dumps(test_registry), encoding="utf-8")
    with session_scope(engine) as session:
        load_registry(session, path, "Asia/Ho_Chi_Minh")
    return engine


@pytest.fixture
def make_press() -> Callable[..., dict[str, Any]]:
    return press_payload


# --- broker -------------------------------------------------------------------------------------


@pytest.fixture
def broker(stack_dir: Path) -> Iterator[BrokerHandle]:
    from collector.cli import ensure_password_file

    password_file = stack_dir / "secrets" / "mqtt-collector.password"
    ensure_password_file(password_file)
    password = password_file.read_text().strip()
    set_passwords(stack_dir / "broker", {COLLECTOR_USER: password})
    instance = start_broker(stack_dir / "broker")
    handle = BrokerHandle(instance, stack_dir, password)
    try:
        yield handle
    finally:
        for client in handle.clients:
            client.disconnect()
            client.loop_stop()
        instance.stop()


# --- collector ----------------------------------------------------------------------------------


@pytest.fixture
def collector_process(
    broker: BrokerHandle, stack_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., CollectorProcess]]:
    started: list[CollectorProcess] = []

    def start(db_url: str | None = None, registry: dict[str, Any] | None = TEST_REGISTRY, **env: Any) -> CollectorProcess:
        url = db_url or f"sqlite:///{stack_dir / 'collector.sqlite3'}"
        if registry:
            load_registry_into(url, registry, tmp_path)
        handle = launch_collector(url, stack_dir, broker, tmp_path / f"collector-{len(started)}.log", **env)
        started.append(handle)
        handle.wait_ready()
        return handle

    yield start
    for handle in started:
        handle.stop()

