"""The host code and the tests stay lint-clean (ruff) and type-clean (mypy), as `make lint` checks
them (the Makefile is the one list of what is checked, and how); the firmware has its own checks
against the ESP32 stubs in tests/firmware/test_fw_build.py."""

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_make_lint_passes() -> None:
    make = shutil.which("make")
    assert make, "make is not installed (apt-get install make)"
    # -o setup: the venv is the one running this test; setting it up again is not lint's business here.
    done = subprocess.run([make, "--no-print-directory", "-o", "setup", "lint"], cwd=REPO, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
