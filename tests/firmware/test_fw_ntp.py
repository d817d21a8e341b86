"""The firmware's own SNTP client (firmware/ntp.py) under MicroPython, against a small SNTP server
of the test's own: answers, silence, bad answers, and above all a poll loop that keeps running."""

from __future__ import annotations

import time

from fwtools import SntpServer, box_config, mp_json

QUERY = r"""
import asyncio, json, sys, time, ntp
P = json.load(open(sys.argv[1]))
def up():
    return time.ticks_ms()
async def main():
    addr = ntp.resolve("127.0.0.1", P["port"])
    t = time.ticks_ms()
    got = await ntp.query(addr, up, P.get("timeout", 1500))
    took = time.ticks_diff(time.ticks_ms(), t)
    if got is None:
        return [None, took]
    # UTC now according to the answer, vs the host clock now
    return [got[1] + time.ticks_diff(time.ticks_ms(), got[0]) - time.time_ns() // 1000000, took]
print(json.dumps(asyncio.run(main())))
"""


def test_query_returns_an_anchor_on_the_servers_clock(sntp: SntpServer) -> None:
    sntp.offset_s = 3600.5
    error_ms, took = mp_json(QUERY, data={"port": sntp.port})
    assert abs(error_ms - 3600500) < 50
    assert took < 500


def test_silent_server_and_bad_answers_time_out_without_an_anchor(sntp: SntpServer) -> None:
    sntp.answer = False
    assert mp_json(QUERY, data={"port": sntp.port, "timeout": 300})[0] is None
    sntp.answer = True
    sntp.stratum = 0  # kiss-o'-death / unsynchronised
    assert mp_json(QUERY, data={"port": sntp.port, "timeout": 300})[0] is None
    sntp.stratum, sntp.mode = 2, 3  # not a server reply
    assert mp_json(QUERY, data={"port": sntp.port, "timeout": 300})[0] is None
    assert sntp.requests == 3


def test_reply_to_another_request_is_ignored() -> None:
    res = mp_json(r"""
import json, ntp
reply = bytearray(48)
reply[0] = 0x24
reply[1] = 2
reply[24:32] = bytes(range(8))
ours = ntp.request((1, 2))
print(json.dumps([ntp.parse_reply(reply, (1, 2)), ntp.parse_reply(reply, (0x00010203, 0x04050607)) is not None,
                  list(ours[40:48]), ours[0]]))
""")
    assert res == [None, True, [0, 0, 0, 1, 0, 0, 0, 2], 0x23]


BOX = r"""
import asyncio, json, sys, time
import boxrig, mp_helpers
P = json.load(open(sys.argv[1]))
root = mp_helpers.mount(mp_helpers.RAMBlockDev(), fresh=True)
box = boxrig.make(P["cfg"], root)
gaps = []
async def main():
    box.start()
    last = time.ticks_ms()
    end = time.ticks_add(last, P["ms"])
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        await asyncio.sleep_ms(0)
        seen = box.alive[0]
        if seen != last:
            gaps.append(time.ticks_diff(seen, last))
            last = seen
    box.stop()
asyncio.run(main())
print(json.dumps({"max_gap": max(gaps), "polls": len(gaps), "source": box.clock.source,
                  "lines": [ln for ln in box.lines if "ntp" in ln]}))
"""


def test_poll_loop_keeps_running_while_ntp_waits(sntp: SntpServer) -> None:
    # A silent NTP server: each query waits out its timeout while the buttons are polled as usual.
    sntp.answer = False
    cfg = box_config(1, ntp=sntp.address, timings={"poll_ms": 5})  # no broker: port 1 refuses
    res = mp_json(BOX, data={"cfg": cfg, "ms": 4000})
    assert sntp.requests >= 2, res
    assert res["source"] == "none"
    # poll_ms 5: a blocking query would show a gap of 1500 ms (its timeout); the margin below that
    # is for a loaded machine, where the scheduler alone can delay a poll by tens of ms.
    assert res["max_gap"] <= 250, res
    assert res["polls"] > 400


def test_box_anchors_by_ntp_when_the_server_answers_later(sntp: SntpServer) -> None:
    sntp.answer = False

    def later() -> None:
        time.sleep(1)
        sntp.answer = True

    import threading

    threading.Thread(target=later, daemon=True).start()
    cfg = box_config(1, ntp=sntp.address)
    res = mp_json(BOX, data={"cfg": cfg, "ms": 6000})
    assert res["source"] == "ntp", res
