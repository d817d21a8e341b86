"""Helpers for the stream tests: a fast paho publisher that behaves like a box's outbox (keeps every
press until the broker acked it, sends the unacked ones again) and the exactly-once checks."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from collector.clock import utc_ms, utc_now
from collector.db import make_engine

SCALE_OF = {"box-017": ("17", "sat2", 2), "box-018": ("18", "vn3", 3)}  # counter, scale, levels


def make_stream(n: int, seed: int, boxes: tuple[str, ...] = ("box-017", "box-018")) -> list[tuple[str, bytes]]:
    """n valid presses (topic, payload), interleaved over boxes, over the last three local days."""
    rng = random.Random(seed)
    now = utc_now()
    seqs = dict.fromkeys(boxes, 0)
    stream = []
    for i in range(n):
        box = boxes[i % len(boxes)]
        seqs[box] += 1
        counter, scale, levels = SCALE_OF[box]
        flags = rng.choice([[], [], [], ["suppressed"], ["test"]])
        t = now - timedelta(seconds=rng.uniform(0, 3 * 86400))
        payload = {"v": 1, "box": box, "counter": counter, "seq": seqs[box], "boot": 1, "up": 1000 + i,
                   "t": utc_ms(t), "clock": "sync", "scale": scale, "level": rng.randrange(levels),
                   "flags": flags, "fw": "0.1.0"}
        stream.append((f"rating/{box}/press", json.dumps(payload, separators=(",", ":")).encode()))
    return stream


def expected_keys(stream: list[tuple[str, bytes]]) -> set[tuple[str, int]]:
    keys = set()
    for _, payload in stream:
        body = json.loads(payload)
        keys.add((body["box"], body["seq"]))
    return keys


def acked(info: mqtt.MQTTMessageInfo) -> bool:
    """PUBACK received (a publish made while disconnected reports an error but may still go out)."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False


class Publisher:
    """Publishes a stream at a paced rate from one paho client per box, in a thread."""

    def __init__(self, broker: Any, passwords: dict[str, str], rate: float = 1000.0):
        self.rate = rate
        self.broker = broker
        self.passwords = passwords
        self.clients = {box: self._connect(box) for box in passwords}
        self.sent: list[tuple[str, bytes, mqtt.MQTTMessageInfo]] = []
        self.thread: threading.Thread | None = None
        self.published = 0

    def _connect(self, box: str) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=box)  # its account admits no other id
        client.username_pw_set(box, self.passwords[box])
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 1)
        connected = threading.Event()
        client.on_connect = lambda c, u, f, rc, p, e=connected: e.set() if not rc.is_failure else None
        deadline = time.monotonic() + 20
        while True:  # the broker re-reads its password file asynchronously after add_box
            try:
                client.connect(self.broker.host, self.broker.port)
                client.loop_start()
                if connected.wait(2):
                    break
                client.loop_stop()
            except OSError:
                time.sleep(0.2)
            assert time.monotonic() < deadline, f"{box} cannot connect"
        self.broker.clients.append(client)
        return client

    def start(self, stream: list[tuple[str, bytes]]) -> Publisher:
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()
        return self

    def _run(self, stream: list[tuple[str, bytes]]) -> None:
        started = time.monotonic()
        for i, (topic, payload) in enumerate(stream):
            box = topic.split("/")[1]
            self.sent.append((topic, payload, self.clients[box].publish(topic, payload, qos=1)))
            self.published = i + 1
            ahead = started + (i + 1) / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the stream to be sent and acked by the broker; send again, like a box's outbox,
        whatever the broker did not ack (e.g. across a broker restart). Returns how many were resent."""
        assert self.thread is not None
        self.thread.join(timeout)
        deadline = time.monotonic() + timeout
        resent = 0
        pending = self.sent
        while True:
            settle = time.monotonic() + 5
            while time.monotonic() < settle and not all(acked(info) for _, _, info in pending):
                time.sleep(0.05)
            pending = [(t, p, i) for t, p, i in pending if not acked(i)]
            if not pending:
                return resent
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} presses never acked by the broker")
            # Like a rebooted box: a new connection sends its whole outbox again. (paho's own resend
            # of messages published while it was disconnected is not to be relied on.)
            for box in {topic.split("/")[1] for topic, _, _ in pending}:
                old = self.clients[box]
                old.disconnect()
                old.loop_stop()
                self.clients[box] = self._connect(box)
            retry = []
            for topic, payload, _ in pending:
                client = self.clients[topic.split("/")[1]]
                retry.append((topic, payload, client.publish(topic, payload, qos=1)))
            resent += len(retry)
            pending = retry


class Db:
    """Read-only checks on the collector's database."""

    def __init__(self, url: str):
        self.engine = make_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def scalar(self, sql: str) -> Any:
        try:
            with self.engine.connect() as connection:
                return connection.execute(sa.text(sql)).scalar()
        except sa.exc.OperationalError:
            return None  # e.g. the database is down in this very test

    def presses(self) -> int:
        return self.scalar("SELECT count(*) FROM press") or 0

    def keys(self) -> Counter[tuple[str, int]]:
        with self.engine.connect() as connection:
            return Counter((box, seq) for box, seq in connection.execute(sa.text("SELECT box, seq FROM press")))

    def rollup_mismatches(self) -> list[Any]:
        """Rows where rollup_day and a recount of the press table disagree (empty = equal)."""
        key = "counter, day, scale, suppressed, test"
        recount = f"""SELECT {key}, COALESCE(officer_id, 0), COALESCE(department_id, 0), level, count(*) FROM press
                      GROUP BY {key}, COALESCE(officer_id, 0), COALESCE(department_id, 0), level"""
        rolled = f"SELECT {key}, officer_id, department_id, level0, level1, level2, level3 FROM rollup_day"
        with self.engine.connect() as connection:
            counted = {tuple(row[:8]): row[8] for row in connection.execute(sa.text(recount))}
            stored = {(*row[:7], level): n for row in connection.execute(sa.text(rolled))
                      for level, n in enumerate(row[7:]) if n}
        return [(key, counted.get(key), stored.get(key)) for key in counted.keys() | stored.keys()
                if counted.get(key) != stored.get(key)]

    def rejected(self) -> Counter[str]:
        with self.engine.connect() as connection:
            return Counter(r for (r,) in connection.execute(sa.text("SELECT reason FROM rejected_message")))


def assert_exactly_once(db: Db, keys: set[tuple[str, int]]) -> None:
    stored = db.keys()
    twice = [key for key, n in stored.items() if n > 1]
    missing = keys - stored.keys()
    extra = stored.keys() - keys
    assert not twice and not missing and not extra, (
        f"{len(missing)} missing (e.g. {sorted(missing)[:5]}), {len(twice)} stored twice, {len(extra)} unexpected")
    assert db.rollup_mismatches() == []
