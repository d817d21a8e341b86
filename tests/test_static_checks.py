"""The host code stays lint-clean (ruff) and type-clean (mypy); the firmware has its own checks
against the ESP32 stubs in tests/firmware/test_fw_build.py."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST_PACKAGES = ["collector", "simulator", "schemas", "technician", "bench"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff() -> None:
    done = run(sys.executable, "-m", "ruff", "check", *HOST_PACKAGES, "tests")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = run(sys.executable, "-m", "mypy", *HOST_PACKAGES)
    assert done.returncode == 0, done.stdout + done.stderr
