"""Whole boxes (main.py + fake board under MicroPython) through the faults of issue 3: a hung task
and the watchdog, a broker down for minutes, Wi-Fi flapping, a broker that never PUBACKs."""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Any

import pytest

from schemas.contract import schema_errors
from tests.helpers.firmware import Listener, Relay, SntpServer, box_config

BEACON_T = 1795000000000


def collect(lst: Listener, done: Any, timeout: float = 20) -> list[tuple[str, Any]]:
    """Messages from now until done(messages) holds."""
    got: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(got):
        got.append(lst.wait(lambda t, p: True, max(0.1, deadline - time.monotonic())))
    return got


def of(messages: list[tuple[str, Any]], kind: str) -> list[Any]:
    return [p for t, p in messages if t == f"rating/box-017/{kind}"]


def check_delivered(presses: list[dict[str, Any]], n: int) -> None:
    """Every seq 1..n arrived, first arrivals in order; a redelivery repeats the same press."""
    first: dict[int, dict[str, Any]] = {}
    order = []
    for p in presses:
        assert schema_errors("press", p) == [], p
        key = (p["boot"], p["up"], p["level"], p["flags"])
        if p["seq"] in first:
            assert key == (
                first[p["seq"]]["boot"],
                first[p["seq"]]["up"],
                first[p["seq"]]["level"],
                first[p["seq"]]["flags"],
            ), (p, first[p["seq"]])
        else:
            first[p["seq"]] = p
            order.append(p["seq"])
    assert order == list(range(1, n + 1)), order
    keys = {(p["boot"], p["up"]) for p in first.values()}
    assert len(keys) == n, "one press sent under two seqs"


@pytest.mark.parametrize("fault", ["hang", "raise", "net"])
def test_hung_task_resets_the_box_and_loses_nothing(
    fault: str, make_box, mosquitto, listener: Listener, wait_for
) -> None:
    # hang: the firmware blocks inside the board (nothing runs, the hardware watchdog fires);
    # raise: the poll task dies; net: the network task hangs. In the last two the other tasks
    # run on, and the supervisor must stop feeding the watchdog.
    # Reconnects capped at 2 s, as in the other broker-down tests here: with the default 60 s cap a
    # box retrying while the broker restarts under load could nap past collect()'s 20 s.
    cfg = box_config(mosquitto.port, timings={"lockout_ms": 0, "keepalive_s": 5, "watchdog_ms": 2000,
                                              "backoff_max_s": 2})
    box = make_box(cfg, entry="box_hang_net.py").start(watchdog=True)
    box.wait_line("broker: connected")
    listener.publish("rating/clock", {"v": 1, "t": BEACON_T})
    box.wait_line("clock: anchored by sync")
    # A kept session, subscribed now: what the box sends after its reset is queued for it, whenever
    # the box gets there, even before the test listens again. The broker saves it at once (autosave
    # after every change); awaited on disk all the same, as the broker is killed next.
    kept = Listener(mosquitto.port, persistent=True)
    kept.close()
    saved = mosquitto.broker_dir / "mosquitto.db"
    wait_for(lambda: saved.exists() and kept.client_id.encode() in saved.read_bytes(), timeout=10,
             what="the broker to save the kept session")
    if fault == "net":
        (box.flash / "hang_net").write_text("1")
        listener.close()
        mosquitto.stop(kill=True)  # the next connection hangs in serve()
        box.wait_line("connection lost")
        mosquitto.start()
        box.wait_line("net: hanging", timeout=15)
        # Only serve() looks at the file, and the hung one already has: gone now, the box after the
        # reset cannot hang again however soon it gets to serve().
        (box.flash / "hang_net").unlink()
    else:
        listener.close()
        mosquitto.stop(kill=True)  # presses stay in the outbox
        box.wait_line("connection lost")
    box.press(0)
    box.press(1)
    if fault != "net":
        box.set_buttons(fault)
    box.wait_line("[harness] watchdog reset", timeout=15)
    box.wait_line("boot 2 box box-017 counter 017 reset watchdog outbox 2")
    if fault != "net":
        mosquitto.start()
    lst = Listener(mosquitto.port, persistent=True)
    try:
        try:
            got = collect(lst, lambda ms: len(of(ms, "press")) >= 2 and of(ms, "status"))
        except AssertionError as e:
            raise AssertionError(f"{e}; the box printed:\n{box.transcript()}") from None
        presses = of(got, "press")
        check_delivered(presses, 2)
        assert [(p["boot"], p["clock"], p["t"] is not None) for p in presses] == [(1, "sync", True)] * 2
        status = of(got, "status")[0]
        assert status["reset"] == "watchdog" and status["boot"] == 2
    finally:
        lst.close()
    assert box.watchdog_resets == 1


def test_broker_down_for_minutes_presses_delivered_in_order(make_box, mosquitto, listener: Listener) -> None:
    # Minutes compressed: a 2 s backoff cap instead of 60 s, so 25 s of outage are a dozen
    # reconnect attempts at the cap, as a 12-minute outage would be.
    cfg = box_config(mosquitto.port, timings={"lockout_ms": 0, "keepalive_s": 5, "backoff_max_s": 2})
    box = make_box(cfg).start()
    box.wait_line("broker: connected")
    listener.publish("rating/clock", {"v": 1, "t": BEACON_T})
    box.wait_line("clock: anchored")
    listener.close()
    mosquitto.stop(kill=True)
    t0 = time.monotonic()
    box.wait_line("connection lost")
    n = 0
    while time.monotonic() - t0 < 25:
        box.press(n % 2)
        n += 1
        time.sleep(2)
    mosquitto.start()
    lst = Listener(mosquitto.port)
    try:
        box.wait_line("broker: connected", timeout=10)
        check_delivered(lst.presses(n, timeout=20), n)
    finally:
        lst.close()
    delays = [int(line.split()[-2]) for line in box.seen if line.startswith("net: retry in")]
    assert len(delays) >= 10, delays
    assert all(d <= 2000 for d in delays) and max(delays) >= 1000, delays


def test_wifi_flapping_loses_and_doubles_nothing(make_box, mosquitto, listener: Listener) -> None:
    relay = Relay(mosquitto.port)
    rng = random.Random(7)
    cfg = box_config(relay.port, timings={"lockout_ms": 0, "keepalive_s": 5, "backoff_max_s": 1})
    box = make_box(cfg).start()
    try:
        box.wait_line("broker: connected")
        listener.publish("rating/clock", {"v": 1, "t": BEACON_T})
        box.wait_line("clock: anchored")
        n = 0
        for _ in range(8):
            down = rng.random() < 0.5
            relay.set_up(not down)
            wifi_down = box.flash / "wifi_down.txt"
            if down:
                wifi_down.write_text("1")
            else:
                wifi_down.unlink(missing_ok=True)
            for _ in range(rng.randint(1, 3)):
                box.press(n % 2)
                n += 1
            time.sleep(rng.uniform(0.2, 1.5))
        relay.set_up(True)
        (box.flash / "wifi_down.txt").unlink(missing_ok=True)
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while len({p["seq"] for p in got}) < n and time.monotonic() < deadline:
            got += listener.presses(1, timeout=30)
        time.sleep(1)  # any late redelivery
        while not listener.messages.empty():
            topic, payload, _ = listener.messages.get()
            if topic.endswith("/press"):
                got.append(payload)
        check_delivered(got, n)
        assert any("connection lost" in line for line in box.seen)
    finally:
        relay.close()


class SilentBroker:
    """An MQTT broker that accepts connections, subscriptions and every publish except presses,
    which it never PUBACKs until `acking` is set. Records each press PUBLISH as
    (connection number, first byte, packet id, body)."""

    def __init__(self, sntp: SntpServer | None = None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.acking = False
        self.connections = 0
        self.presses: list[tuple[int, int, bytes, bytes]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket) -> tuple[int, bytes]:
        def exact(k: int) -> bytes:
            buf = b""
            while len(buf) < k:
                chunk = conn.recv(k - len(buf))
                if not chunk:
                    raise EOFError
                buf += chunk
            return buf

        first = exact(1)[0]
        length, shift = 0, 0
        while True:
            b = exact(1)[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return first, exact(length)

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            with conn:
                while True:
                    first, body = self._read(conn)
                    kind = first & 0xF0
                    if kind == 0x10:
                        conn.sendall(bytes([0x20, 2, 0, 0]))
                    elif kind == 0x80:
                        conn.sendall(bytes([0x90, 3]) + body[:2] + b"\x00")
                    elif kind == 0xC0:
                        conn.sendall(bytes([0xD0, 0]))
                    elif kind == 0x30:
                        tlen = int.from_bytes(body[:2], "big")
                        topic = body[2 : 2 + tlen].decode()
                        if (first >> 1) & 3:
                            pid = body[2 + tlen : 4 + tlen]
                            if topic.endswith("/press"):
                                self.presses.append((number, first, pid, body))
                                if not self.acking:
                                    continue
                            conn.sendall(bytes([0x40, 2]) + pid)
                    elif kind == 0xE0:
                        return
        except (EOFError, OSError):
            pass

    def close(self) -> None:
        self._closed = True
        self.sock.close()


def test_broker_that_never_pubacks_gets_dup_resends_and_loses_nothing(make_box, sntp: SntpServer) -> None:
    broker = SilentBroker()
    cfg = box_config(
        broker.port,
        ntp=sntp.address,
        timings={"lockout_ms": 0, "keepalive_s": 30, "ack_timeout_s": 1, "backoff_max_s": 1},
    )
    box = make_box(cfg).start()
    try:
        box.wait_all("broker: connected", "clock: anchored by ntp")
        box.press(0)
        box.press(1)
        box.wait_line("no ack", timeout=10)  # 1 send + 2 DUP resends, then the connection is dropped
        box.wait_line("broker: connected", timeout=10)
        first_conn = [p for p in broker.presses if p[0] == 1]
        assert [f for _, f, _, _ in first_conn] == [0x32, 0x3A, 0x3A]  # QoS 1, then QoS 1 + DUP
        assert len({(pid, body) for _, _, pid, body in first_conn}) == 1  # same packet id and press
        broker.acking = True
        box.wait_line("sent seq=1", timeout=10)
        box.wait_line("sent seq=2", timeout=10)
        import json

        bodies = []
        for _, _, pid, body in broker.presses:
            tlen = int.from_bytes(body[:2], "big")
            bodies.append(json.loads(body[4 + tlen :]))
        check_delivered(bodies, 2)
        assert broker.connections >= 2
    finally:
        box.kill()
        broker.close()
