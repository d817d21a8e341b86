"""The firmware's own MQTT client under MicroPython: against a real Mosquitto, and against a tiny
fake broker for what a well-behaved broker never does (lose a PUBACK, send garbage, go silent)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from tests.helpers.firmware import BOX_PASSWORDS, Listener, mp_json


def _run_box_script(script: str, data: dict, during: Callable[[], None] | None = None) -> dict:
    out: dict = {}

    def target() -> None:
        out["res"] = mp_json(script, data=data)

    t = threading.Thread(target=target)
    t.start()
    if during:
        during()
    t.join(60)
    assert "res" in out, "script did not finish"
    return out["res"]


def test_qos1_publish_gets_puback_from_mosquitto_and_subscription_works(
    mosquitto, listener: Listener
) -> None:
    script = "mqtt_puback.py"

    def during() -> None:
        listener.wait(lambda t, p: t == "rating/box-017/press" and p == {"n": 1})
        listener.wait(lambda t, p: t == "rating/box-017/status" and p == {"n": 2})
        listener.publish("rating/clock", {"v": 1, "t": 1800000000000})

    res = _run_box_script(script, {"port": mosquitto.port, "password": BOX_PASSWORDS["box-017"]}, during)
    assert res["got"] == [["rating/clock", '{"v": 1, "t": 1800000000000}']]


def test_last_will_is_delivered_when_the_connection_dies(mosquitto, listener: Listener) -> None:
    script = "mqtt_will.py"
    res = _run_box_script(script, {"port": mosquitto.port, "password": BOX_PASSWORDS["box-017"]})
    assert res == {"alive": False}
    listener.wait(lambda t, p: t == "rating/box-017/presence" and p == {"state": "online"})
    listener.wait(lambda t, p: t == "rating/box-017/presence" and p == {"state": "offline"})
    # retained: a collector starting later still learns the box is offline
    late = Listener(mosquitto.port)
    try:
        _topic, payload = late.wait(lambda t, p: t == "rating/box-017/presence")
        assert payload == {"state": "offline"}
    finally:
        late.close()


def test_wrong_password_is_refused(mosquitto) -> None:
    res = mp_json(
        "mqtt_wrong_password.py",
        data={"port": mosquitto.port, "password": "wrong"},
    )
    assert "refused" in res["error"]


def test_a_client_connects_once_and_lets_its_connect_packet_go(mosquitto) -> None:
    # The box makes a new Client for each connection; the CONNECT (client id, will, password) is not
    # kept in the heap for the life of the connection, and a second connect() says why it cannot.
    res = mp_json(
        "mqtt_connect_once.py",
        data={"port": mosquitto.port, "password": BOX_PASSWORDS["box-017"]},
    )
    assert res["got"] == [True, "a Client connects once"]


def test_acl_only_lets_a_box_publish_its_own_topics(mosquitto, listener: Listener) -> None:
    # Mosquitto PUBACKs a refused QoS 1 publish: the reason config.py insists username == box.
    res = mp_json(
        "mqtt_acl.py",
        data={"port": mosquitto.port, "password": BOX_PASSWORDS["box-017"]},
    )
    assert res is True
    topic, payload = listener.wait(lambda t, p: t.endswith("/press"))
    assert (topic, payload) == ("rating/box-017/press", {"own": 1})


class FakeBroker:
    """Accepts one connection, answers CONNECT with CONNACK, then runs `behave(conn)`."""

    def __init__(self, behave: Callable[[socket.socket], None]):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.behave = behave
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def read_exact(conn: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    @staticmethod
    def read_packet(conn: socket.socket) -> tuple[int, bytes]:
        def exact(n: int) -> bytes:
            return FakeBroker.read_exact(conn, n)

        first = exact(1)[0]
        length, shift = 0, 0
        while True:
            b = exact(1)[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return first, exact(length)

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
            conn.settimeout(20)
            with conn:
                first, _ = self.read_packet(conn)
                assert first == 0x10
                conn.sendall(bytes([0x20, 2, 0, 0]))
                self.behave(conn)
        except Exception as e:  # noqa: BLE001 (handed to the test, which asserts on it)
            self.error = e
        finally:
            self.sock.close()


def test_qos1_is_resent_with_dup_when_no_puback() -> None:
    seen: list[tuple[int, bytes]] = []

    def behave(conn: socket.socket) -> None:
        for _ in range(2):
            seen.append(FakeBroker.read_packet(conn))  # first send, then the DUP resend
        body = seen[1][1]
        tlen = int.from_bytes(body[:2], "big")
        pid = body[2 + tlen : 4 + tlen]  # the packet id follows the topic
        conn.sendall(bytes([0x40, 2]) + pid)
        conn.recv(1)  # until the client hangs up

    fake = FakeBroker(behave)
    res = mp_json(
        "mqtt_dup.py",
        data={"port": fake.port, "password": "x"},
    )
    fake.thread.join(10)
    assert fake.error is None, fake.error
    assert res == "acked"
    (f1, b1), (f2, b2) = seen
    assert f1 == 0x32 and f2 == 0x3A  # QoS 1; then QoS 1 + DUP
    assert b1 == b2  # same topic, packet id and payload


def test_no_puback_at_all_drops_the_connection() -> None:
    def behave(conn: socket.socket) -> None:
        while True:
            FakeBroker.read_packet(conn)

    fake = FakeBroker(behave)
    res = mp_json(
        "mqtt_no_puback.py",
        data={"port": fake.port, "password": "x"},
    )
    assert res == ["no ack", False, True]


def test_malformed_bytes_drop_the_connection_cleanly() -> None:
    cases = {
        "reserved packet type": bytes([0xF0, 0]),
        "remaining length too long": bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
        "topic longer than packet": bytes([0x30, 4, 0, 50, 0x61, 0x62]),
        "qos 3 publish": bytes([0x36, 4, 0, 1, 0x61, 0x62]),
        "unsolicited connack": bytes([0x20, 2, 0, 0]),
    }
    for name, garbage in cases.items():

        def behave(conn: socket.socket, garbage: bytes = garbage) -> None:
            conn.sendall(garbage)
            try:
                while conn.recv(100):
                    pass
            except OSError:
                pass

        fake = FakeBroker(behave)
        res = mp_json(
            "mqtt_malformed.py",
            data={"port": fake.port, "password": "x"},
        )
        assert res == [False, True, "not connected"], name


def test_silent_broker_is_detected_by_keepalive() -> None:
    pings: list[int] = []

    def behave(conn: socket.socket) -> None:
        while True:
            pings.append(FakeBroker.read_packet(conn)[0])  # never answers

    fake = FakeBroker(behave)
    res = mp_json(
        "mqtt_keepalive.py",
        data={"port": fake.port, "password": "x"},
    )
    assert res[0] == "keepalive timeout"
    assert 1400 <= res[1] <= 2600
    assert 0xC0 in pings


def test_backoff_is_exponential_jittered_and_capped() -> None:
    res = mp_json("mqtt_backoff.py")
    for attempt, delays in enumerate(res):
        full = min(60000, 1000 * 2**attempt)
        assert all(full // 2 <= d <= full for d in delays), (attempt, delays)
        assert len(set(delays)) > 1  # jitter


class SlowBroker:
    """A broker behind a slow link: after CONNACK (sent with a QoS 1 command for the box, in the
    same segment) it stops reading, so that the box's socket buffer fills, until the script
    connects to the same port a second time; then it reads on and records every packet until the
    box hangs up, PUBACKing QoS 1 publishes and answering pings."""

    def __init__(self, command: bytes):
        self.sock = socket.socket()
        # A small receive window, so that one large publish fills the link.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2)
        self.sock.settimeout(60)
        self.port = self.sock.getsockname()[1]
        self.command = command
        self.packets: list[tuple[int, bytes]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_whole(self, conn: socket.socket) -> tuple[int, bytes]:
        # One packet, checked against what the box sends, so that a garbled stream says so.
        first = FakeBroker.read_exact(conn, 1)[0]
        length, shift = 0, 0
        while True:
            b = FakeBroker.read_exact(conn, 1)[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift > 21:
                raise AssertionError(f"garbled stream after {len(self.packets)} packets: bad length")
        if first >> 4 not in (3, 4, 12, 14) or length > 100_000:
            raise AssertionError(f"garbled stream after {len(self.packets)} packets: 0x{first:02x}, {length} B")
        return first, FakeBroker.read_exact(conn, length)

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
            conn.settimeout(30)
            with conn:
                first, _ = FakeBroker.read_packet(conn)
                assert first == 0x10
                conn.sendall(bytes([0x20, 2, 0, 0]) + self.command)
                go, _ = self.sock.accept()  # the script says its writes are all waiting
                go.close()
                while True:
                    try:
                        first, body = self._read_whole(conn)
                    except EOFError:
                        return
                    self.packets.append((first, body))
                    if first & 0xF6 == 0x32:  # PUBLISH, QoS 1 (DUP or not)
                        tlen = int.from_bytes(body[:2], "big")
                        conn.sendall(bytes([0x40, 2]) + body[2 + tlen : 4 + tlen])
                    elif first == 0xC0:
                        conn.sendall(bytes([0xD0, 0]))
        except Exception as e:  # noqa: BLE001 (handed to the test, which asserts on it)
            self.error = e
        finally:
            self.sock.close()


def _publish_packet(first: int, topic: str, pid: int | None, payload: bytes) -> tuple[int, bytes]:
    head = len(topic).to_bytes(2, "big") + topic.encode()
    return first, head + (pid.to_bytes(2, "big") if pid is not None else b"") + payload


def test_writes_from_three_tasks_on_a_slow_link_arrive_whole_and_in_order() -> None:
    # A press is being written while the link is slow; meanwhile the read loop owes the broker a
    # PUBACK for a command and the ping loop a PINGREQ. MicroPython's streams take one writer at a
    # time: each packet must still reach the broker whole, in the order it was written, and the
    # connection must stay up.
    body = _publish_packet(0x32, "rating/box-017/c", 7, b"{}")[1]
    broker = SlowBroker(bytes([0x32, len(body)]) + body)
    res = mp_json(
        "mqtt_slow_link.py",
        data={"port": broker.port, "password": "x"},
    )
    broker.thread.join(30)
    assert broker.error is None, (broker.error, res)
    assert res["stuck"], "the link took the whole press at once: the test shows nothing"
    assert res == {"stuck": True, "alive": True, "got": [["rating/box-017/c", "{}"]]}, res
    big = bytes(range(256)) * 256
    expected = [
        _publish_packet(0x32, "rating/box-017/press", 1, big),
        (0x40, bytes([0, 7])),     # the command's PUBACK
        (0xC0, b""),               # the ping
        _publish_packet(0x32, "rating/box-017/press", 2, b"after"),
        (0xE0, b""),               # the test's DISCONNECT
    ]
    got = [p for p in broker.packets if p != (0xC0, b"")]
    pings = len(broker.packets) - len(got)
    assert pings >= 1, "no ping was written while the press waited"
    assert broker.packets[:3] == expected[:3]
    assert got == [expected[0], expected[1], expected[3], expected[4]]
