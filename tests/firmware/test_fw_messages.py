"""Payloads built by firmware/messages.py under MicroPython validate against schemas/."""

from __future__ import annotations

import json

from schemas.contract import box_topic, schema_errors, topics
from tests.helpers.firmware import mp_json


def test_messages_validate_against_the_schemas() -> None:
    out = mp_json("messages_build.py")
    for kind in ("press", "status", "presence"):
        for text in out[kind]:
            payload = json.loads(text)
            assert schema_errors(kind, payload) == [], (kind, payload)
    presses = [json.loads(p) for p in out["press"]]
    assert [p["flags"] for p in presses] == [[], ["suppressed", "test"], ["suppressed"], ["test"], []]
    assert presses[4]["t"] is None and presses[4]["clock"] == "none"
    assert len(json.loads(out["status"][1])["err"]) == 120


def test_topics_match_topics_json() -> None:
    out = mp_json("messages_build.py")
    expected = [box_topic(k, "box-017") for k in ("press", "status", "presence", "command")]
    assert out["topics"] == expected + [topics()["clock"]]


def test_clock_beacon_parsing() -> None:
    assert mp_json("messages_build.py")["clock"] == [1795000000000, None, None, None, None, None, None]
