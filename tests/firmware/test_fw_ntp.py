"""The firmware's own SNTP client (firmware/ntp.py) under MicroPython, against a small SNTP server
of the test's own: answers, silence, bad answers, and above all a poll loop that keeps running."""

from __future__ import annotations

import time

from tests.helpers.firmware import SntpServer, box_config, mp_json


def test_query_returns_an_anchor_on_the_servers_clock(sntp: SntpServer) -> None:
    sntp.offset_s = 3600.5
    error_ms, took = mp_json("ntp_query.py", data={"port": sntp.port})
    assert abs(error_ms - 3600500) < 50
    assert took < 500


def test_silent_server_and_bad_answers_time_out_without_an_anchor(sntp: SntpServer) -> None:
    sntp.answer = False
    assert mp_json("ntp_query.py", data={"port": sntp.port, "timeout": 300})[0] is None
    sntp.answer = True
    sntp.stratum = 0  # kiss-o'-death / unsynchronised
    assert mp_json("ntp_query.py", data={"port": sntp.port, "timeout": 300})[0] is None
    sntp.stratum, sntp.mode = 2, 3  # not a server reply
    assert mp_json("ntp_query.py", data={"port": sntp.port, "timeout": 300})[0] is None
    assert sntp.requests == 3


def test_reply_to_another_request_is_ignored() -> None:
    res = mp_json("ntp_reply.py")
    assert res == [None, True, [0, 0, 0, 1, 0, 0, 0, 2], 0x23]


def test_poll_loop_keeps_running_while_ntp_waits(sntp: SntpServer) -> None:
    # A silent NTP server: each query waits out its timeout while the buttons are polled as usual.
    sntp.answer = False
    cfg = box_config(1, ntp=sntp.address, timings={"poll_ms": 5})  # no broker: port 1 refuses
    res = mp_json("ntp_box.py", data={"cfg": cfg, "ms": 4000})
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
    res = mp_json("ntp_box.py", data={"cfg": cfg, "ms": 6000})
    assert res["source"] == "ntp", res
