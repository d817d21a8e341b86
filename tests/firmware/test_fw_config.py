"""config.json validation under MicroPython, and the firmware's scale table against the contract."""

from __future__ import annotations

import copy
import json
from typing import Any

from schemas.contract import scales
from tests.helpers.firmware import box_config, mp_json


def validate_all(cfgs: list[Any]) -> list[list[Any]]:
    return mp_json("config_validate.py", data=cfgs)


def variant(path: str, value: Any, delete: bool = False) -> dict[str, Any]:
    cfg = copy.deepcopy(box_config(1883))
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    if delete:
        del node[last]
    else:
        node[last] = value
    return cfg


def test_valid_config_gets_timing_defaults() -> None:
    cfg = box_config(1883)
    del cfg["timings"]
    [[status, timings]] = validate_all([cfg])
    assert status == "ok"
    assert timings == {
        "debounce_ms": 50,
        "poll_ms": 5,
        "lockout_ms": 4000,
        "stuck_ms": 10000,
        "heartbeat_s": 60,
        "keepalive_s": 30,
        "watchdog_ms": 10000,
        "clock_wait_s": 0,
        "ack_timeout_s": 5,
        "backoff_max_s": 60,
        "confirm_wait_s": 20,
    }


def test_every_scale_and_button_count_accepted() -> None:
    cfgs = []
    for scale, n in (("sat2", 2), ("vn3", 3), ("smiley4", 4)):
        cfg = box_config(1883, scale=scale, levels=list(range(n)))
        cfg["pins"]["buttons"] = [12, 13, 14, 15][:n]
        cfgs.append(cfg)
    assert [r[0] for r in validate_all(cfgs)] == ["ok", "ok", "ok"]


BAD = [
    # (why, config, expected code)
    ("not an object", [1, 2], 3),
    ("box id", variant("box", "BOX-17"), 4),
    ("box id empty suffix", variant("box", "box-"), 4),
    ("counter too long", variant("counter", "x" * 17), 4),
    ("counter missing", variant("counter", None, delete=True), 4),
    ("unknown scale", variant("scale", "stars5"), 5),
    ("level beyond scale", variant("levels", [0, 2]), 5),
    ("levels count != buttons", variant("levels", [0]), 5),
    ("one button", variant("pins.buttons", [12]), 6),
    ("five buttons", variant("pins.buttons", [12, 13, 14, 15, 16]), 6),
    ("pin reused", variant("pins.led_status", 12), 6),
    ("pin not a number", variant("pins.led_feedback", "2"), 6),
    ("no wifi", variant("wifi", None, delete=True), 7),
    ("empty ssid", variant("wifi.ssid", ""), 7),
    ("broker port", variant("broker.port", 70000), 7),
    ("tls not boolean", variant("broker.tls", "yes"), 7),
    ("username is not the box", variant("broker.username", "box-018"), 7),
    ("no password", variant("broker.password", None, delete=True), 7),
    ("ntp empty", variant("ntp", ""), 7),
    ("ntp port not a number", variant("ntp", "pool.ntp.org:ntp"), 7),
    ("ntp port 0", variant("ntp", "127.0.0.1:0"), 7),
    ("ntp port too big", variant("ntp", "127.0.0.1:65536"), 7),
    ("ntp no host", variant("ntp", ":123"), 7),
    ("ntp not a string", variant("ntp", 123), 7),
    ("ack timeout too long", variant("timings", {"ack_timeout_s": 21}), 8),
    ("backoff cap zero", variant("timings", {"backoff_max_s": 0}), 8),
    ("unknown timing", variant("timings", {"debounce": 50}), 8),
    ("negative timing", variant("timings", {"lockout_ms": -1}), 8),
    ("boolean timing", variant("timings", {"lockout_ms": True}), 8),
    ("debounce below poll", variant("timings", {"debounce_ms": 2}), 8),
    ("watchdog too short", variant("timings", {"watchdog_ms": 500}), 8),
]


def test_invalid_configs_raise_numbered_errors() -> None:
    results = validate_all([cfg for _, cfg, _ in BAD])
    for (why, _, code), (got_code, reason) in zip(BAD, results):
        assert got_code == code, (why, reason)
        assert reason and "pw-" not in reason and "secret" not in reason, (why, reason)


def test_missing_and_broken_files(tmp_path) -> None:
    res = mp_json("config_files.py", cwd=tmp_path)
    assert res == [2, 3]


def test_scale_table_matches_schemas_scales_json() -> None:
    firmware = mp_json("config_scales.py")
    assert firmware == {name: len(s["levels"]) for name, s in scales().items()}


def test_bad_config_blinks_its_code_and_never_publishes(make_box, mosquitto, listener) -> None:
    cfg = box_config(mosquitto.port)
    cfg["levels"] = [0, 7]
    box = make_box(cfg).start()
    line = box.wait_line("config error")
    assert line.startswith("config error 5:")
    assert box.proc is not None and box.proc.poll() is None  # still running: blinking, not rebooting
    # nothing from this box on the broker, not even a presence (it never connects)
    listener.client.loop_stop()
    assert listener.messages.empty()
    assert json.dumps(cfg["broker"]["password"]) not in "\n".join(box.seen)


def test_ntp_server_forms() -> None:
    res = mp_json("config_ntp_forms.py")
    assert res == [["pool.ntp.org", 123], ["10.0.0.1", 1123], ["127.0.0.1", 123]]
    [[status, _]] = validate_all([variant("ntp", "127.0.0.1:5123")])
    assert status == "ok"
