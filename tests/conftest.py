"""Shared fixtures: a real Mosquitto, real databases (SQLite and PostgreSQL), a real collector.

Fixtures for anyone's tests (names are the contract):

- free_port()                -> a function returning an unused TCP port on 127.0.0.1
- on_a_free_port(start)      -> start(port) on a free port, again on another while start raises PortTaken
- start_broker(broker_dir)   -> a running collector.broker.Broker on a free port (retried if it is taken)
- stack_dir                  -> tmp data dir laid out like `rating-collector broker setup` does
- broker                     -> BrokerHandle: a running Mosquitto with the collector account;
                                .port, .add_box(box, password) (bound to its box id, as add-box does),
                                .client(user, password) -> connected paho client (a box as its box id)
- pg_server                  -> (session) a throwaway PostgreSQL; fails if PostgreSQL is not installed
- private_pg_server          -> a PostgreSQL of the test's own, which it may .stop(mode) and .start()
- new_pg_database(server)    -> (function) a fresh, empty database URL on that server
- db_url                     -> a fresh, empty database URL, parametrized over sqlite and postgresql
- sqlite_url                 -> a fresh SQLite URL in stack_dir
- engine                     -> SQLAlchemy engine on db_url, migrated to head
- test_registry              -> the registry dict that collector_process loads by default
- collector_process          -> factory: collector_process(db_url=None, registry=test_registry, **env)
                                starts `python -m collector serve` against `broker`, waits for /healthz
                                and returns a CollectorProcess (.url, .token(role), .get(path), .stop(),
                                .kill(), .metric(name)); every started process is stopped at teardown.
- make_press                 -> factory of valid press payload dicts: make_press(box="box-017", seq=1, **fields)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

# The repository's root first on the path, however pytest was started: the tests import the project's
# packages and tests.helpers from there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.broker import COLLECTOR_USER, set_passwords
from tests.helpers.broker import BrokerHandle, start_broker
from tests.helpers.paths import REPO
from tests.helpers.postgres import PgServer, new_pg_database, running_pg_server
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

TEST_REGISTRY: dict[str, Any] = {
    "departments": [{"code": "TP", "name": "Sở Tư pháp"}, {"code": "XD", "name": "Sở Xây dựng"}],
    "counters": [
        {"code": "17", "name": "Quầy 17", "department": "TP", "scale": "sat2"},
        {"code": "18", "name": "Quầy 18", "department": "XD", "scale": "vn3"},
    ],
    "officers": [
        {"code": "cb001", "name": "Nguyễn Văn A", "department": "TP"},
        {"code": "cb002", "name": "Trần Thị B", "department": "XD"},
    ],
    "boxes": [{"box": "box-017", "counter": "17"}, {"box": "box-018", "counter": "18"}],
    "officer_assignments": [
        {"officer": "cb001", "counter": "17", "from": "2020-01-01"},
        {"officer": "cb002", "counter": "18", "from": "2020-01-01"},
    ],
}


@pytest.fixture
def test_registry() -> dict[str, Any]:
    return json.loads(json.dumps(TEST_REGISTRY))


def load_registry_into(url: str, registry: dict[str, Any], tmp: Path) -> None:
    from collector.db import make_engine, session_scope, upgrade
    from collector.registry import load_registry

    path = tmp / f"registry-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(registry), encoding="utf-8")
    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            load_registry(session, path, "Asia/Ho_Chi_Minh")
    finally:
        engine.dispose()


def press_payload(box: str = "box-017", seq: int = 1, **fields: Any) -> dict[str, Any]:
    counter = {"box-017": "17", "box-018": "18"}.get(box, "17")
    payload = {"v": 1, "box": box, "counter": counter, "seq": seq, "boot": 1, "up": 1000 + seq,
               "t": int(time.time() * 1000), "clock": "sync", "scale": "sat2", "level": 1, "flags": [],
               "fw": "0.1.0"}
    payload.update(fields)
    return payload


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


# What uvicorn logs once it listens; with port 0 it names the port the system gave it.
LISTENING = re.compile(r"Uvicorn running on (http://\S+:\d+)")


@dataclass
class CollectorProcess:
    process: subprocess.Popen[bytes]
    db_url: str
    env: dict[str, str]
    log_path: Path
    url: str = ""  # known once it listens
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str = "viewer") -> str:
        if role not in self.tokens:
            from collector.auth import create_token
            from collector.db import make_engine, session_scope

            engine = make_engine(self.db_url)
            with session_scope(engine) as session:
                self.tokens[role] = create_token(session, name=f"test-{role}-{uuid.uuid4().hex[:6]}", role=role)
            engine.dispose()
        return self.tokens[role]

    def get(self, path: str, role: str | None = "viewer", **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(role)}"} if role else {}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=10)

    def metric(self, name: str) -> float:
        """Sum of a Prometheus sample over its labels (0 when absent)."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, the graceful stop; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"collector ignored SIGTERM for {timeout} s:\n{self.log()[-3000:]}")
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: a crash; nothing gets a chance to ack."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def collector_process(
    broker: BrokerHandle, stack_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., CollectorProcess]]:
    started: list[CollectorProcess] = []

    def start(db_url: str | None = None, registry: dict[str, Any] | None = TEST_REGISTRY, **env: Any) -> CollectorProcess:
        url = db_url or f"sqlite:///{stack_dir / 'collector.sqlite3'}"
        if registry:
            load_registry_into(url, registry, tmp_path)
        environment = {
            **os.environ,
            "RATING_DATA_DIR": str(stack_dir),
            "RATING_DATABASE_URL": url,
            "RATING_MQTT_HOST": broker.host,
            "RATING_MQTT_PORT": str(broker.port),
            # Port 0: the collector binds a port of its own and logs it, so no other process can
            # take it between a choice made here and the collector's bind.
            "RATING_HTTP_PORT": "0",
        }
        environment.update({f"RATING_{k.upper()}": str(v) for k, v in env.items()})
        log_path = tmp_path / f"collector-{len(started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "collector", "serve"], env=environment, cwd=REPO,
                                       stdout=log, stderr=subprocess.STDOUT)
        handle = CollectorProcess(process, url, environment, log_path)
        started.append(handle)

        def running() -> None:
            if process.poll() is not None:
                pytest.fail(f"collector exited with {process.returncode}:\n{handle.log()[-3000:]}")

        def listening() -> str | None:
            running()
            found = LISTENING.search(handle.log())
            return found.group(1) if found else None

        def ready() -> bool:
            running()
            return handle.healthy()

        handle.url = wait_until(listening, timeout=30, interval=0.05, what="the collector's HTTP port in its log")
        wait_until(ready, timeout=30, interval=0.05, what="collector /healthz")
        return handle

    yield start
    for handle in started:
        handle.stop()

