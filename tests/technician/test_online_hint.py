"""When a box does not come online, provision says what the box itself reported since its reset,
and blames Wi-Fi only when the box did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.box import FIRMWARE_DIR
from technician.provision import diagnose
from tests.helpers.technician import port_of


@pytest.fixture(scope="session")
def no_hardware_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release for virtual boxes whose board module is the ESP32's: on the unix port its first
    import (`network`) fails, as a board module fails on a board without the hardware it drives."""
    from technician.build import build

    out = tmp_path_factory.mktemp("release-no-hw") / "release"
    build(out, board=FIRMWARE_DIR / "board.py", target="virtual")
    return out


def test_a_box_missing_a_module_is_not_sent_to_check_wifi(tech: Any, blank_box: Any,
                                                           no_hardware_release: Path) -> None:
    box = blank_box("h")
    result = tech("provision", port_of(box), "--counter", "17", "--release", str(no_hardware_release),
                  "--timeout", "6")
    assert result.exit_code == 1, result.output
    assert "did not come online" in result.stderr
    assert "The box reported: \"ImportError: no module named 'network'\"" in result.stderr, result.stderr
    assert "Wi-Fi and the broker are not the cause" in result.stderr
    assert "check them" not in result.stderr


@pytest.mark.parametrize(("console", "kind", "line"), [
    ("rating box fw 0.1.0, board 24a1\nTraceback (most recent call last):\n  File \"main.py\", line 1, in <module>\n"
     + "ImportError: no module named 'network'\nMicroPython v1.29.0 on 2026-08-29\n>>> ",
     "crash", "ImportError: no module named 'network'"),
    ("rating box fw 0.1.0, board 24a1\nboard init failed: AttributeError(\"'module' object has no attribute 'PWM'\",)\n",
     "crash", "board init failed: AttributeError(\"'module' object has no attribute 'PWM'\",)"),
    ("rating box fw 0.1.0, board 24a1\nconfig error 7: broker.port: 1..65535\n", "boot",
     "config error 7: broker.port: 1..65535"),
    ("boot 1 box box-017\nwifi: connecting to center-wifi\nerror: wifi: no connection\nnet: retry in 1000 ms\n",
     "wifi", "error: wifi: no connection"),
    ("wifi: connecting to center-wifi\nwifi: up, rssi -60\nerror: broker: connect: [Errno 111] ECONNREFUSED\n",
     "broker", "error: broker: connect: [Errno 111] ECONNREFUSED"),
    ("ets Jun  8 2016 00:22:57\nrst:0xc (SW_CPU_RESET)\n", "", "rst:0xc (SW_CPU_RESET)"),
    ("", "", ""),
])
def test_what_the_box_said(console: str, kind: str, line: str) -> None:
    assert diagnose(console.replace("\n", "\r\n").replace("\r", "")) == (kind, line)
