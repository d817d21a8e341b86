"""Whole boxes inside one MicroPython process (app.Box on an in-memory board, LittleFS on a RAM
block device) against a real Mosquitto: hours of buffering placed by the box's own ticks, and a
power cut at every block write of a press-publish-ack cycle with the firmware restarted after
each cut."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from schemas.contract import schema_errors
from tests.helpers.firmware import BOX_PASSWORDS, Listener, SntpServer, box_config, mp_json


def test_presses_buffered_for_hours_are_placed_within_2_s(mosquitto, listener: Listener) -> None:
    cfg = box_config(mosquitto.port, timings={"lockout_ms": 0, "debounce_ms": 10, "poll_ms": 2})
    res = mp_json(
        "box_hours.py",
        data={
            "cfg": cfg,
            "port": mosquitto.port,
            "password": BOX_PASSWORDS["collector"],
            "hours": 8,
            "debounce": 10,
        },
    )
    presses = listener.presses(3)
    assert [p["seq"] for p in presses] == [1, 2, 3]
    assert res["up"] > 8 * 3600000
    for p, truth in zip(presses, res["pressed"], strict=True):
        assert schema_errors("press", p) == [] and p["clock"] == "sync"
        assert abs(p["t"] - truth) < 2000, (p["t"] - truth, p)
        assert abs(p["t"] - truth) < 100  # what it actually is on loopback


def test_power_cut_at_every_block_write_of_a_whole_box(
    mosquitto, listener: Listener, sntp: SntpServer
) -> None:
    cfg = box_config(
        mosquitto.port,
        ntp=sntp.address,
        timings={"lockout_ms": 0, "debounce_ms": 5, "poll_ms": 1, "keepalive_s": 30},
    )
    runs = mp_json("box_power_cuts.py", data={"cfg": cfg, "max_runs": 400}, timeout=600)
    assert not runs[-1]["cut"], "the sweep ended before the cycle ran through"
    assert len(runs) > 20, "a cycle should take many block writes"
    time.sleep(1)  # the last messages
    by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
    while not listener.messages.empty():
        topic, payload, _ = listener.messages.get()
        if topic.endswith("/press"):
            assert schema_errors("press", payload) == [], payload
            by_run[payload["boot"] // 1000 - 1].append(payload)
    for run in runs:
        sent = by_run[run["n"]]
        seqs = {p["seq"] for p in sent}
        # every press the citizen was told about reached the broker (before the cut or after)
        assert set(run["shown"]) <= seqs, run
        # one seq, one press (a resend repeats it); one press, one seq
        ident: dict[int, tuple[int, int, int]] = {}
        for p in sent:
            key = (p["boot"], p["up"], p["level"])
            assert ident.setdefault(p["seq"], key) == key, (run, p)
        assert len(set(ident.values())) == len(ident), run
        # seq and boot never handed out twice
        before = {p["seq"] for p in sent if p["boot"] != run["boot2"]}
        assert run["new"] > max([*before, *run["shown"], 0]), run
        assert next(p["boot"] for p in sent if p["seq"] == run["new"]) == run["boot2"]
        if run["boot1"] is not None:
            assert run["boot2"] > run["boot1"], run
