"""The box accounts `rating-tech provision`, `replace` and `bulk` make are bound to their box ids
as MQTT client ids, as `rating-collector broker add-box` makes one (collector.broker.add_box): the
broker refuses such an account under any other client id (another box's, the collector's), so a box
cannot connect as another and cut it off. So is the account `rating-sim box` makes for its box.
Run against the real Mosquitto of the tests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from simulator.box import VirtualBox, make_config
from tests.helpers.technician import port_of

# Another box's id, the collector's and another of its share group, a tool's id of the tests' making.
OTHER_IDS = ("box-018", "box-017-2", "collector-1", "collector-2", "probe-0a1b2c3d")


def connack(broker: Any, username: str, password: str, client_id: str, timeout: float = 10) -> Any:
    """The reason code of the broker's CONNACK to one connection attempt (None: none came)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
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


def password_of(box: Any) -> str:
    return str(json.loads(box.flash_read("config.json"))["broker"]["password"])


def admitted_as_itself(broker: Any, box: str, password: str, timeout: float = 10) -> Any:
    """The CONNACK to the box's account connecting as its box id, tried until admitted (the
    broker re-reads its password file a moment after a reload)."""
    deadline = time.monotonic() + timeout
    while True:
        reason = connack(broker, box, password, box)
        if (reason is not None and not reason.is_failure) or time.monotonic() > deadline:
            return reason
        time.sleep(0.1)


def assert_bound(broker: Any, box: str, password: str) -> None:
    """The box's account is refused under every other client id, admitted under its own. It is
    admitted as itself first, so its password is known to the broker and a refusal can only be
    the binding's."""
    first = admitted_as_itself(broker, box, password)
    assert first is not None and not first.is_failure, f"{box}'s account refused as itself: {first}"
    for other in OTHER_IDS:
        if other == box:
            continue
        reason = connack(broker, box, password, other)
        assert reason is not None and reason.is_failure and "not authori" in str(reason).lower(), \
            f"{box}'s account connected as {other}: {reason}"
    own = connack(broker, box, password, box)
    assert own is not None and not own.is_failure, f"{box}'s account refused as itself: {own}"


def test_a_provisioned_box_connects_only_as_its_box_id(tech: Any, blank_box: Any, broker: Any) -> None:
    box = blank_box("a")
    result = tech("provision", port_of(box), "--counter", "17")
    assert result.exit_code == 0, result.output
    assert_bound(broker, "box-017", password_of(box))


def test_a_replacement_box_connects_only_as_its_box_id(tech: Any, blank_box: Any, broker: Any) -> None:
    assert tech("provision", port_of(blank_box("old")), "--counter", "17").exit_code == 0
    new = blank_box("new")
    result = tech("replace", port_of(new), "--counter", "17")
    assert result.exit_code == 0, result.output
    assert "box-017-2 is online" in result.output
    assert_bound(broker, "box-017-2", password_of(new))


def test_boxes_provisioned_in_bulk_connect_only_as_their_box_ids(
        tech: Any, blank_box: Any, broker: Any, tmp_path: Path) -> None:
    boxes = [blank_box("c"), blank_box("d")]
    csv = tmp_path / "counters.csv"
    csv.write_text("counter\n17\n18\n", encoding="utf-8")
    result = tech("bulk", str(csv), "--ports", ",".join(port_of(b) for b in boxes))
    assert result.exit_code == 0, result.output
    assert "2 of 2 boxes online" in result.output
    for box_id, box in zip(("box-017", "box-018"), boxes, strict=True):
        assert_bound(broker, box_id, password_of(box))


def test_the_box_of_rating_sim_connects_only_as_its_box_id(broker: Any, tmp_path: Path) -> None:
    """`rating-sim box` gives its box an account in the broker's folder, as add-box does."""
    workdir = tmp_path / "sim-box"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "rating-sim"), "box", "--box", "box-031", "--counter", "17",
         "--broker-dir", str(broker.broker.broker_dir), "--broker-port", str(broker.port), "--workdir", str(workdir),
         "--no-ntp"], input="q\n", capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    flash = VirtualBox(make_config("box-031", "17", password="-", broker_port=broker.port), workdir)
    assert_bound(broker, "box-031", json.loads(flash.flash_read("config.json"))["broker"]["password"])
