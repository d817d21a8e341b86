"""Every firmware module compiles for the box (mpy-cross rejects CPython-only syntax) and
type-checks against the ESP32 port's stubs."""

import os
import subprocess
from pathlib import Path

import pytest

from simulator.box import micropython_binary
from technician.build import mpy_cross_binary
from tests.helpers.firmware import FIRMWARE
from tests.helpers.paths import REPO

MODULES = sorted(FIRMWARE.glob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_compiles_with_mpy_cross(module: Path, tmp_path: Path) -> None:
    out = tmp_path / (module.stem + ".mpy")
    proc = subprocess.run(
        [mpy_cross_binary(), "-o", str(out), str(module)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def test_only_board_touches_hardware() -> None:
    for module in MODULES:
        if module.name == "board.py":
            continue
        text = module.read_text()
        for hw in ("machine", "network", "esp32", "ntptime"):
            assert f"import {hw}" not in text, f"{module.name} imports {hw}"


def test_main_is_trivial() -> None:
    code = [ln for ln in (FIRMWARE / "main.py").read_text().splitlines() if ln and not ln.startswith("#")]
    assert code == ["import releases", "app, trial = releases.boot()", "del releases", "app.run(trial)"]


def test_mypy_against_esp32_stubs() -> None:
    assert (REPO / "typings" / "machine.pyi").exists(), (
        "ESP32 stubs missing: make setup installs them into typings/"
    )
    proc = subprocess.run(
        [
            str(REPO / ".venv/bin/mypy"),
            "--config-file",
            "firmware/mypy.ini",
            "--custom-typeshed-dir",
            "typings",
            "--no-incremental",
            "firmware/",
        ],
        cwd=REPO,
        env=dict(os.environ, MYPYPATH="typings"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_release_leaves_line_numbers_out_and_source_lines_keeps_them(tmp_path: Path) -> None:
    from technician.build import build

    src = tmp_path / "src"
    src.mkdir()
    (src / "messages.py").write_text('FW_VERSION = "0.0-test"\n')
    (src / "boom.py").write_text('def fail():\n    n = 1\n    raise ValueError("boom %d" % n)\n')
    script = "import sys, boom\ntry:\n    boom.fail()\nexcept ValueError as e:\n    sys.print_exception(e)\n"
    for source_lines, line in ((False, 1), (True, 3)):
        release = tmp_path / f"release-{source_lines}"
        build(release, firmware_dir=src, source_lines=source_lines)
        assert not (release / "boom.py").exists()  # the box runs the .mpy
        done = subprocess.run([micropython_binary(), "-c", script], capture_output=True, text=True,
                              check=False, env={**os.environ, "MICROPYPATH": str(release)}, timeout=30)
        assert f'File "boom.py", line {line}, in fail' in done.stdout + done.stderr, done.stdout + done.stderr
