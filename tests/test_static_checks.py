"""The host code and the tests stay lint-clean (ruff) and type-clean (mypy), as `make lint` checks
them (the Makefile is the one list of what is checked, and how); the firmware has its own checks
against the ESP32 stubs in tests/firmware/test_fw_build.py. The MicroPython scripts the tests and the
bench run on the unix port are type-checked by `make lint` against the same stubs, and compile
with mpy-cross here, as the firmware does."""

import shutil
import subprocess
from pathlib import Path

import pytest

from technician.build import mpy_cross_binary
from tests.helpers.paths import REPO

# What runs under MicroPython without being the firmware (the Makefile's MP_SCRIPTS).
MP_SCRIPTS = sorted(
    [*(REPO / "bench" / "mp").glob("*.py"), *(REPO / "tests" / "firmware" / "mp").glob("*.py")]
    + [REPO / "tests" / "firmware" / "mp_helpers.py", REPO / "tests" / "firmware" / "boxrig.py"]
)


def test_make_lint_passes() -> None:
    make = shutil.which("make")
    assert make, "make is not installed (apt-get install make)"
    # -o setup: the venv is the one running this test; setting it up again is not lint's business here.
    done = subprocess.run([make, "--no-print-directory", "-o", "setup", "lint"], cwd=REPO, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", MP_SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_micropython_script_compiles_with_mpy_cross(script: Path, tmp_path: Path) -> None:
    out = tmp_path / (script.stem + ".mpy")
    done = subprocess.run([mpy_cross_binary(), "-o", str(out), str(script)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_test_modules_have_unique_names() -> None:
    # The test folders are not packages: pytest imports each test file by its basename, so a worker
    # that collects two files of one name refuses the second ("import file mismatch").
    seen: dict[str, Path] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        assert path.name not in seen, f"{path.relative_to(REPO)} has the name of {seen[path.name].relative_to(REPO)}"
        seen[path.name] = path
