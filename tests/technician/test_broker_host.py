"""A real box (an ESP32) is never given a loopback broker address (the default 127.0.0.1) without
being asked: it would look for the broker on itself and only time out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from technician.device import BoardInfo
from technician.provision import is_loopback
from tests.helpers.technician import port_of


def test_loopback_names() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST.", "::1", "[::1]", "0.0.0.0", "box.localhost"):
        assert is_loopback(host), host
    for host in ("192.168.1.10", "10.0.0.5", "broker.center.local", "fe80::1"):
        assert not is_loopback(host), host


def test_a_real_box_is_not_given_a_loopback_broker(tech_in_process: Any, blank_box: Any, esp32_release: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The virtual box says it is an ESP32 (sys.platform "esp32"), and gets an ESP32 release.
    monkeypatch.setattr(BoardInfo, "board", property(lambda self: "esp32"))
    box = blank_box("l")
    refused = tech_in_process("provision", port_of(box), "--counter", "17", "--release", str(esp32_release))
    assert refused.exit_code == 1, refused.output
    assert "broker address for boxes is 127.0.0.1" in refused.output and "RATING_MQTT_HOST" in refused.output
    assert "RATING_TECH_BROKER_HOST" in refused.output and "--allow-loopback-broker" in refused.output
    assert "not changed" in refused.output
    named = tech_in_process("provision", port_of(box), "--counter", "17", "--release", str(esp32_release),
                            RATING_TECH_BROKER_HOST="localhost")
    assert named.exit_code == 1 and "broker address for boxes is localhost" in named.output, named.output
    assert box.flash_ls() == {}


def test_loopback_allowed_when_asked_for(tech_in_process: Any, blank_box: Any, esp32_release: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BoardInfo, "board", property(lambda self: "esp32"))
    box = blank_box("k", extra_files={"photos.bin": b"\0" * (460 * 1024)})  # stops at the next check: full flash
    result = tech_in_process("provision", port_of(box), "--counter", "17", "--release", str(esp32_release),
                             "--allow-loopback-broker")
    assert result.exit_code == 1
    assert "broker address" not in result.output and "flash is full" in result.output, result.output
    assert set(box.flash_ls()) == {"/photos.bin"}
