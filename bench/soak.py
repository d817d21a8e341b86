"""Soak: 60 full virtual boxes (MicroPython processes running the firmware's .mpy release) for a
compressed working week against the real Mosquitto and the real collector process; the memory of
the broker, the collector and every virtual box at the start and at the end (flat?), and the
acceptance report over the whole week. Then, unless --no-faults, the fault proofs of
tests/proof/test_proof_faults.py at the issue's full size (PROOF_SIZE=full: 60 boxes, five collector
kills, a hundred power cuts, a simulated hour of site-wide Wi-Fi outage).

    .venv/bin/python -m bench.soak [--hours 1] [--boxes 60] [--seed 1] [--no-faults]

--hours is the real time the five working days take (default 1: a 12-minute day). `make soak`
runs this. main() returns rows (name, figure, target or None, unit, ok).

Memory figures: RSS from /proc at the start (after boot and a 60 s warm-up) and at the end (after
the report's drain). A box's MicroPython heap is fixed (2 MB by default): a leak there cannot grow
the RSS past the heap, it ends in a MemoryError and a reboot, so "box reboots beyond the first
boot" = 0 over the week is the box's leak check, with RSS flat around it. The firmware's status
messages carry `heap_free` (gc.mem_free() without a collection first, so it includes garbage not yet
collected and swings between collections): shown for information only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from bench import Row, print_table
from bench.load import REPO, Stack, proc_usage
from simulator.fleet import Fleet
from simulator.traffic import parse_scenario

WARMUP_S = 60
COLLECTOR_GROWTH_MB = 30  # a Python process settles; more than this over a week is a leak
BROKER_GROWTH_MB = 10  # the broker holds nothing while the collector keeps up
BOX_GROWTH_MB = 2.5  # a box's heap is fixed at 2 MB: its RSS can only grow by touching it


def devices(stack: Stack) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {stack.token}"}, timeout=30) as c:
        return {d["box"]: d for d in c.get("/api/v1/devices").json()}


def memory(stack: Stack, fleet: Fleet) -> dict[str, Any]:
    boxes = {b.box_id: b.usage()[1] for b in fleet.boxes}
    heaps = {box: d.get("heap_free") for box, d in devices(stack).items()}
    return {"broker": proc_usage(stack.broker_pid)[1], "collector": proc_usage(stack.collector_pid)[1],
            "boxes": boxes, "heap_free": heaps, "t": time.time()}


def week(hours: float, boxes: int, seed: int) -> list[Row]:
    day_s = hours * 3600 / 5
    min_gap = 5.0
    presses = min(25.0, round(0.6 * day_s / (min_gap * 1.02), 1))  # week.json's 25, or what fits a short day
    sc = parse_scenario({"name": "soak-week", "boxes": boxes, "days": 5, "day_minutes": day_s / 60,
                         "presses_per_counter_per_day": presses, "tests_per_box_per_day": 0.02}, "soak-week")
    stack = Stack(boxes).start()
    print(f"stack: broker :{stack.broker.port}, collector {stack.url}; {boxes} full boxes, five days of "
          f"{day_s / 60:.1f} min, {presses:g} presses per counter a day", flush=True)
    # Heartbeat every 20 s (default 60) so that every box reports its free heap often.
    fleet = Fleet(stack.broker.broker_dir, scenario=sc, broker_port=stack.broker.port, seed=seed,
                  workdir=stack.root / "fleet", collector_url=stack.url, token=stack.token,
                  reload=stack.broker.reload, timings={"heartbeat_s": 20})
    trend: list[tuple[float, int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(60):
            try:
                trend.append((time.time(), proc_usage(stack.collector_pid)[1], proc_usage(stack.broker_pid)[1]))
            except OSError:
                pass

    try:
        fleet.start(timeout=300)
        time.sleep(WARMUP_S)
        start = memory(stack, fleet)
        threading.Thread(target=sample, daemon=True).start()
        fleet.run()
        report = fleet.report(drain_timeout=300)
        time.sleep(45)  # two more heartbeats: every box's last heap_free is from the end
        end = memory(stack, fleet)
        stop.set()
        print(report.text(), flush=True)
    finally:
        stop.set()
        fleet.stop()
        stack.stop()

    mb = 2**20
    box_growth = {b: (end["boxes"][b] - start["boxes"][b]) / mb for b in start["boxes"] if b in end["boxes"]}
    heap_drop = {b: start["heap_free"][b] - end["heap_free"][b] for b in start["heap_free"]
                 if start["heap_free"].get(b) is not None and end["heap_free"].get(b) is not None}
    worst_box = max(box_growth, key=lambda b: box_growth[b]) if box_growth else "-"
    collector_growth = (end["collector"] - start["collector"]) / mb
    broker_growth = (end["broker"] - start["broker"]) / mb
    rows = [
        Row("boxes (full, MicroPython)", boxes, None, "boxes", None),
        Row("real duration of the week", round((end["t"] - start["t"]) / 60, 1), None, "min", None),
        Row("presses made", report.made_total, None, "presses", None),
        Row("presses stored", report.stored or 0, None, "presses", None),
        Row("missing + duplicated + invented", (report.missing or 0) + (report.duplicated or 0)
            + (report.invented or 0), "== 0", "presses", report.ok),
        Row("box reboots beyond the first boot", report.boots - boxes, "== 0", "boots", report.boots == boxes),
        Row("collector RSS start", round(start["collector"] / mb, 1), None, "MB", None),
        Row("collector RSS end", round(end["collector"] / mb, 1), None, "MB", None),
        Row("collector RSS growth", round(collector_growth, 1), f"<= {COLLECTOR_GROWTH_MB}", "MB",
            collector_growth <= COLLECTOR_GROWTH_MB),
        Row("collector RSS highest (1-min samples)", round(max([end["collector"], *[c for _, c, _ in trend]]) / mb, 1),
            None, "MB", None),
        Row("broker RSS start", round(start["broker"] / mb, 1), None, "MB", None),
        Row("broker RSS end", round(end["broker"] / mb, 1), None, "MB", None),
        Row("broker RSS growth", round(broker_growth, 1), f"<= {BROKER_GROWTH_MB}", "MB",
            broker_growth <= BROKER_GROWTH_MB),
        Row("box RSS start, mean", round(sum(start["boxes"].values()) / len(start["boxes"]) / mb, 2), None, "MB", None),
        Row("box RSS end, mean", round(sum(end["boxes"].values()) / len(end["boxes"]) / mb, 2), None, "MB", None),
        Row(f"box RSS growth, worst ({worst_box})", round(box_growth.get(worst_box, 0.0), 2), f"<= {BOX_GROWTH_MB}",
            "MB", bool(box_growth) and max(box_growth.values()) <= BOX_GROWTH_MB),
        Row("box heap_free start, lowest (garbage included)", min(v for v in start["heap_free"].values() if v is not None), None, "bytes",
            None),
        Row("box heap_free end, lowest (garbage included)", min(v for v in end["heap_free"].values() if v is not None), None, "bytes",
            None),
        Row("boxes that reported heap_free at start and end", len(heap_drop), f"== {boxes}", "boxes",
            len(heap_drop) == boxes),
    ]
    # A process that only settles climbs early and levels off; a leak keeps climbing to the end.
    day_ends = [start["t"] + (d + 1) * day_s for d in range(5)]
    at_day_end = [next((c for t, c, _ in reversed(trend) if t <= end_t), start["collector"]) / mb for end_t in day_ends]
    print("collector RSS at the end of each day (MB): " + ", ".join(f"{v:.1f}" for v in at_day_end))
    print("per box (RSS start -> end MB, heap_free start -> end):")
    for b in sorted(start["boxes"]):
        print(f"  {b}  {start['boxes'][b] / mb:6.2f} -> {end['boxes'].get(b, 0) / mb:6.2f}   "
              f"{start['heap_free'].get(b)} -> {end['heap_free'].get(b)}")
    return rows


def fault_proofs() -> list[Row]:
    """tests/proof/test_proof_faults.py at full size, one row per test."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-o", "timeout=3600",
                           "-rA", "tests/proof/test_proof_faults.py"], cwd=REPO, capture_output=True, text=True, check=False,
                          env={**os.environ, "PROOF_SIZE": "full"})
    print(done.stdout[-12000:], done.stderr[-3000:], flush=True)
    rows = []
    for line in done.stdout.splitlines():
        for verdict in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
            if line.startswith(verdict + " ") and "test_proof_faults.py::" in line:
                name = line.split("::", 1)[1].split(" ", 1)[0]
                rows.append(Row(f"full size: {name}", 1 if verdict == "PASSED" else 0, "== 1", "passed",
                                verdict == "PASSED"))
    if not rows:
        rows.append(Row("full size fault proofs ran", 0, "== 1", "", False))
    rows.append(Row("full size fault proofs, duration", round((time.monotonic() - started) / 60, 1), None, "min", None))
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1.0, help="real hours the five working days take")
    parser.add_argument("--boxes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-faults", action="store_true", help="skip the full-size fault proofs")
    args = parser.parse_args(sys.argv[1:] if argv is None and __name__ == "__main__" else (argv or []))
    rows = week(args.hours, args.boxes, args.seed)
    print_table("Soak: a compressed week", rows)
    if not args.no_faults:
        rows += fault_proofs()
        print_table("Soak: everything", rows)
    return rows


if __name__ == "__main__":
    sys.exit(0 if all(r.ok is not False for r in main()) else 1)
