"""Over-the-air update: the time to update N virtual boxes (the real firmware on the MicroPython
unix port, one process each) through the real Mosquitto and collector, by `rating-tech ota`.

    .venv/bin/python -m bench.ota [--boxes 3,12,60]

For each fleet size: the canary (one box) alone, then `--all` for the rest, each timed from the
command to every box reporting the new version (the rollout's own tick, 1 s here, and the
technician's polling, 2 s, are in the figures). Per box: from the update command to its report on
the new version (download, checks, switch, reboot, reconnect), as the collector's rollout records it
(to its tick). The center's 60 boxes are the largest default size: their downloads share one
collector and, here, two cores with the 60 MicroPython processes (an ESP32 fleet brings its own CPUs).
The small fleets are the baseline the 60 are read against.

main() returns rows (name, figure, target or None, unit, ok).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from bench import Row, print_table
from bench.load import Stack
from collector.broker import add_box
from simulator.box import BOARD_DIR, VirtualBox, make_config

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VERSION = "0.2.0"


def build(out: Path, key_file: Path) -> None:
    """A signed release of this firmware as VERSION for virtual boxes (rating-tech build)."""
    source = out.parent / "src"
    shutil.copytree(REPO / "firmware", source, ignore=shutil.ignore_patterns("__pycache__"))
    messages = source / "messages.py"
    messages.write_text(messages.read_text().replace('FW_VERSION = "0.1.0"', f'FW_VERSION = "{VERSION}"'))
    subprocess.run([str(BIN / "rating-tech"), "build", "--out", str(out), "--firmware", str(source), "--board",
                    str(BOARD_DIR / "board.py"), "--target", "virtual", "--key-file", str(key_file)],
                   check=True, capture_output=True, timeout=300)


class OtaStack(Stack):
    def env(self) -> dict[str, str]:
        return {**super().env(), "RATING_ROLLOUT_TICK_S": "1", "RATING_ROLLOUT_SOAK_S": "0",
                "RATING_ROLLOUT_RESEND_S": "60", "RATING_CLOCK_BEACON_S": "2"}


def run_fleet(n: int) -> dict[str, float]:
    stack = OtaStack(n).start()
    boxes: list[VirtualBox] = []
    try:
        key_file = stack.root / "fleet.key"
        key_file.write_text(secrets.token_bytes(32).hex())
        build(stack.root / "release", key_file)
        env = stack.env()
        subprocess.run([str(BIN / "rating-collector"), "releases", "add", str(stack.root / "release")], env=env,
                       check=True, capture_output=True, timeout=60)
        registry = json.loads((stack.root / "registry.json").read_text())
        scale_of = {c["code"]: c["scale"] for c in registry["counters"]}
        levels = {"sat2": [0, 1], "vn3": [0, 2], "smiley4": [0, 3]}
        for i, row in enumerate(registry["boxes"]):
            password = secrets.token_urlsafe(12)
            add_box(stack.broker.broker_dir, row["box"], password=password)
            scale = scale_of[row["counter"]]
            config = make_config(row["box"], row["counter"], password=password, broker_port=stack.broker.port,
                                 scale=scale, levels=levels.get(scale, [0, 1]))
            boxes.append(VirtualBox(config, stack.root / row["box"], seed=i,
                                    extra_files={"fleet.key": key_file.read_bytes()}))
        stack.broker.reload()
        starting = [threading.Thread(target=b.start, kwargs={"timeout": 60}) for b in boxes]
        for t in starting:
            t.start()
        for t in starting:
            t.join()
        token = stack.root / "admin-token"
        token.write_text(stack.token)
        tech_env = {**env, "RATING_TECH_COLLECTOR_URL": stack.url, "RATING_TECH_TOKEN_FILE": str(token)}
        _wait_reported(stack, {b.box_id for b in boxes})

        def ota(*args: str) -> float:
            started = time.monotonic()
            done = subprocess.run([str(BIN / "rating-tech"), "ota", VERSION, *args, "--wait", "600"], env=tech_env,
                                  cwd=stack.root, capture_output=True, text=True, timeout=700, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"rating-tech ota {' '.join(args)}: {done.stdout}{done.stderr}")
            return time.monotonic() - started

        canary_s = ota("--canary", boxes[0].box_id)
        all_s = ota("--all") if n > 1 else 0.0
        rollout = httpx.get(f"{stack.url}/api/v1/rollouts/{VERSION}", headers={"Authorization": f"Bearer {stack.token}"},
                            timeout=10).json()
        states = {b["state"] for b in rollout["boxes"]}
        if states != {"updated"}:
            raise RuntimeError(f"not every box updated: {rollout['counts']}")
        per_box = sorted((datetime.fromisoformat(b["changed_at"]) - datetime.fromisoformat(b["sent_at"])).total_seconds()
                         for b in rollout["boxes"] if b["sent_at"])
        return {"canary_s": canary_s, "all_s": all_s, "per_box_median_s": per_box[len(per_box) // 2],
                "per_box_max_s": per_box[-1]}
    finally:
        for b in boxes:
            b.stop()
        stack.stop()


def _wait_reported(stack: Stack, boxes: set[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = httpx.get(f"{stack.url}/api/v1/devices", headers={"Authorization": f"Bearer {stack.token}"}, timeout=10)
        if {d["box"] for d in got.json() if d["fw"]} >= boxes:
            return
        time.sleep(0.5)
    raise RuntimeError("the boxes did not all report")


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.ota", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", default="3,12,60", help="fleet sizes, comma list")
    args = parser.parse_args([] if argv is None else argv)
    sizes = [int(part) for part in args.boxes.split(",")]
    rows: list[Row] = []
    results: dict[int, dict[str, float]] = {}
    for n in sizes:
        print(f"fleet of {n} ...", flush=True)
        results[n] = figures = run_fleet(n)
        rows += [Row(f"{n} boxes: canary (1 box), command to updated", figures["canary_s"], None, "s", None),
                 Row(f"{n} boxes: --all ({n - 1} boxes), command to every box updated", figures["all_s"], None, "s", None),
                 Row(f"{n} boxes: one box, command to its report on the new version (median)",
                     figures["per_box_median_s"], None, "s", None),
                 Row(f"{n} boxes: one box, the same (slowest)", figures["per_box_max_s"], None, "s", None)]
    print_table("over-the-air update (bench.ota)", rows)
    return rows


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
