"""Firmware budgets of issue 3, measured under the MicroPython unix port on the compiled release
(.mpy files from technician.build) against a real Mosquitto on loopback.

    .venv/bin/python -m bench.firmware

Figures come from this run; nothing is copied from elsewhere, nothing is estimated or scaled.
The unix port this runs on is 64-bit: pointers and object headers are twice the size they are on
the 32-bit ESP32, so the heap figure is what this port uses, not what a box uses (no ESP32 figure
is printed: none is measured here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import free_port
from collector.broker import Broker, set_passwords, write_config
from technician.build import build

MICROPYTHON = Path(sys.executable).parent / "micropython"
PRESSES = 12  # presses measured for feedback and PUBACK latency

Row = tuple[str, float, float, str, bool]

# MicroPython source shared by the scripts below: a 256 KB LittleFS partition in RAM, as on the box.
FLASH = r"""
class Flash:
    def __init__(self):
        self.data = bytearray(4096 * 64)
    def readblocks(self, n, buf, off=0):
        buf[:] = memoryview(self.data)[n * 4096 + off: n * 4096 + off + len(buf)]
    def writeblocks(self, n, buf, off=0):
        self.data[n * 4096 + off: n * 4096 + off + len(buf)] = buf
    def ioctl(self, op, arg):
        return {4: 64, 5: 4096}.get(op, 0)
"""

# Runs under MicroPython with the release on its path. Prints one JSON line of figures.
RUNTIME = r"""
import gc, json, sys, time, micropython
gc.collect()
base = gc.mem_alloc()
import asyncio, app
P = json.load(open(sys.argv[1]))


class Board:
    # The board as plain attributes: reading the contacts allocates nothing.
    def __init__(self):
        self.mask = 0
        self.led_on_us = 0
        self.led = False
        self.feeds = 0
    def init(self, pins): pass
    def read_buttons(self): return self.mask
    def set_led(self, index, on):
        if index == 0:
            self.led = on
            if on:
                self.led_on_us = time.ticks_us()
    def set_buzzer(self, freq): pass
    def wifi_connect(self, ssid, password): pass
    def wifi_connected(self): return True
    def wifi_rssi(self): return -50
    def watchdog_start(self, ms): pass
    def watchdog_feed(self): self.feeds += 1
    def reset_cause(self): return "power_on"
    def reset(self): pass
    def unique_id(self): return "000000000000"


""" + FLASH + r"""

import vfs
fl = Flash()
vfs.VfsLfs2.mkfs(fl)
vfs.mount(vfs.VfsLfs2(fl), "/flash")
with open("/flash/config.json", "w") as f:
    f.write(json.dumps(P["cfg"]))
board = Board()
marks = {}
errors = []
def log(*args):
    line = args[0] if len(args) == 1 else " ".join(str(a) for a in args)
    errors.append(line)
    if line.startswith("press seq=") or line.startswith("sent seq="):
        marks[line[:4] + line.split("=")[1].split()[0]] = time.ticks_us()
box = app.load("startup").open_box(board, "/flash/", log=log)  # as app.run() does on the box
app.drop("startup")
out = {}


async def until(pred, ms=5000, what=""):
    t = time.ticks_ms()
    while not pred():
        if time.ticks_diff(time.ticks_ms(), t) > ms:
            raise SystemExit("bench: timed out waiting for %s; errors: %r" % (what, errors))
        await asyncio.sleep_ms(1)


async def main():
    box.start()
    await until(box.online, what='online')
    box.anchor("sync", 1795000000000)  # the clock beacon's job, done directly
    await asyncio.sleep_ms(300)  # first heartbeat out, steady state
    gc.collect()
    # the RAM standing in for the flash chip is not heap on the box
    out["heap_used"] = gc.mem_alloc() - len(fl.data)
    out["heap_base"] = base

    # an idle poll tick, called directly under heap_lock: any allocation raises MemoryError
    failed = 1
    micropython.heap_lock()
    try:
        for _ in range(1000):
            box.poll_tick(time.ticks_ms())
        failed = 0
    except MemoryError:
        pass
    micropython.heap_unlock()
    out["tick_alloc_locked"] = failed
    # the same through the scheduler, with only the poll task alive
    box.stop()
    await asyncio.sleep_ms(20)
    poll = asyncio.create_task(box.poll_loop())
    await asyncio.sleep_ms(50)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t0 = board.feeds
    ticks0 = time.ticks_ms()
    n0 = 0
    seen = box.alive[0]
    while time.ticks_diff(time.ticks_ms(), ticks0) < 1000:
        await asyncio.sleep_ms(0)
    a1 = gc.mem_alloc()
    gc.enable()
    poll.cancel()
    out["loop_alloc_bytes"] = a1 - a0
    out["loop_ms"] = 1000
    await asyncio.sleep_ms(20)

    # presses: contact close -> feedback LED, and registered press -> PUBACK
    box.start()
    await until(box.online, what='online again')
    fb, ack = [], []
    for i in range(P["presses"]):
        board.led_on_us = 0
        t_close = time.ticks_us()
        board.mask = 1 << (i % 2)
        await until(lambda: board.led_on_us, what='led')
        fb.append(time.ticks_diff(board.led_on_us, t_close) / 1000)
        board.mask = 0
        seq = box.ob.next_seq - 1
        await until(lambda: ("sent%d" % seq) in marks, what="puback")
        ack.append(time.ticks_diff(marks["sent%d" % seq], marks["pres%d" % seq]) / 1000)
        await until(lambda: not board.led, what="led off")  # the counted pattern ends (1.5 s)
        await asyncio.sleep_ms(P["gap_ms"])
    out["feedback_ms"] = fb
    out["puback_ms"] = ack
    box.stop()
    await asyncio.sleep_ms(20)


asyncio.run(main())
print(json.dumps(out))
"""

OUTBOX = r"""
import json, os, vfs, outbox


""" + FLASH + r"""

fl = Flash()
vfs.VfsLfs2.mkfs(fl)
vfs.mount(vfs.VfsLfs2(fl), "/flash")
st0 = os.statvfs("/flash")
outbox.next_boot("/flash/")
ob = outbox.Outbox("/flash/")
for i in range(10000):
    ob.append(1, i * 1000, i % 2, 0)
st = os.statvfs("/flash")
print(json.dumps({"blocks": st[2], "free_empty": st0[3], "free": st[3], "bsize": st[0], "pending": ob.pending}))
"""


def _run_mp(script: str, path: str, data: Any = None, timeout: float = 300) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(data, f)
        f.flush()
        done = subprocess.run(
            [str(MICROPYTHON), "-c", script, f.name],
            check=False,
            env=dict(os.environ, MICROPYPATH=path),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if done.returncode:
        raise RuntimeError(f"micropython failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _box_config(port: int) -> dict[str, Any]:
    return {
        "box": "box-017",
        "counter": "17",
        "scale": "sat2",
        "levels": [0, 1],
        "pins": {"buttons": [12, 14], "led_feedback": 2, "led_status": 4, "buzzer": None},
        "wifi": {"ssid": "bench", "password": "bench"},
        "broker": {
            "host": "127.0.0.1",
            "port": port,
            "tls": False,
            "username": "box-017",
            "password": "pw-017",
        },
        "ntp": None,
        "timings": {"lockout_ms": 0},  # default debounce (50 ms) and poll (5 ms)
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure() -> list[Row]:
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="bench-fw-"))
    os.chmod(work, 0o755)  # mosquitto may run as its own user
    try:
        release = work / "release"
        manifest = build(release)
        mpy = sum((release / n).stat().st_size for n in manifest.files if n.endswith(".mpy"))
        rows.append(("all .mpy files together", mpy / 1024, 64, "KB", mpy <= 64 * 1024))
        path = f".frozen:{release}"

        ob = _run_mp(OUTBOX, path)
        used_kb = (ob["free_empty"] - ob["free"]) * ob["bsize"] / 1024
        rows.append(
            (
                "flash for an outbox of 10,000 presses",
                used_kb,
                256,
                "KB",
                ob["pending"] == 10000 and used_kb <= 256,
            )
        )

        port = free_port()
        broker_dir = work / "broker"
        write_config(broker_dir, host="127.0.0.1", port=port)
        set_passwords(broker_dir, {"box-017": "pw-017", "collector": "pw-collector"})
        with Broker(broker_dir, port=port):
            rt = _run_mp(RUNTIME, path, {"cfg": _box_config(port), "presses": PRESSES, "gap_ms": 30})
        heap_kb = rt["heap_used"] / 1024
        rows.append(
            ("heap in use after start-up (online, after gc.collect)", heap_kb, 40, "KB", heap_kb <= 40)
        )
        rows.append(
            (
                "  (included: interpreter + bench script, before imports)",
                rt["heap_base"] / 1024,
                40,
                "KB",
                True,
            )
        )
        rows.append(
            (
                "allocation per idle poll tick (heap_lock, 1000 ticks)",
                rt["tick_alloc_locked"],
                0,
                "B",
                rt["tick_alloc_locked"] == 0,
            )
        )
        rows.append(
            (
                "allocation by the poll loop + scheduler in 1 s idle",
                rt["loop_alloc_bytes"],
                0,
                "B",
                rt["loop_alloc_bytes"] == 0,
            )
        )
        fb = rt["feedback_ms"]
        rows.append((f"contact close -> feedback LED, max of {len(fb)}", max(fb), 100, "ms", max(fb) <= 100))
        rows.append(("contact close -> feedback LED, median", _pct(fb, 0.5), 100, "ms", _pct(fb, 0.5) <= 100))
        ack = rt["puback_ms"]
        rows.append((f"registered press -> PUBACK, max of {len(ack)}", max(ack), 50, "ms", max(ack) <= 50))
        rows.append(("registered press -> PUBACK, median", _pct(ack, 0.5), 50, "ms", _pct(ack, 0.5) <= 50))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> list[Row]:
    rows = measure()
    bits = subprocess.run(
        [str(MICROPYTHON), "-c", "import sys; print(64 if sys.maxsize > 2**32 else 32)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"Measured under the MicroPython unix port ({bits}-bit; the ESP32 is 32-bit: pointers and object\n"
        "headers take twice the room here). Heap figures are as measured on this port, not estimates.\n"
    )
    print(f"{'firmware (MicroPython unix port, ' + bits + '-bit)':58} {'figure':>9} {'budget':>8}  unit  ok")
    for name, figure, budget, unit, ok in rows:
        shown = f"{figure:9.1f}" if isinstance(figure, float) else f"{figure:9d}"
        print(f"{name:58} {shown} {budget:8}  {unit:4}  {'yes' if ok else 'NO'}")
    return rows


if __name__ == "__main__":
    main()
