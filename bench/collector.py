"""Collector ingest: backlog drain against a bare subscriber, and press-to-commit latency.

Everything real: Mosquitto with the project's generated configuration (persistence saved on
changes), the collector's own `Ingest` (manual acks after commit), SQLite with synchronous=FULL and
PostgreSQL with its durable defaults (fsync=on, synchronous_commit=on).

1. bare drain: a paho subscriber that only counts (auto-ack) drains a 100,000-message QoS 1 backlog
   queued for its persistent session; msg/s from connect to the last message.
2. collector drain into SQLite: the same backlog (same presses, queued for the collector's session)
   drained by the collector: msg/s from connect to the last commit. Target: >= 0.7 of the bare rate,
   measured in the same run.
3. latency: 60 boxes, each pressing every 3 s on average (exponential gaps), for --latency-s
   seconds: from each box's PUBLISH to the commit of the batch holding the press. Target p99 < 50 ms.
4. the drain of step 2 into PostgreSQL.

    python -m bench.collector                    # ~2-3 minutes on 2 cores
    python -m bench.collector --messages 20000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench import Row, free_port, print_table
from bench.postgres import Postgres
from collector.broker import COLLECTOR_USER, Broker, bind_client_ids, set_passwords
from collector.db import make_engine, session_scope, upgrade
from collector.ingest import Ingest
from collector.messages import Inbound
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import BatchResult

BOXES = 60
PRESS_EVERY_S = 3.0
TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0


def box_name(i: int) -> str:
    return f"box-{i + 1:02d}"


def registry() -> dict[str, Any]:
    return {
        "departments": [{"code": "D1", "name": "Bench"}],
        "counters": [{"code": f"c{i + 1:02d}", "name": f"Counter {i + 1}", "department": "D1", "scale": "sat2"}
                     for i in range(BOXES)],
        "boxes": [{"box": box_name(i), "counter": f"c{i + 1:02d}"} for i in range(BOXES)],
    }


def press(i: int, seq: int, rng: random.Random) -> bytes:
    body = {"v": 1, "box": box_name(i), "counter": f"c{i + 1:02d}", "seq": seq, "boot": 1, "up": 1000 + seq,
            "t": int(time.time() * 1000), "clock": "sync", "scale": "sat2", "level": rng.randrange(2), "flags": [],
            "fw": "0.1.0"}
    return json.dumps(body, separators=(",", ":")).encode()


class Fleet:
    """One paho client per box, connected as the box: its box id is its client id, the only one its
    account may use (collector.broker.bind_client_ids), and the ACL lets it publish only under its
    own topics."""

    def __init__(self, port: int, passwords: dict[str, str]):
        self.clients: dict[str, mqtt.Client] = {}
        for box, password in passwords.items():
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=box)
            client.username_pw_set(box, password)
            client.max_inflight_messages_set(1000)
            client.max_queued_messages_set(0)
            connected, refused = threading.Event(), list[Any]()

            def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any, e: threading.Event = connected,
                           r: list[Any] = refused) -> None:
                if reason.is_failure:
                    r.append(reason)
                e.set()

            client.on_connect = on_connect
            client.connect("127.0.0.1", port)
            client.loop_start()
            if not connected.wait(10) or refused:
                client.loop_stop()
                raise RuntimeError(f"{box} could not connect: {refused[0] if refused else 'no CONNACK'}")
            self.clients[box] = client

    def publish_backlog(self, messages: int, seq_base: int, seed: int) -> float:
        """Publish `messages` presses round-robin over the boxes, wait for every PUBACK; msg/s."""
        rng = random.Random(seed)
        started = time.perf_counter()
        infos = []
        for n in range(messages):
            i = n % BOXES
            box = box_name(i)
            infos.append(self.clients[box].publish(f"rating/{box}/press", press(i, seq_base + n // BOXES + 1, rng), 1))
        for info in infos:
            info.wait_for_publish(60)
        return messages / (time.perf_counter() - started)

    def close(self) -> None:
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


def persistent_subscriber(port: int, password: str, client_id: str, on_message: Callable[..., None] | None = None
                          ) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.username_pw_set(COLLECTOR_USER, password)
    subscribed = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: c.subscribe([("rating/+/press", 1)])
    client.on_subscribe = lambda *_: subscribed.set()
    if on_message:
        client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError(f"{client_id} could not subscribe")
    return client


def forget_session(port: int, password: str, client_id: str) -> None:
    """End a persistent session (connect once with a clean session): otherwise the broker goes on queueing
    every later backlog for it, and with autosave on changes it rewrites those messages at every save,
    which would charge the next measurement for a subscriber that is gone."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(COLLECTOR_USER, password)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError(f"{client_id} could not connect")
    client.disconnect()
    client.loop_stop()


def bare_drain(port: int, password: str, messages: int, timeout: float) -> float:
    count = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        nonlocal count
        count += 1
        if count >= messages:
            done.set()

    started = time.perf_counter()
    client = persistent_subscriber(port, password, "bench-bare", on_message)
    first.append(started)
    if not done.wait(timeout):
        raise RuntimeError(f"bare subscriber got {count} of {messages}")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return messages / elapsed


class TimedIngest(Ingest):
    """The collector's Ingest, noting when each batch has committed (and been acked)."""

    def __init__(self, settings: Settings, engine: Any):
        super().__init__(settings, engine)
        self.stored = 0
        self.committed_at: dict[bytes, float] = {}
        self.target = 0
        self.done = threading.Event()
        self.batches = 0

    def handle(self, batch: Sequence[Inbound]) -> BatchResult | None:
        result = super().handle(batch)
        now = time.perf_counter()
        if result is not None:
            self.batches += 1
            self.stored += result.stored
            if self.target == 0:
                for inbound in batch:
                    self.committed_at[inbound.payload] = now
            if self.target and self.stored >= self.target:
                self.done.set()
        return result


def make_settings(data_dir: Path, url: str, port: int, client_id: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=url, mqtt_port=port, mqtt_client_id=client_id,
                    mqtt_password_file=data_dir / "secrets" / "mqtt-collector.password", clock_beacon_s=3600)


def prepare_db(url: str, data_dir: Path) -> Any:
    engine = make_engine(url)
    upgrade(engine)
    path = data_dir / "registry.json"
    path.write_text(json.dumps(registry()))
    with session_scope(engine) as session:
        load_registry(session, path, "Asia/Ho_Chi_Minh")
    return engine


def collector_drain(settings: Settings, engine: Any, messages: int, timeout: float) -> tuple[float, float]:
    """(msg/s, mean batch size) of the collector draining its session's backlog."""
    ingest = TimedIngest(settings, engine)
    ingest.target = messages
    started = time.perf_counter()
    ingest.start()
    finished = ingest.done.wait(timeout)
    elapsed = time.perf_counter() - started
    ingest.stop()
    if not finished:
        raise RuntimeError(f"collector stored {ingest.stored} of {messages} in {timeout:.0f} s")
    return messages / elapsed, messages / max(ingest.batches, 1)


def create_session(settings: Settings, engine: Any) -> None:
    """Connect once so the broker keeps a session (and queues) for this client id."""
    ingest = Ingest(settings, engine)
    ingest.start()
    if not ingest.connected.wait(10):
        raise RuntimeError("collector could not connect")
    time.sleep(0.5)  # SUBACK
    ingest.stop()


def latency(settings: Settings, engine: Any, fleet: Fleet, seconds: float, seed: int) -> list[float]:
    """Press-to-commit latencies (ms) at the nominal load."""
    ingest = TimedIngest(settings, engine)
    ingest.start()
    if not ingest.connected.wait(10):
        raise RuntimeError("collector could not connect")
    time.sleep(0.5)
    rng = random.Random(seed)
    now = time.perf_counter()
    schedule = []
    for i in range(BOXES):
        t = now + rng.expovariate(1 / PRESS_EVERY_S)
        while t < now + seconds:
            schedule.append((t, i))
            t += rng.expovariate(1 / PRESS_EVERY_S)
    schedule.sort()
    sent: dict[bytes, float] = {}
    seqs = dict.fromkeys(range(BOXES), 10_000_000)
    for at, i in schedule:
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        seqs[i] += 1
        payload = press(i, seqs[i], rng)
        box = box_name(i)
        sent[payload] = time.perf_counter()
        fleet.clients[box].publish(f"rating/{box}/press", payload, 1)
    deadline = time.perf_counter() + 10
    while len(ingest.committed_at.keys() & sent.keys()) < len(sent) and time.perf_counter() < deadline:
        time.sleep(0.05)
    ingest.stop()
    lost = len(sent) - len(ingest.committed_at.keys() & sent.keys())
    if lost:
        raise RuntimeError(f"{lost} of {len(sent)} presses not committed")
    return sorted((ingest.committed_at[p] - t) * 1000 for p, t in sent.items())


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.collector", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000, help="backlog size")
    parser.add_argument("--latency-s", type=float, default=30.0, help="seconds of nominal load")
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args([] if argv is None else argv)
    n = args.messages
    timeout = max(120.0, n / 200)

    def log(text: str) -> None:
        print(text, flush=True)

    root = Path(tempfile.mkdtemp(prefix="bench-collector-"))
    root.chmod(0o755)
    data = root / "data"
    (data / "secrets").mkdir(parents=True)
    data.chmod(0o755)
    password = "bench-" + os.urandom(8).hex()
    (data / "secrets" / "mqtt-collector.password").write_text(password)
    passwords = {box_name(i): f"pw-{i}" for i in range(BOXES)}
    broker = Broker(data / "broker", port=free_port(), log_path=root / "mosquitto.log")
    # As `broker add-box` does: each box account bound to its box id before its password exists.
    broker.broker_dir.mkdir(parents=True)
    bind_client_ids(broker.broker_dir, list(passwords))
    set_passwords(broker.broker_dir, {COLLECTOR_USER: password, **passwords})
    rows: list[Row] = []
    pg: Postgres | None = None
    fleet: Fleet | None = None
    try:
        broker.start()
        fleet = Fleet(broker.port, passwords)

        # 1. the bare subscriber
        persistent_subscriber(broker.port, password, "bench-bare").disconnect()
        time.sleep(0.3)
        rate = fleet.publish_backlog(n, 0, args.seed)
        log(f"published {n:,} presses at {rate:,.0f} msg/s (QoS 1, {BOXES} boxes)")
        bare = bare_drain(broker.port, password, n, timeout)
        forget_session(broker.port, password, "bench-bare")
        log(f"bare paho subscriber: {bare:,.0f} msg/s")
        rows.append(Row("bare paho subscriber drain", round(bare), None, "msg/s", None))

        # 2. the collector into SQLite
        sqlite_url = f"sqlite:///{data / 'collector.sqlite3'}"
        engine = prepare_db(sqlite_url, data)
        settings = make_settings(data, sqlite_url, broker.port, "bench-collector-sqlite")
        create_session(settings, engine)
        fleet.publish_backlog(n, 0, args.seed)
        stored, batch = collector_drain(settings, engine, n, timeout)
        log(f"collector -> SQLite: {stored:,.0f} msg/s (mean batch {batch:.0f}), {stored / bare:.2f} of bare")
        # Mosquitto 2.0 (autosave_interval 1) handles one PUBACK per loop turn and rewrites its whole
        # persistence file after each, so most of the drain's acks are still unread in its socket when
        # the collector disconnects, and the next connect of this session gets the backlog again (DUP,
        # stored once). Measured at nominal load, not during that redelivery: a fresh session.
        forget_session(broker.port, password, settings.mqtt_client_id)
        rows.append(Row("collector drain into SQLite", round(stored), None, "msg/s", None))
        rows.append(Row("SQLite drain / bare drain", round(stored / bare, 2), f">= {TARGET_RATIO}", "ratio",
                        stored / bare >= TARGET_RATIO))

        # 3. latency at nominal load (SQLite)
        create_session(settings, engine)
        samples = latency(settings, engine, fleet, args.latency_s, args.seed)
        p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
        log(f"press-to-commit at {BOXES} boxes / {PRESS_EVERY_S:.0f} s: {len(samples)} presses, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {samples[-1]:.1f} ms")
        rows.append(Row("press-to-commit p50 (SQLite, 60 boxes)", round(p50, 1), None, "ms", None))
        rows.append(Row("press-to-commit p99 (SQLite, 60 boxes)", round(p99, 1), f"< {TARGET_P99_MS:.0f}", "ms",
                        p99 < TARGET_P99_MS))
        engine.dispose()
        forget_session(broker.port, password, settings.mqtt_client_id)

        # 4. the collector into PostgreSQL
        if not args.no_postgresql:
            (root / "pg").mkdir()
            pg = Postgres(root / "pg")
            engine = prepare_db(pg.url, data)
            settings = make_settings(data, pg.url, broker.port, "bench-collector-pg")
            create_session(settings, engine)
            fleet.publish_backlog(n, 0, args.seed)
            stored_pg, batch = collector_drain(settings, engine, n, timeout)
            log(f"collector -> PostgreSQL: {stored_pg:,.0f} msg/s (mean batch {batch:.0f}), {stored_pg / bare:.2f} of bare")
            rows.append(Row("collector drain into PostgreSQL", round(stored_pg), None, "msg/s", None))
            rows.append(Row("PostgreSQL drain / bare drain", round(stored_pg / bare, 2), None, "ratio", None))
            forget_session(broker.port, password, settings.mqtt_client_id)  # as for SQLite above
            create_session(settings, engine)
            samples = latency(settings, engine, fleet, min(args.latency_s, 15.0), args.seed + 1)
            rows.append(Row("press-to-commit p99 (PostgreSQL, 60 boxes)", round(percentile(samples, 0.99), 1),
                            None, "ms", None))
            engine.dispose()
    finally:
        if fleet:
            fleet.close()
        broker.stop()
        if pg:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    print_table(f"Collector ingest ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores)", rows)
    return rows


if __name__ == "__main__":
    import sys

    rows = main(sys.argv[1:])
    sys.exit(1 if any(row.ok is False for row in rows) else 0)
