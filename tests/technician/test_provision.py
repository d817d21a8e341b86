"""Provisioning virtual boxes end to end: the real mpremote over socket://, the real Mosquitto,
the real collector database with its registry."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import Any

from collector.broker import list_accounts
from tests.helpers.technician import port_of, presence_of


def box_config(box: Any) -> dict[str, Any]:
    return json.loads(box.flash_read("config.json"))


def test_provision_a_blank_box_until_it_is_online(tech: Any, blank_box: Any, broker: Any, release: Path) -> None:
    broker.add_box("box-099", "another-box-password")  # someone else's account must survive
    box = blank_box("a")
    result = tech("provision", port_of(box), "--counter", "17")
    assert result.exit_code == 0, result.output
    manifest = json.loads((release / "manifest.json").read_text())
    assert f"box-017 is online at counter 17 with firmware {manifest['version']}" in result.output

    seen = presence_of(broker, "box-017")
    assert (seen["state"], seen["counter"], seen["fw"]) == ("online", "17", manifest["version"])
    cfg = box_config(box)
    assert cfg["box"] == cfg["broker"]["username"] == "box-017"
    assert cfg["wifi"] == {"ssid": "center-wifi", "password": "wifi-secret-123"}
    assert cfg["broker"]["port"] == broker.port
    assert cfg["pins"] == {"buttons": [32, 33], "led_feedback": 18, "led_status": 4, "buzzer": 19}
    files = box.flash_ls()
    assert set(manifest["files"]) <= {name.lstrip("/") for name in files}
    assert "/config.tmp" not in files and "/config.bak" not in files
    assert {"box-017", "box-099", "collector"} <= set(list_accounts(broker.broker.broker_dir))
    assert cfg["broker"]["password"] not in result.output and "wifi-secret-123" not in result.output

    # check reads it back over the REPL, secrets masked, and leaves it running again.
    boots = box.boots
    checked = tech("check", port_of(box))
    assert checked.exit_code == 0, checked.output
    assert "box-017 / 17" in checked.output and manifest["version"] in checked.output
    assert "presses not yet sent" in checked.output and "connected" in checked.output
    assert "box reset: it runs its firmware again" in checked.output
    assert cfg["broker"]["password"] not in checked.output and "wifi-secret-123" not in checked.output
    box.wait_for(lambda: box.boots > boots, timeout=10)
    assert presence_of(broker, "box-017")["state"] == "online"
    print(checked.output)


def test_reprovision_upgrades_and_keeps_identity_and_unsent_presses(
    tech: Any, blank_box: Any, broker: Any, upgrade_release: Path
) -> None:
    box = blank_box("b")
    # No NTP and no collector beacon: the box stores presses but holds them (no time anchor yet).
    try:
        assert tech("provision", port_of(box), "--counter", "17").exit_code == 0
    except Exception:
        print(broker.broker.log_path.read_text())
        raise
    first_password = box_config(box)["broker"]["password"]
    for n in (1, 2):
        box.press(0, seed=n)
        try:
            box.wait_for(lambda n=n: f"press seq={n}" in box.console(), timeout=5)
        except TimeoutError:
            raise AssertionError(box.console()[-2000:]) from None
        time.sleep(0.5)  # released and settled before the next press
    listener = broker.client("collector", broker.collector_password)
    presses: queue.Queue[dict[str, Any]] = queue.Queue()
    listener.on_message = lambda c, u, m: presses.put(json.loads(m.payload))
    listener.subscribe("rating/+/press", qos=1)

    result = tech("provision", port_of(box), "--release", str(upgrade_release),
                  RATING_TECH_NTP=f"127.0.0.1:{box.ntp_port}")
    assert result.exit_code == 0, result.output
    assert "box-017 is online at counter 17 with firmware 9.9.9-test" in result.output
    cfg = box_config(box)
    assert cfg["box"] == "box-017" and cfg["broker"]["password"] != first_password
    sent = sorted((p["box"], p["seq"]) for p in (presses.get(timeout=15), presses.get(timeout=15)))
    assert sent == [("box-017", 1), ("box-017", 2)]


def test_bulk_provisions_one_box_per_counter(tech: Any, blank_box: Any, broker: Any, tmp_path: Path) -> None:
    boxes = [blank_box("c"), blank_box("d")]
    csv = tmp_path / "counters.csv"
    csv.write_text("counter\n17\n18\n", encoding="utf-8")
    result = tech("bulk", str(csv), "--ports", ",".join(port_of(b) for b in boxes))
    assert result.exit_code == 0, result.output
    assert "2 of 2 boxes online" in result.output
    assert presence_of(broker, "box-018")["counter"] == "18"
    assert box_config(boxes[1])["scale"] == "vn3" and len(box_config(boxes[1])["levels"]) == 3
    assert box_config(boxes[1])["pins"]["buttons"] == [32, 33, 25]
