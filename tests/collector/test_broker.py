"""The broker as shipped: generated config, per-box accounts managed by `rating-collector broker`,
and an ACL that keeps every box in its own lane. Everything against a real Mosquitto."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from collector.broker import AUTOSAVE_CHANGES, BOX_PATTERN, MAX_QUEUED_MESSAGES, config_text
from tests.helpers.paths import REPO
from tests.helpers.presses import press_payload
from tests.helpers.waiting import wait_until


def cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RATING_DATA_DIR": str(data_dir)}
    result = subprocess.run([sys.executable, "-m", "collector", "broker", *args], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"broker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def try_connect(port: int, username: str | None, password: str | None, timeout: float = 5) -> Any:
    """The CONNACK reason code of one connection attempt (None when none came). A box account
    connects as the firmware does, with its box id as client id."""
    own_id = username if username and BOX_PATTERN.match(username) else f"probe-{uuid.uuid4().hex[:8]}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=own_id)
    if username is not None:
        client.username_pw_set(username, password)
    codes: list[Any] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        codes.append(rc)
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_: done.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return codes[0] if codes else None


class Inbox:
    """A subscriber that records (topic, payload) of everything it receives."""

    def __init__(self, client: mqtt.Client):
        self.client = client
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        client.on_message = self._on_message

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def subscribe(self, *topic_filters: str) -> None:
        granted = threading.Event()
        self.client.on_subscribe = lambda *_: granted.set()
        self.client.subscribe([(t, 1) for t in topic_filters])
        assert granted.wait(10)

    def topics(self) -> set[str]:
        with self.lock:
            return {topic for topic, _ in self.messages}

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [payload for _, payload in self.messages]


def test_generated_config_keeps_what_it_can_and_admits_no_anonymous(tmp_path: Path) -> None:
    text = config_text(tmp_path, host="127.0.0.1", port=1883)
    lines = set(text.splitlines())
    assert "allow_anonymous false" in lines
    assert "persistence true" in lines
    assert "autosave_on_changes true" in lines and f"autosave_interval {AUTOSAVE_CHANGES}" in lines
    assert AUTOSAVE_CHANGES == 1  # a broker crash loses nothing it acknowledged
    assert f"max_queued_messages {MAX_QUEUED_MESSAGES}" in lines and "max_queued_bytes 0" in lines
    assert MAX_QUEUED_MESSAGES >= 60 * 24 * 3600 // 2  # a whole day of 60 boxes at one message per 2 s
    assert f"password_file {tmp_path / 'passwd'}" in lines and f"acl_file {tmp_path / 'acl'}" in lines


def test_broker_commands_manage_box_accounts(stack_dir: Path, broker: Any, wait_for: Any) -> None:
    # setup (run again over the fixture's broker: idempotent, keeps the collector's password)
    cli(stack_dir, "setup", "--listen-port", str(broker.port))
    assert try_connect(broker.port, "collector", broker.collector_password).value == 0
    conf = (stack_dir / "broker" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "autosave_on_changes true" in conf

    # add-box prints a fresh password once; the running broker picks it up without a restart
    first = cli(stack_dir, "add-box", "box-017")
    password = first.stdout.strip()
    assert len(password) >= 20 and "reloaded" in first.stderr
    wait_for(lambda: try_connect(broker.port, "box-017", password).value == 0, what="box-017 admitted")

    # --password-file: nothing on stdout, the file is private, other accounts are kept
    secret = stack_dir / "secrets" / "box-018.password"
    second = cli(stack_dir, "add-box", "box-018", "--password-file", str(secret))
    assert second.stdout == ""
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    password_18 = secret.read_text().strip()
    wait_for(lambda: try_connect(broker.port, "box-018", password_18).value == 0, what="box-018 admitted")
    assert try_connect(broker.port, "box-017", password).value == 0
    assert cli(stack_dir, "list").stdout.split() == ["box-017", "box-018", "collector"]
    assert stat.S_IMODE((stack_dir / "broker" / "passwd").stat().st_mode) == 0o600

    # add-box again rotates: the old password stops working
    rotated = cli(stack_dir, "add-box", "box-017").stdout.strip()
    assert rotated != password
    wait_for(lambda: try_connect(broker.port, "box-017", password).value != 0, what="old password refused")
    assert try_connect(broker.port, "box-017", rotated).value == 0

    # remove-box revokes; a box that is connected at that moment is cut off
    connected = broker.client("box-018", password_18, client_id="box-018")
    cli(stack_dir, "remove-box", "box-018")
    wait_for(lambda: try_connect(broker.port, "box-018", password_18).value != 0, what="box-018 refused")
    wait_for(lambda: not connected.is_connected(), timeout=10, what="box-018's live connection cut")
    assert cli(stack_dir, "list").stdout.split() == ["box-017", "collector"]
    assert cli(stack_dir, "remove-box", "box-018", check=False).returncode == 1
    assert cli(stack_dir, "add-box", "not a box", check=False).returncode == 2


def test_no_credentials_or_wrong_ones_get_nothing(broker: Any) -> None:
    broker.add_box("box-017", "right-password")
    # Mosquitto 2.0 answers "Not authorized" (v3.1.1 CONNACK 5) and closes: no publish, no subscribe.
    for username, password in ((None, None), ("box-017", "wrong-password"), ("box-017", ""),
                               ("collector", "wrong-password"), ("nobody", "right-password")):
        code = try_connect(broker.port, username, password)
        assert code is not None and code.is_failure, (username, password, code)
    assert try_connect(broker.port, "box-017", "right-password").value == 0


def test_a_box_stays_in_its_own_lane(broker: Any) -> None:
    collector = Inbox(broker.client("collector", broker.collector_password))
    collector.subscribe("rating/+/press", "rating/+/status", "rating/+/presence")
    mallory = broker.client("box-018", broker.add_box("box-018", "pw-18"))
    victim = broker.client("box-017", broker.add_box("box-017", "pw-17"))
    eavesdrop = Inbox(mallory)
    # Subscriptions a box may not have are granted by Mosquitto 2.0 but deliver nothing: check delivery.
    eavesdrop.subscribe("rating/box-017/press", "rating/box-017/cmd", "rating/+/press", "rating/#", "#",
                        "rating/box-018/cmd")
    victim_inbox = Inbox(victim)
    victim_inbox.subscribe("rating/box-017/cmd")

    # Forgeries under another box's topics and on the collector's topics. QoS 1 PUBLISHes refused by
    # the ACL are still PUBACKed (silently dropped): what counts is that nothing arrives.
    forged = press_payload(box="box-017", seq=999)
    for topic in ("rating/box-017/press", "rating/box-017/status", "rating/box-017/presence", "rating/clock",
                  "rating/box-017/cmd"):
        broker.publish(mallory, topic, json.dumps(forged) + "#forged")
    # Legitimate traffic, after the forgeries, from each side.
    broker.publish(victim, "rating/box-017/press", json.dumps(press_payload(seq=1)) + "#victim")
    broker.publish(mallory, "rating/box-018/press", json.dumps(press_payload(box="box-018", seq=1)) + "#own")
    ops = broker.client("collector", broker.collector_password)
    broker.publish(ops, "rating/box-017/cmd", b'{"cmd":"for-017"}')
    broker.publish(ops, "rating/box-018/cmd", b'{"cmd":"for-018"}')

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        {"rating/box-017/press", "rating/box-018/press"} <= collector.topics()
        and b'{"cmd":"for-017"}' in victim_inbox.payloads()
        and b'{"cmd":"for-018"}' in eavesdrop.payloads()
    ):
        time.sleep(0.02)
    time.sleep(0.3)  # anything that was going to slip through has had time to

    assert sorted(p.rsplit(b"#", 1)[-1] for p in collector.payloads()) == [b"own", b"victim"]
    assert victim_inbox.payloads() == [b'{"cmd":"for-017"}']
    # The box read its own command topic, and nothing of box-017's: not its presses, not its commands.
    assert eavesdrop.payloads() == [b'{"cmd":"for-018"}']
    assert not any(b"forged" in p for p in eavesdrop.payloads() + victim_inbox.payloads())


def test_the_collector_account_may_only_read_box_topics(broker: Any) -> None:
    listener = Inbox(broker.client("box-017", broker.add_box("box-017", "pw-17")))
    listener.subscribe("rating/box-017/cmd", "rating/clock")
    spy = Inbox(broker.client("collector", broker.collector_password))
    spy.subscribe("rating/+/press")
    collector = broker.client("collector", broker.collector_password)
    broker.publish(collector, "rating/box-017/press", json.dumps(press_payload(seq=5)))  # forging a press
    broker.publish(collector, "rating/clock", b'{"v":1,"t":1}')
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not listener.payloads():
        time.sleep(0.02)
    time.sleep(0.3)
    assert listener.topics() == {"rating/clock"}
    assert spy.payloads() == []


def mosquitto_pub(port: int, username: str, password: str, topic: str, message: str, *options: str
                  ) -> subprocess.CompletedProcess[str]:
    """One QoS 1 publish by the Mosquitto CLI, as someone holding an account's password would send it."""
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", username, "-P", password,
                           "-t", topic, "-m", message, "-q", "1", *options],
                          capture_output=True, text=True, timeout=30, check=False)


class Connection:
    """A paho client that remembers whether the broker ever cut it off."""

    def __init__(self, port: int, username: str, password: str, client_id: str, clean_session: bool = True):
        self.cut = threading.Event()
        self.up = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda _c, _u, _f, rc, _p: None if rc.is_failure else self.up.set()
        self.client.on_disconnect = lambda *_: self.cut.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.up.wait(10), f"{username} as {client_id} was not admitted"

    def round_trip(self, topic: str) -> None:
        """A QoS 1 publish and its PUBACK: whatever the broker did before, this connection has seen."""
        self.client.publish(topic, b"{}", qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_box_account_connects_only_as_its_own_box_id(stack_dir: Path, broker: Any, wait_for: Any) -> None:
    password_17 = cli(stack_dir, "add-box", "box-017").stdout.strip()
    password_18 = cli(stack_dir, "add-box", "box-018").stdout.strip()
    wait_for(lambda: try_connect(broker.port, "box-018", password_18) is not None, what="box-018 known")
    # The collector's persistent session, and box-017 online as the firmware connects (client id = box id).
    collector = Connection(broker.port, "collector", broker.collector_password, "collector-1", clean_session=False)
    victim = Connection(broker.port, "box-017", password_17, "box-017")
    try:
        # box-018's password, and the client ids of others (or one the broker would make up).
        for stolen in (["-i", "collector-1"], ["-i", "box-017"], ["-i", "collector-2"], []):
            attack = mosquitto_pub(broker.port, "box-018", password_18, "rating/box-018/press", "{}", *stolen)
            assert attack.returncode != 0 and "not authori" in attack.stderr.lower(), (stolen, attack)
        assert mosquitto_pub(broker.port, "box-018", password_18, "rating/box-018/press", "{}",
                             "-i", "box-018").returncode == 0
        collector.round_trip("rating/clock")
        victim.round_trip("rating/box-017/status")
        assert not collector.cut.is_set() and not victim.cut.is_set()
    finally:
        collector.close()
        victim.close()
    # The collector account is not bound: several collectors and rating-tech share it, each its own id.
    assert try_connect(broker.port, "collector", broker.collector_password).value == 0


def test_box_bindings_survive_a_restart_and_apply_to_accounts_made_while_it_was_down(
        stack_dir: Path, broker: Any, wait_for: Any) -> None:
    password_17 = cli(stack_dir, "add-box", "box-017").stdout.strip()
    broker.broker.stop()
    password_18 = cli(stack_dir, "add-box", "box-018").stdout.strip()
    broker.broker.start()
    for box, password in (("box-017", password_17), ("box-018", password_18)):
        refused = mosquitto_pub(broker.port, box, password, f"rating/{box}/press", "{}", "-i", "collector-1")
        assert refused.returncode != 0, (box, refused)
        assert mosquitto_pub(broker.port, box, password, f"rating/{box}/press", "{}", "-i", box).returncode == 0


def test_the_collector_account_cannot_speak_as_a_box_named_collector(broker: Any) -> None:
    """The box patterns (rating/%u/...) apply to every account, the collector's too."""
    listener = Inbox(broker.client("collector", broker.collector_password))
    listener.subscribe("rating/+/press", "rating/+/status", "rating/+/presence", "rating/collector/cmd",
                       "rating/clock")
    for kind in ("press", "status", "presence", "cmd"):
        retain = ["-r"] if kind == "presence" else []
        mosquitto_pub(broker.port, "collector", broker.collector_password, f"rating/collector/{kind}",
                      '{"forged":true}', *retain)
    # Messages queued for one subscriber arrive in order: once this one is in, the forgeries would be.
    ops = broker.client("collector", broker.collector_password)
    broker.publish(ops, "rating/clock", b'{"v":1,"t":1}')
    wait_until(lambda: "rating/clock" in listener.topics(), what="the clock beacon")
    assert listener.topics() == {"rating/clock"}

    # Nor is a forged presence kept for the next collector to connect.
    late = Inbox(broker.client("collector", broker.collector_password))
    late.subscribe("rating/+/presence", "rating/clock")
    broker.publish(ops, "rating/clock", b'{"v":1,"t":2}')
    wait_until(lambda: "rating/clock" in late.topics(), what="the clock beacon")
    assert late.topics() == {"rating/clock"}
