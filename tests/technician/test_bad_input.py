"""Bad input gives a clear message and a non-zero exit, and leaves no box that looks healthy and no
broker password file that lost anyone's entry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collector.broker import list_accounts
from simulator.box import BOARD_DIR
from tests.helpers.technician import RATING_TECH, port_of


def test_no_device_at_the_port(tech: Any, refusing_port: int) -> None:
    result = tech("provision", f"socket://127.0.0.1:{refusing_port}", "--counter", "17")
    assert result.exit_code == 1
    assert "no device at socket://" in result.output
    serial = tech("check", "/dev/ttyUSB-none")
    assert serial.exit_code == 1 and "no device at /dev/ttyUSB-none" in serial.output


def test_a_peer_that_is_not_micropython(tech: Any, garbage_peer: int) -> None:
    result = tech("provision", f"socket://127.0.0.1:{garbage_peer}", "--counter", "17")
    assert result.exit_code == 1
    assert "does not answer like MicroPython" in result.output


def test_unknown_counter_changes_nothing(tech: Any, blank_box: Any, broker: Any) -> None:
    box = blank_box("u")
    before = list_accounts(broker.broker.broker_dir)
    result = tech("provision", port_of(box), "--counter", "99")
    assert result.exit_code == 1
    assert "counter '99' is missing from the registry" in result.output
    assert box.flash_ls() == {}
    assert list_accounts(broker.broker.broker_dir) == before


def test_broker_unreachable_changes_nothing(tech: Any, blank_box: Any, refusing_port: int) -> None:
    box = blank_box("n")
    result = tech("provision", port_of(box), "--counter", "17", RATING_MQTT_PORT=str(refusing_port))
    assert result.exit_code == 1
    assert "unreachable" in result.output and "nothing was changed" in result.output
    assert box.flash_ls() == {}


def test_full_flash_is_refused_before_anything_is_written(tech: Any, blank_box: Any) -> None:
    box = blank_box("f", extra_files={"photos.bin": b"\0" * (460 * 1024)})
    result = tech("provision", port_of(box), "--counter", "17")
    assert result.exit_code == 1
    assert "flash is full" in result.output and "not changed" in result.output
    assert set(box.flash_ls()) == {"/photos.bin"}


def test_unsupported_micropython_version(tech_in_process: Any, blank_box: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import technician.provision

    monkeypatch.setattr(technician.provision, "MIN_VERSION", (1, 99))  # the virtual box runs 1.29
    box = blank_box("v")
    result = tech_in_process("provision", port_of(box), "--counter", "17")
    assert result.exit_code == 1
    assert "is too old" in result.output and "1.99 or newer" in result.output
    assert box.flash_ls() == {}


def test_missing_settings_and_release(tech: Any, blank_box: Any, tmp_path: Any) -> None:
    box = blank_box("s")
    no_wifi = tech("provision", port_of(box), "--counter", "17", RATING_TECH_WIFI_SSID="")
    assert no_wifi.exit_code == 1 and "Wi-Fi SSID is not set" in no_wifi.output
    no_release = tech("provision", port_of(box), "--counter", "17", RATING_TECH_RELEASE_DIR=str(tmp_path))
    assert no_release.exit_code == 1 and "rating-tech build" in no_release.output
    assert box.flash_ls() == {}


def test_every_command_has_help() -> None:
    for command in ([], ["build"], ["provision"], ["check"], ["bulk"], ["replace"], ["settings"]):
        done = subprocess.run([str(RATING_TECH), *command, "--help"], capture_output=True, text=True, check=False,
                              env={"PATH": "/usr/bin:/bin"})
        assert done.returncode == 0 and "Usage: rating-tech" in done.stdout, done.stderr


def test_build_writes_a_release_with_a_manifest(tmp_path: Path) -> None:
    out = tmp_path / "release"
    done = subprocess.run([str(RATING_TECH), "build", "--out", str(out)], capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert "app.mpy" in manifest["files"] and "main.py" in manifest["files"] and "app.py" not in manifest["files"]
    assert manifest["version"] in done.stdout
    assert manifest["board"] == "esp32"


def test_build_records_the_board_it_is_for(tmp_path: Path) -> None:
    def build(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(RATING_TECH), "build", *args], capture_output=True, text=True, check=False,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path)

    sim = build("--board", str(BOARD_DIR / "board.py"), "--out", "release-sim")
    assert sim.returncode == 0, sim.stderr
    assert json.loads((tmp_path / "release-sim" / "manifest.json").read_text())["board"] == "virtual"
    custom = tmp_path / "board.py"
    custom.write_text((BOARD_DIR / "board.py").read_text() + "# this center's own board module\n")
    unsaid = build("--board", str(custom), "--out", "release-custom")
    assert unsaid.returncode == 1 and "--target" in unsaid.stderr, unsaid.stderr
    said = build("--board", str(custom), "--target", "virtual", "--out", "release-custom")
    assert said.returncode == 0, said.stderr
    assert json.loads((tmp_path / "release-custom" / "manifest.json").read_text())["board"] == "virtual"


def test_a_release_for_another_board_is_refused(tech: Any, blank_box: Any, esp32_release: Path,
                                                tmp_path: Path) -> None:
    box = blank_box("e")
    result = tech("provision", port_of(box), "--counter", "17", "--release", str(esp32_release))
    assert result.exit_code == 1, result.output
    assert "was built for an ESP32" in result.stderr and "is a virtual box" in result.stderr, result.stderr
    assert "--board simulator/board/board.py" in result.stderr and "not changed" in result.stderr
    assert box.flash_ls() == {}

    # A release from before manifests named the board: refused too, with what to do.
    old = tmp_path / "old-release"
    shutil.copytree(esp32_release, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["board"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    unknown = tech("provision", port_of(box), "--counter", "17", "--release", str(old))
    assert unknown.exit_code == 1 and "does not say which board" in unknown.stderr, unknown.output
    assert box.flash_ls() == {}


def test_the_box_config_check_runs_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """provision checks config.json with the firmware's own validator before it touches a box: in
    an interpreter that imported nothing else first (no test, no simulator), as rating-tech runs."""
    code = ("from technician.provision import Technician\n"
            "from technician.settings import TechSettings\n"
            "from collector.settings import Settings\n"
            "t = Technician(TechSettings(wifi_ssid='center-wifi'), Settings())\n"
            "print(len(t.box_config('box-017', '17', 'sat2', 'x' * 24, None)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0
