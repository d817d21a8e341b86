"""The box accounts the test helpers and the simulated fleet make are bound to their box ids as
client ids, as `rating-collector broker add-box` binds a real box's (collector.broker.add_box ->
bind_client_ids): the broker the fixtures start refuses such an account under any other client id,
so the tests run against the configuration the boxes meet in service."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from simulator.fleet import admit_boxes
from simulator.traffic import box_name
from tests.helpers.broker import BrokerHandle

# Another box's id, the collector's (a box taking it would cut the collector off), another id of
# the collector's share group, and ids of the test helpers' own making.
OTHER_IDS = ("box-018", "collector-1", "collector-2", "test-0a1b2c3d", "probe")


def connack(broker: BrokerHandle, username: str, password: str, client_id: str, timeout: float = 10) -> Any:
    """The reason code of the broker's CONNACK to one connection attempt (None: none came)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(username, password)
    codes: list[Any] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        codes.append(reason)
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_: done.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0] if codes else None


def refused_under_other_ids(broker: BrokerHandle, box: str, password: str) -> dict[str, Any]:
    """Each other client id -> the CONNACK the box's account got with it; the box first connects as
    itself, so its password is known to the broker (it re-reads passwd asynchronously) and a
    refusal can only be the binding's."""
    own = broker.client(box, password)  # fails the test unless admitted, as its box id
    answers = {other: connack(broker, box, password, other) for other in OTHER_IDS if other != box}
    assert own.is_connected(), f"{box}'s own connection was cut off by the attempts"
    return answers


def assert_refused(answers: dict[str, Any]) -> None:
    for client_id, reason in answers.items():
        assert reason is not None and reason.is_failure, (client_id, reason)
        assert "not authori" in str(reason).lower(), (client_id, reason)


def test_a_box_account_of_the_broker_fixture_connects_only_as_its_box_id(broker: BrokerHandle) -> None:
    password = broker.add_box("box-017", "pw-017")
    assert_refused(refused_under_other_ids(broker, "box-017", password))
    # The collector's account is not bound: several collectors and rating-tech share it.
    for client_id in ("collector-1", f"collector-{uuid.uuid4().hex[:6]}"):
        assert connack(broker, "collector", broker.collector_password, client_id).value == 0


def test_a_box_account_the_fleet_admits_connects_only_as_its_box_id(broker: BrokerHandle) -> None:
    """simulator.fleet.Fleet.start admits its boxes so (admit_boxes), into a broker that runs."""
    passwords = {"box-021": "pw-021", "box-022": "pw-022"}
    admit_boxes(broker.broker.broker_dir, passwords)
    broker.broker.reload()
    for box, password in passwords.items():
        assert_refused(refused_under_other_ids(broker, box, password))


def test_a_box_account_admitted_while_the_broker_is_down_is_bound_when_it_starts(broker: BrokerHandle) -> None:
    broker.broker.stop()
    admit_boxes(broker.broker.broker_dir, {"box-023": "pw-023"})
    broker.broker.start()
    assert_refused(refused_under_other_ids(broker, "box-023", "pw-023"))


def test_a_fleet_of_1000_boxes_is_bound_though_the_broker_takes_packets_of_64_kb_at_most(
        broker: BrokerHandle) -> None:
    """bench.load's and bench.simulator's 1,000 light boxes: their bindings in one control message
    (~90 KB) were over the broker's max_packet_size, and it never answered. bind_client_ids, the
    one home of binding, sends them in messages the broker takes."""
    passwords = {box_name(i, 1000): f"pw-{i}" for i in range(1000)}
    admit_boxes(broker.broker.broker_dir, passwords)
    broker.broker.reload()
    for box in ("box-0001", "box-0500", "box-1000"):
        assert_refused(refused_under_other_ids(broker, box, passwords[box]))
