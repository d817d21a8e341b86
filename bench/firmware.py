"""Firmware budgets of issue 3, measured on the compiled release (.mpy files from technician.build)
under two MicroPython 1.29 ports: the unix port (64-bit) against a real Mosquitto on loopback, and
the WebAssembly port (32-bit, as the ESP32; npm package pinned in bench/package.json, installed by
`npm ci --prefix bench` on first use, run by bench/firmware_wasm.mjs under node).

    .venv/bin/python -m bench.firmware

Figures come from this run; nothing is copied from elsewhere, nothing is estimated or scaled.

Heap after start-up. A lean script (bench/mp/heap.py) first loads what is not the box's heap and reads a
baseline: itself (its code, parameters and the helpers that measure), stand-ins for the C modules
machine and network (bench/firmware_hardware/), and os. On the ESP32 machine and network are C in
flash and the objects board.py gets from them (a Pin per GPIO, the WDT, the WLAN interface) are
static C objects, so the stand-ins make all of theirs at import, before the baseline (board.py
imports neither esp32 nor ntptime: no stand-ins for those). os is C on the
ESP32 (extmod/modos.c, with ports/esp32/modos.c) and on the unix port, but a frozen Python package
on the WebAssembly port (its pyscript variant freezes micropython-lib's os and os-path: 1.5 KB of
heap once imported), so the script imports it before the baseline on both ports. Then it does what
the box's main.py does, in the box's order: the flash (a RAM LittleFS on unix, mounted at /flash as
the box's is at /), main.py's bytecode (compiled from firmware/main.py, not run: on the box it runs
app.run() for ever), asyncio.funcs (asyncio.wait_for_ms: the box loads it at its first connection,
the WebAssembly port's asyncio at its start), the real board.py of the release on the stand-ins
(Wi-Fi down for the offline figure, up on unix for the online one, no contact closed), app.run()'s
startup.open_box() on the config in flash with the startup module dropped, and the tasks started. It
waits until the box is online (unix only: the WebAssembly port has no socket module) or, offline,
until its network task has asked for Wi-Fi (the task then waits 20 s for it, the box's normal
offline state), anchors the clock, waits 300 ms, collects and reads gc.mem_alloc().

The box's heap is what that added over the baseline (less the RAM standing in for the flash chip),
plus the interpreter with asyncio (an empty script's heap,
bench/mp/bench_collect.py run alone, less the names it interned), plus
every name interned before the baseline and 128 bytes. Names (qstrs) are never freed and live in
pools that double in size (20, 40, 80, ... names) and in chunks of text: the box's names would fill
pools and a chunk the script's names already allocated. So the heap these take at the baseline
(micropython.qstr_info(), which the script prints and the bench reads back: the pools as allocated
and the names' text) is counted as the box's, with the most the last chunk of text can have free
(MICROPY_ALLOC_QSTR_CHUNK_INIT, 128 bytes). That overcounts (the script's own names are in it, and
the box alone may need smaller pools), never undercounts. Printed: the baseline, what it leaves out,
each share added back, unix offline, unix online, their difference, wasm offline. A third script
(heap_by_part.py, wasm only) takes the same steps one at a time and prints the 32-bit heap by part (the
flash, main.py, each module's import, board.py's first, the box's objects, its tasks). Latency and
idle allocation come from a fourth (runtime.py) that opens and starts the box the same way (shared
source) on a board object the bench drives (in place of board.py). The WebAssembly port runs the
scripts without bench_flash.py (the flash chip's stand-in under LittleFS, which that port lacks).

The 32-bit online figure cannot be measured (no sockets on wasm); it is bounded instead:
    online_32 = offline_32 - R_32 + A_32
where R is what only the offline state holds (the network task's suspended connect() and nap()
coroutines, measured on each port) and A what going online adds (client, streams, tasks). Every
object takes no more room on the 32-bit port than on the 64-bit one (words of 4 bytes instead of 8,
GC blocks of 16 bytes instead of 32; strings and bytes the same length), except ints of 2**30 or
more, which are heap objects on 32-bit and small ints on 64-bit. So if the connection state holds no
such int, A_32 <= A_64 = (online_64 - offline_64) + R_64. The box has a LittleFS mount, which the
wasm port lacks; its heap L (VfsLfs2, its buffers, the block device object) is measured on unix, and
L_32 <= L_64 by the same argument. So the box's 32-bit heap online is at most
    offline_32 + L_64 - R_32 + (online_64 - offline_64) + R_64.
The client's ints are checked at run time; the network task's are an uptime (below 2**30 ms for the
first 12.4 days, so at start-up) and ticks_ms values (below 2**30 by construction). The WebAssembly
port's asyncio loads asyncio.funcs (wait_for_ms) at its start, the box at its first connection; the
heap script loads it on both ports before it opens the box (after the baseline: it is the box's), so
both unix figures hold it and online_64 - offline_64 does not count it a second time. The 40 KB
budget is checked on that bound, and on no 64-bit figure (those are not the box's). If the client
holds such an int, no online bound is printed and the budget is checked on offline_32 + L_64.

What this is not: the ESP32's heap. Every figure includes the interpreter with asyncio of the
port it ran on (measured alone with an empty script, printed), not the ESP32's: the wasm port's
(its JS bridge, its own asyncio core driven by JS timers) is not the ESP32's, the ESP32's network
stack objects are not there, and the unix figures include a LittleFS mount that the wasm figure
lacks (the box has one too). The WebAssembly port keeps Python objects alive from JS until V8
finalizes them; the scripts collect on both sides before they measure (node --expose-gc), which
makes the figure repeatable to within about 100 bytes instead of several KB, and measure in a task,
never at a script's top level (there a collection does not free what the script has just dropped,
on that port). Nothing the script holds at the baseline is freed after it (the config stays in its
parameters), so the baseline does not hide any of the box's heap.

Idle allocation. box.poll_tick() is called under micropython.heap_lock() (any allocation raises
MemoryError) at the current ticks_ms and across the ticks_ms wrap, on both ports; Clock.up() is
called past 2**30 ms of uptime the same way (it allocates on 32-bit: a finding, not a budget of the
poll tick). The 1 s idle-loop figure is the unix port's; the wasm port's scheduler allocates on
every wake-up by itself (a control second with no firmware task shows it), so its figure is printed
without a budget.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import free_port
from collector.broker import Broker, bind_client_ids, set_passwords, write_config
from simulator.box import micropython_binary
from technician.build import FIRMWARE_DIR, build

BENCH = REPO / "bench"  # package.json pins the WebAssembly port; firmware_wasm.mjs runs it
HARDWARE_DIR = BENCH / "firmware_hardware"  # stand-ins for machine and network, under the real board.py
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
PRESSES = 12  # presses measured for feedback and PUBACK latency
RESIDENT = ["clock", "buttons", "feedback", "messages", "outbox", "mqtt", "app"]  # in dependency order

# name, figure, budget (None: a figure without one), unit, within budget (None: no budget)
Row = tuple[str, float, float | None, str, bool | None]

# The MicroPython scripts (bench/mp/, run with the release on their path by the unix port and by
# the WebAssembly port through bench/firmware_wasm.mjs), each printing one JSON line of figures:
# heap.py (the heap after start-up), heap_by_part.py (the same by part), runtime.py (latency and
# idle allocation), bench_collect.py (run alone: the interpreter with asyncio), outbox_flash.py
# (the outbox's flash).
# Their parameters are a JSON file, sys.argv[1]; bench_box.py, bench_collect.py and bench_flash.py
# are what they share.
MP_DIR = BENCH / "mp"
MP_HELPERS = ["bench_box.py", "bench_collect.py"]  # bench_flash: LittleFS, unix only



def _run_mp(script: str, path: str, data: Any = None, timeout: float = 300) -> Any:
    """Run bench/mp/`script` under the unix port (64-bit) with MICROPYPATH=path (and bench/mp);
    its last line of JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(data, f)
        f.flush()
        return _last_json([micropython_binary(), str(MP_DIR / script), f.name], "micropython", timeout,
                          env=dict(os.environ, MICROPYPATH=f"{path}:{MP_DIR}"))


def _last_json(command: list[str], what: str, timeout: float, env: dict[str, str] | None = None) -> Any:
    """Run a port's command; the last line it printed, as JSON (its figures). When that is an
    object, its "qstr_bytes" are the n_total_bytes of every micropython.qstr_info() it printed, in
    order: the heap its interned names take (their pools as allocated, and their text)."""
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    out = json.loads(lines[-1])
    if isinstance(out, dict):
        out["qstr_bytes"] = [int(ln.rsplit("n_total_bytes=", 1)[1]) for ln in lines if ln.startswith("qstr pool:")]
    return out


def _wasm_ready() -> None:
    """Install the WebAssembly port pinned in bench/package-lock.json, unless it is there."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError(
            "bench.firmware needs node and npm: the 32-bit MicroPython it measures on is the npm package "
            f"{WASM_PACKAGE} (Debian: apt-get install nodejs npm)"
        )
    pinned = json.loads((BENCH / "package.json").read_text())["dependencies"][WASM_PACKAGE]
    installed = BENCH / "node_modules" / WASM_PACKAGE / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == pinned:
        return
    done = subprocess.run(
        ["npm", "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode or not installed.exists():
        raise RuntimeError(f"npm ci --prefix bench failed:\n{done.stdout}\n{done.stderr}")


def _run_wasm(script: str, release: Path, data: Any = None, timeout: float = 300) -> Any:
    """Run bench/mp/`script` under the WebAssembly port (32-bit) with the release's .mpy files, and
    the hardware stand-ins with the scripts' shared modules, on its path; its last line of JSON.
    bench_flash.py (the flash chip's stand-in under LittleFS) is left out: this port has no
    LittleFS, and the scripts import it only for a LittleFS (P["fs"] == "lfs")."""
    with tempfile.TemporaryDirectory() as tmp:
        on_path = Path(tmp) / "path"  # firmware_wasm.mjs puts its .py files on sys.path
        on_path.mkdir()
        for module in [*HARDWARE_DIR.glob("*.py"), *(MP_DIR / name for name in MP_HELPERS)]:
            shutil.copy(module, on_path / module.name)
        params = Path(tmp) / "params.json"
        params.write_text(json.dumps(data))
        return _last_json(["node", "--expose-gc", str(BENCH / "firmware_wasm.mjs"), str(release),
                           str(on_path), str(MP_DIR / script), str(params)], "micropython (webassembly)", timeout)


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


# The free room the last chunk of name text may have when the baseline is read: names are stored
# in chunks of MICROPY_ALLOC_QSTR_CHUNK_INIT (128) bytes or more, the last one filled as names come.
QSTR_CHUNK = 128


def _interpreter(empty: Any) -> int:
    """The interpreter with asyncio: an empty run's heap (bench_collect.py), less the names it interned."""
    return int(empty["heap"] - empty["qstr_bytes"][0])


def _early_names(run: Any) -> int:
    """Every name a heap.py or heap_by_part.py run interned before its baseline, and the room left in their
    last chunk of text: counted as the box's (module docstring)."""
    return int(run["qstr_bytes"][0] + QSTR_CHUNK)


def _box_heap(run: Any, empty: Any) -> int:
    """The box's heap after start-up from a heap.py or heap_by_part.py run (module docstring): what start-up
    added over the baseline, plus the interpreter with asyncio, plus the names from before it."""
    return int(run["heap_used"] - run["baseline"]) + _interpreter(empty) + _early_names(run)


def _left_out(run: Any, empty: Any) -> int:
    """What the baseline holds that the box's heap figure leaves out: the heap script, the hardware
    stand-ins, os on the WebAssembly port (the baseline less the interpreter with asyncio, less the
    names interned so far)."""
    return int(run["baseline"] - _interpreter(empty) - run["qstr_bytes"][0])


def _shares(run: Any, empty: Any, where: str, left_out: str, port: str) -> list[Row]:
    """What a port's heap figure holds that is not the firmware's (the interpreter, the names
    interned before the baseline), and what it leaves out of the baseline: see the module docstring."""
    kb = 1024
    return [
        (f"  ({where}: interpreter + asyncio, less the names), {port}", _interpreter(empty) / kb, None, "KB", None),
        (f"  ({where}: names interned before the baseline + {QSTR_CHUNK} B), {port}", _early_names(run) / kb,
         None, "KB", None),
        (f"  (left out: {left_out}, of a {run['baseline'] / kb:.1f} KB baseline), {port}",
         _left_out(run, empty) / kb, None, "KB", None),
    ]


def _heap_rows(off64: Any, on64: Any, off32: Any, empty64: Any, empty32: Any,
               ota32: int) -> tuple[list[Row], list[str]]:
    """The heap rows, and notes (paragraphs) that say what they are: see the module docstring."""
    kb = 1024
    box_off64, box_on64, box_off32 = _box_heap(off64, empty64), _box_heap(on64, empty64), _box_heap(off32, empty32)
    delta = box_on64 - box_off64
    rows: list[Row] = [
        ("heap after start-up, unix 64-bit, offline (Wi-Fi down)", box_off64 / kb, None, "KB", None),
        ("heap after start-up, unix 64-bit, online", box_on64 / kb, None, "KB", None),
        ("  online - offline, unix 64-bit", delta / kb, None, "KB", None),
        ("  (in both: LittleFS mount), unix", off64["lfs_heap"] / kb, None, "KB", None),
        *_shares(off64, empty64, "in both", "script, stand-ins", "unix"),
        ("heap after start-up, wasm 32-bit, offline (Wi-Fi down)", box_off32 / kb, None, "KB", None),
        *_shares(off32, empty32, "in it", "script, stand-ins, os", "wasm"),
    ]
    # Paragraphs: main() joins their lines and wraps them.
    notes = [
        f"""Heap: gc.mem_alloc() after gc.collect(), minus the RAM standing in for the flash chip,
        300 ms after the box is online (Mosquitto on loopback) or, offline, after its network task
        asked for Wi-Fi (it then waits 20 s for it, no error yet). A lean script measures it, the
        same on both ports: it loads itself, stand-ins for machine and network (bench/firmware_hardware:
        C in the ESP32's flash, their Pin, WDT and WLAN objects static there, so the stand-ins make
        theirs at import) and os (C on the ESP32 and on unix, a frozen Python package on
        the wasm port), and reads a baseline. Then it does what the box's main.py does: the flash (LittleFS on unix),
        main.py compiled, asyncio.funcs, the real board.py (.mpy) on the stand-ins, app.run()'s
        startup.open_box() with the startup module dropped, the tasks started. The box's heap is
        what that added over the baseline, plus the interpreter with asyncio (an empty script's heap,
        its names taken out: {_interpreter(empty32)} B on wasm,
        {_interpreter(empty64)} B on unix), plus every name interned before the
        baseline, which the box's own names would otherwise have found already allocated
        (micropython.qstr_info(): their pools as allocated and their text, {off32['qstr_bytes'][0]} B
        on wasm, {off64['qstr_bytes'][0]} B on unix), plus {QSTR_CHUNK} B, the most the last chunk of
        name text can have free. Names are stored in pools that double in size, so the box alone
        might need smaller pools than the script's and the box's names together: that share is an
        upper bound. Left out: the script's code, objects and parameters, the stand-ins and the wasm
        port's os ({_left_out(off32, empty32)} B on wasm, {_left_out(off64, empty64)} B on unix).""",
        f"""The unix figures include the LittleFS mount ({off64['lfs_heap']} B: VfsLfs2, its buffers,
        the bench's block device object); the wasm figure has none (no LittleFS there: the outbox is
        on emscripten's MEMFS, outside the heap), and the 32-bit bound adds the unix mount's. The firmware keeps no file open after start-up (the
        outbox opens, uses and closes each file), so the mount is the whole filesystem difference.
        The wasm port's asyncio core is its own (driven by JS timers, no IOQueue) and its baseline is
        not the ESP32's.""",
    ]
    # The online bound (module docstring): the offline 32-bit figure, less what only the offline
    # state holds on 32-bit, plus what going online adds on 64-bit. Not claimed if the connection
    # state holds an int of 2**30 or more (a heap object on 32-bit only).
    big = on64["client_big_ints"]
    if big or on64["uptime_ms"] >= 1 << 30:
        notes.append(
            f"""No 32-bit online bound: the connection state holds ints >= 2**30 ({big}, uptime
            {on64['uptime_ms']} ms), heap objects on 32-bit only. Budget checked on the offline figure."""
        )
        name = "32-bit heap after start-up, offline, with LittleFS: at most (no online bound)"
        offline = box_off32 + off64["lfs_heap"]
        rows.append((name, offline / kb, 40, "KB", offline <= 40 * kb))
        return rows, notes
    bound = box_off32 + off64["lfs_heap"] - off32["offline_only"] + delta + off64["offline_only"]
    rows.append(("32-bit heap after start-up, online, with LittleFS: at most", bound / kb, 40, "KB",
                 bound <= 40 * kb))
    rows.append(("  the update code, loaded on an update command only (import ota), wasm 32-bit", ota32 / kb, None,
                 "KB", None))
    rows.append(("  32-bit heap online with the update code loaded: at most", (bound + ota32) / kb, None, "KB", None))
    notes.append(
        f"""32-bit online bound: {box_off32} B (wasm offline) + {off64['lfs_heap']} B (the LittleFS
        mount the box has and the wasm port lacks, unix) - {off32['offline_only']} B (wasm: the
        suspended connect() and nap() coroutines, which only the offline state holds) + {delta} B
        (unix online - offline) + {off64['offline_only']} B (the same coroutines, unix) = {bound} B.
        What going online adds, and the mount, take no more room on 32-bit than on 64-bit (the same
        objects, with 4-byte words and 16-byte GC blocks instead of 8 and 32) except ints >= 2**30,
        and the connection state holds none: the client's are checked, the network task's are an
        uptime ({on64['uptime_ms']} ms) and ticks_ms values (< 2**30). A bound on the wasm port's
        interpreter and asyncio; the ESP32's own baseline (its interpreter, asyncio, network stack
        objects) is not measured here. Over the budget, it shows the budget is not proven met, not
        that the box misses it."""
    )
    return rows, notes


def _parts_note(parts: Any, empty32: Any, heap32: int) -> str:
    """heap_by_part.py's figures (wasm, offline) as a paragraph."""
    got = dict(parts["parts"])
    interp, names = _interpreter(empty32), _early_names(parts)
    steps = ", ".join(f"{name} {value}" for name, value in parts["parts"])
    total = _box_heap(parts, empty32)
    return f"""32-bit heap by part (wasm, offline, in bytes; a third script takes the heap script's steps one
        at a time, each measured after collections on both sides): interpreter + asyncio less its names
        {interp}; names interned before the baseline + {QSTR_CHUNK} B {names}; then each step over
        the baseline ({parts['baseline']} B, left out): {steps}; total {total} (the heap script:
        {heap32}). Of those, main.py {got['main.py']}, board.py {got['import board']}. An import holds
        the module's bytecode, its function and class objects, its globals and the names it interns;
        names live in pools that double in size (20, 40, 80, 160, 320 names), and the import that
        needs a new pool holds all of it; open_box() holds the box's objects and the names the
        dropped startup and config modules leave interned."""


def _tick_rows(rt: Any, port: str) -> list[Row]:
    return [
        (f"idle poll ticks that allocated, of 1000 (heap_lock), {port}", rt["tick_alloc_locked"], 0, "",
         rt["tick_alloc_locked"] == 0),
        (f"  the same across the ticks_ms wrap, {port}", rt["wrap_tick_alloc_locked"], 0, "",
         rt["wrap_tick_alloc_locked"] == 0),
        (f"Clock.up() past 2**30 ms of uptime allocates (1 = yes), {port}", rt["clock_up_alloc_locked"],
         None, "", None),
    ]


def measure() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    _wasm_ready()
    work = Path(tempfile.mkdtemp(prefix="bench-fw-"))
    os.chmod(work, 0o755)  # mosquitto may run as its own user
    try:
        release = work / "release"
        manifest = build(release)
        mpy = sum((release / n).stat().st_size for n in manifest.files if n.endswith(".mpy"))
        rows.append(("all .mpy files together", mpy / 1024, 64, "KB", mpy <= 64 * 1024))
        path = f".frozen:{HARDWARE_DIR}:{release}"

        ob = _run_mp("outbox_flash.py", path)
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
        params = {"cfg": _box_config(port), "presses": PRESSES, "gap_ms": 30, "online": False, "fs": "lfs",
                  "main_py": (FIRMWARE_DIR / "main.py").read_text()}
        off64 = _run_mp("heap.py", path, params)  # Wi-Fi down: no broker needed
        off32 = _run_wasm("heap.py", release, dict(params, fs="host"))
        rt32 = _run_wasm("runtime.py", release, dict(params, fs="host"))
        parts32 = _run_wasm("heap_by_part.py", release, dict(params, fs="host", modules=["board", *RESIDENT]))
        # ota.py (and releases.py, if the box has not imported it yet) as an update command loads it
        with_ota = _run_wasm("heap_by_part.py", release, dict(params, fs="host", modules=["board", *RESIDENT, "ota"]))
        empty64 = _run_mp("bench_collect.py", path)
        empty32 = _run_wasm("bench_collect.py", release)
        broker_dir = work / "broker"
        write_config(broker_dir, host="127.0.0.1", port=port)
        bind_client_ids(broker_dir, ["box-017"])  # as add-box: the box connects only as box-017
        set_passwords(broker_dir, {"box-017": "pw-017", "collector": "pw-collector"})
        with Broker(broker_dir, port=port):
            on64 = _run_mp("heap.py", path, dict(params, online=True))
            rt = _run_mp("runtime.py", path, dict(params, online=True))
        if off32["ticks_period"] != 1 << 30:
            period = off32["ticks_period"]
            raise RuntimeError(f"the WebAssembly port is not a 32-bit MicroPython: ticks period {period}")
        heap, notes = _heap_rows(off64, on64, off32, empty64, empty32, dict(with_ota["parts"])["import ota"])
        notes.append(_parts_note(parts32, empty32, _box_heap(off32, empty32)))
        rows += heap
        rows += _tick_rows(rt, "unix 64-bit")
        rows += _tick_rows(rt32, "wasm 32-bit")
        rows.append(
            (
                "allocation by the poll loop + scheduler in 1 s idle, unix 64-bit",
                rt["loop_alloc_bytes"],
                0,
                "B",
                rt["loop_alloc_bytes"] == 0,
            )
        )
        wasm_loop, wasm_sched = rt32["loop_alloc_bytes"], rt32["sched_alloc_bytes"]
        rows.append(("  the same, wasm 32-bit (JS-timer scheduler)", wasm_loop, None, "B", None))
        rows.append(("  the scheduler alone in 1 s, wasm 32-bit", wasm_sched, None, "B", None))
        fb = rt["feedback_ms"]
        rows.append((f"contact close -> feedback LED, max of {len(fb)}", max(fb), 100, "ms", max(fb) <= 100))
        rows.append(("contact close -> feedback LED, median", _pct(fb, 0.5), 100, "ms", _pct(fb, 0.5) <= 100))
        ack = rt["puback_ms"]
        rows.append((f"registered press -> PUBACK, max of {len(ack)}", max(ack), 50, "ms", max(ack) <= 50))
        rows.append(("registered press -> PUBACK, median", _pct(ack, 0.5), 50, "ms", _pct(ack, 0.5) <= 50))
        notes += [
            f"""Idle ticks: box.poll_tick() called 1000 times under micropython.heap_lock() (an
            allocation raises MemoryError), at the current ticks_ms and again from 2.5 s before the
            ticks_ms wrap (2**30 ms on 32-bit, as on the ESP32: 12.4 days after boot;
            {on64['ticks_period']} on the unix port).""",
            """Clock.up() past 2**30 ms of uptime, under heap_lock: on 32-bit the uptime sum is a big
            int then, and every call allocates a new one (the watchdog task calls it every second, the
            network task at every turn, presses and heartbeats too). Not part of the poll tick, whose
            budget holds across the wrap; the network task allocates every second anyway
            (asyncio.wait_for_ms makes a task).""",
            """The wasm port's asyncio allocates on every wake-up by itself (a JS timer per wake; the
            control second runs no firmware task), so its idle-loop figure says nothing of the ESP32's
            scheduler: no budget there.""",
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, notes


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.firmware", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args([] if argv is None else argv)  # no options: --help says what it measures
    rows, notes = measure()
    print(
        "Measured under the MicroPython unix port (64-bit) and the MicroPython WebAssembly port (32-bit,\n"
        "as the ESP32), on the same .mpy release. Figures are as measured on each port, not estimates;\n"
        "the one bound is a sum of measured figures (see the notes and the module docstring).\n"
    )
    print(f"{'firmware (MicroPython 1.29)':66} {'figure':>9} {'budget':>8}  unit  ok")
    for name, figure, budget, unit, ok in rows:
        shown = f"{figure:9.1f}" if isinstance(figure, float) else f"{figure:9d}"
        limit = "-" if budget is None else str(budget)
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:66} {shown} {limit:>8}  {unit:4}  {mark}")
    for paragraph in notes:
        print()
        print(textwrap.fill(" ".join(paragraph.split()), width=100))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
