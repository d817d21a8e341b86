"""Firmware budgets of issue 3, measured on the compiled release (.mpy files from technician.build)
under two MicroPython 1.29 ports: the unix port (64-bit) against a real Mosquitto on loopback, and
the WebAssembly port (32-bit, as the ESP32; npm package pinned in bench/package.json, installed by
`npm ci --prefix bench` on first use, run by bench/firmware_wasm.mjs under node).

    .venv/bin/python -m bench.firmware

Figures come from this run; nothing is copied from elsewhere, nothing is estimated or scaled.

Heap after start-up. A lean script (HEAP) first loads what is not the box's heap and reads a
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
plus the interpreter with asyncio (an empty script's heap, EMPTY, less the names it interned), plus
every name interned before the baseline and 128 bytes. Names (qstrs) are never freed and live in
pools that double in size (20, 40, 80, ... names) and in chunks of text: the box's names would fill
pools and a chunk the script's names already allocated. So the heap these take at the baseline
(micropython.qstr_info(), which the script prints and the bench reads back: the pools as allocated
and the names' text) is counted as the box's, with the most the last chunk of text can have free
(MICROPY_ALLOC_QSTR_CHUNK_INIT, 128 bytes). That overcounts (the script's own names are in it, and
the box alone may need smaller pools), never undercounts. Printed: the baseline, what it leaves out,
each share added back, unix offline, unix online, their difference, wasm offline. A third script
(MODULES, wasm only) takes the same steps one at a time and prints the 32-bit heap by part (the
flash, main.py, each module's import, board.py's first, the box's objects, its tasks). Latency and
idle allocation come from a fourth (RUNTIME) that opens and starts the box the same way (shared
source) on a board object the bench drives (in place of board.py). The WebAssembly port runs the
scripts without their Flash class (the flash chip's stand-in under LittleFS, which that port lacks).

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

# MicroPython source of the scripts below, in pieces that they share. They run under MicroPython
# with the release on its path: the unix port (`micropython -c`) and the WebAssembly port
# (bench/firmware_wasm.mjs) run the same text (less FLASH there: see _run_wasm), and print one
# JSON line of figures. P: the parameters (sys.argv[1]); P["online"]: the board's Wi-Fi is up (and
# a broker listens) or down; P["cfg"]: the box's config.json; P["main_py"]: firmware/main.py; P["fs"]: "lfs" for a RAM LittleFS as on the box, "host" for the port's
# own filesystem (the WebAssembly port has no LittleFS).
#
# collected(): gc.mem_alloc() after collections. Measured in a task, never at the top level of a
# script: on the WebAssembly port a collection there does not free what the script just dropped.
COLLECT = r"""
try:
    from js import gc as js_gc  # WebAssembly port, node --expose-gc: V8's collector
except ImportError:
    js_gc = None


async def collected():
    for _ in range(2):
        # On the WebAssembly port JS holds Python objects (the scheduler's timer callbacks) until
        # V8 finalizes the JS objects that refer to them, which refer back only while their
        # Python proxies live: collect on both sides and let the finalizers run. Without this the
        # figure there varies by several KB with V8's timing. Same steps and waits on both ports.
        gc.collect()
        if js_gc is not None:
            js_gc()
        await asyncio.sleep_ms(20)
    gc.collect()
    return gc.mem_alloc()
"""

HEAD = r"""
import gc, asyncio, json, micropython, sys, time
""" + COLLECT + r"""
P = json.load(open(sys.argv[1]))
"""

# The stand-ins for what the ESP32 holds in flash, not in its heap, loaded before the heap scripts
# read their baseline: machine and network (bench/firmware_hardware: C on the ESP32, their Pin, WDT
# and WLAN objects static there, so the stand-ins make theirs at import), with Wi-Fi coming up or
# not as P["online"] says, and os (C on the ESP32 and on the unix port, a frozen Python package on
# the WebAssembly port; outbox imports it).
HARDWARE = r"""
import os, machine, network
network.WLAN(network.STA_IF).up = P["online"]


def wifi_asked():
    return network.WLAN(network.STA_IF).ssid is not None
"""

# board.py's functions on plain attributes, for the latency and idle-allocation script (RUNTIME),
# which drives the contacts and watches the LED: Wi-Fi up or down for good, no contact closed.
BOARD = r"""
class Board:
    def __init__(self, wifi):
        self.wifi = wifi
        self.wifi_asked = False
    def init(self, pins): pass
    def read_buttons(self): return 0
    def set_led(self, index, on): pass
    def set_buzzer(self, freq): pass
    def wifi_connect(self, ssid, password): self.wifi_asked = True
    def wifi_connected(self): return self.wifi
    def wifi_rssi(self): return -50 if self.wifi else None
    def watchdog_start(self, ms): pass
    def watchdog_feed(self): pass
    def reset_cause(self): return "power_on"
    def reset(self): pass
    def unique_id(self): return "000000000000"


def wifi_asked():
    return board.wifi_asked
"""

# A 256 KB LittleFS partition in RAM, as on the box.
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

# prepare(): the flash with config.json in it (P["cfg"], which stays in P: the box reads its own
# copy from the file). open_box(board): the box opened on `board` with `log` as app.run() opens it
# on the box: startup.open_box(), then the startup module dropped.
# settle(): start the box and wait until it is online (Wi-Fi up) or, Wi-Fi down, until its network
# task has asked for Wi-Fi (it then waits 20 s for it: the box's normal offline state); anchor the
# clock, wait 300 ms; the heap in use then (with the RAM standing in for the flash chip).
OPEN = r"""
def prepare():
    # (RAM standing in for the flash chip: not heap on the box, LittleFS's own heap or None)
    ram, lfs = 0, None
    if P["fs"] == "lfs":
        import vfs
        gc.collect()
        m0 = gc.mem_alloc()
        fl = Flash()
        vfs.VfsLfs2.mkfs(fl)
        vfs.mount(vfs.VfsLfs2(fl), "/flash")
        ram = len(fl.data)
        gc.collect()
        lfs = gc.mem_alloc() - m0 - ram  # block device object, VfsLfs2 and its buffers, mount entry
    # else emscripten's in-memory filesystem, outside the MicroPython heap (/flash made by
    # firmware_wasm.mjs)
    with open("/flash/config.json", "w") as f:
        f.write(json.dumps(P["cfg"]))
    return ram, lfs


def open_box(board):
    global box
    import app
    box = app.load("startup").open_box(board, "/flash/", log=log)
    app.drop("startup")


async def until(pred, what, ms=5000):
    t = time.ticks_ms()
    while not pred():
        if time.ticks_diff(time.ticks_ms(), t) > ms:
            raise SystemExit("bench: timed out waiting for " + what)
        await asyncio.sleep_ms(1)


async def settle():
    box.start()
    if P["online"]:
        await until(lambda: connected, "online")
    else:
        await until(wifi_asked, "a Wi-Fi attempt")
    box.anchor("sync", 1795000000000)  # the clock beacon's job, done directly
    await asyncio.sleep_ms(300)  # first heartbeat out (online), steady state
    return await collected()
"""

# The log (printed, as on the box; the box's log is print itself).
LEAN = r"""
connected = False  # "broker: connected" logged: connect() is done (subscribed, presence published)
def log(*args):
    global connected
    print(*args)
    connected = connected or args[0].startswith("broker: connected")
"""

# What main.py's start-up adds to the heap, after the baseline, in the order the box does it (the
# box mounts its flash before main.py runs): the flash; main.py's bytecode (the box compiles
# main.py's source at boot and holds it while app.run() runs, for ever: compiled here, not run);
# asyncio.funcs (asyncio.wait_for_ms: the box loads it at its first connection, the WebAssembly
# port's asyncio at its own start-up); the real board.py (.mpy) on the stand-ins; the box.
# micropython.qstr_info() prints the names interned so far, which the bench reads back (see
# _box_heap).
BOOT = r"""
def main_py():
    return compile(P["main_py"], "main.py", "exec")
"""

# The heap after start-up: what the box's main.py does (app.run()) and no more.
HEAP = HEAD + HARDWARE + FLASH + LEAN + OPEN + BOOT + r"""

async def main():
    baseline = await collected()
    micropython.qstr_info()
    flash_ram, lfs_heap = prepare()
    main_code = main_py()
    asyncio.wait_for_ms
    import board
    open_box(board)
    out = {"heap_used": await settle() - flash_ram, "baseline": baseline, "lfs_heap": lfs_heap,
           "ticks_period": time.ticks_add(0, -1) + 1, "uptime_ms": box.clock.up()}
    if P["online"]:
        # Ints the MQTT client holds that are heap objects on a 32-bit port (>= 2**30 there; its
        # _waiting and _done hold packet ids, at most 65535). The network task's own ints are
        # uptimes (uptime_ms above: below 2**30 for 12.4 days) and ticks_ms values (always below).
        out["client_big_ints"] = [k for k, v in box.client.__dict__.items()
                                  if isinstance(v, int) and not -(1 << 30) <= v < (1 << 30)]
    else:
        # What only the offline state holds: the network task's suspended connect() and nap()
        # coroutines (both allocate their whole frame when created, before they first run).
        gc.collect()
        m0 = gc.mem_alloc()
        g1 = box.connect()
        g2 = box.nap(250)
        out["offline_only"] = gc.mem_alloc() - m0
    box.stop()
    # printed here, not after asyncio.run(): on the WebAssembly port asyncio.run() returns at once
    print(json.dumps(out))


asyncio.run(main())
"""

# The heap of HEAP's box by part (run on the WebAssembly port, offline): the same steps one at a
# time: the baseline (interpreter, asyncio, the script, the stand-ins); the flash; main.py;
# asyncio.funcs; each module of P["modules"] imported in turn (with the names it interns);
# open_box() (the box's objects, and the names the dropped startup and config modules leave
# interned); settle() (the tasks). Each part is the heap's growth over its step, collected on both
# sides.
MODULES = HEAD + HARDWARE + FLASH + LEAN + OPEN + BOOT + r"""

sizes = [0] * (len(P["modules"]) + 5)  # the parts' sizes, in bytes: made before the baseline


async def grown(i, m0, flash_ram):
    m1 = await collected() - flash_ram
    sizes[i] = m1 - m0
    return m1


async def main():
    base = await collected()
    micropython.qstr_info()
    flash_ram, lfs_heap = prepare()
    m = await grown(0, base, flash_ram)
    main_code = main_py()
    m = await grown(1, m, flash_ram)
    asyncio.wait_for_ms
    m = await grown(2, m, flash_ram)
    i = 3
    for name in P["modules"]:
        __import__(name)
        m = await grown(i, m, flash_ram)
        i += 1
    open_box(sys.modules["board"])
    m = await grown(i, m, flash_ram)
    heap_used = await settle() - flash_ram
    sizes[i + 1] = heap_used - m
    box.stop()
    names = ["flash", "main.py", "asyncio.funcs"] + ["import " + n for n in P["modules"]]
    names += ["open_box()", "start, settle"]
    print(json.dumps({"baseline": base, "heap_used": heap_used, "parts": list(zip(names, sizes))}))


asyncio.run(main())
"""

# Feedback and PUBACK latency (online, unix), allocation by idle poll ticks under heap_lock and by
# the idle loop (both ports): the box as in HEAP, on a board whose contacts the bench closes and
# whose feedback LED it watches.
RUNTIME = HEAD + BOARD + FLASH + r"""

class LabBoard(Board):
    def __init__(self, wifi):
        super().__init__(wifi)
        self.mask = 0  # every attribute set here: a store under heap_lock must not grow the dict
        self.led = False
        self.led_on_us = 0
    def read_buttons(self): return self.mask
    def set_led(self, index, on):
        if index == 0:
            self.led = on
            if on:
                self.led_on_us = time.ticks_us()


board = LabBoard(P["online"])
marks = {}
connected = False  # "broker: connected" logged: connect() is done (subscribed, presence published)
def log(*args):
    global connected
    line = args[0] if len(args) == 1 else " ".join(str(a) for a in args)
    if line.startswith("press seq=") or line.startswith("sent seq="):
        marks[line[:4] + line.split("=")[1].split()[0]] = time.ticks_us()
    else:
        print(line)
        connected = connected or line.startswith("broker: connected")
""" + OPEN + r"""
flash_ram, lfs_heap = prepare()
open_box(board)


def locked_ticks(now, step, n=1000):
    # n idle poll ticks called directly under heap_lock, `now` advancing by `step` ms in ticks
    # arithmetic; how many of them tried to allocate (raised MemoryError).
    failed = 0
    micropython.heap_lock()
    for _ in range(n):
        now = time.ticks_add(now, step)
        try:
            box.poll_tick(now)
        except MemoryError:
            failed += 1
    micropython.heap_unlock()
    return failed


async def allocated_in_a_second():
    # how much the heap grows while the scheduler spins for 1 s, collection off
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    ticks0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), ticks0) < 1000:
        await asyncio.sleep_ms(0)
    a1 = gc.mem_alloc()
    gc.enable()
    return a1 - a0


async def main():
    global connected
    await settle()
    out = {}
    # idle poll ticks, called directly under heap_lock: any allocation raises MemoryError
    box.poll_tick(time.ticks_ms())
    out["tick_alloc_locked"] = locked_ticks(time.ticks_ms(), 0)
    # the same across the ticks_ms wrap (2**30 ms on a 32-bit port: 12.4 days after boot)
    start = time.ticks_add(0, -2500)
    box.poll_tick(start)
    out["wrap_tick_alloc_locked"] = locked_ticks(start, 5)
    box.poll_tick(time.ticks_ms())
    # Clock.up() once the uptime passed 2**30 ms (12.4 days): the watchdog task calls it every
    # second, the network task at every turn
    clock = box.clock
    saved = clock._up
    clock._up = 1 << 30
    allocated = 1
    micropython.heap_lock()  # nothing under the lock may store into a dict: that can allocate
    try:
        clock.up()
        allocated = 0
    except MemoryError:
        pass
    micropython.heap_unlock()
    clock._up = saved
    out["clock_up_alloc_locked"] = allocated

    # the same through the scheduler, with only the poll task alive
    box.stop()
    await asyncio.sleep_ms(20)
    poll = asyncio.create_task(box.poll_loop())
    await asyncio.sleep_ms(50)
    out["loop_alloc_bytes"] = await allocated_in_a_second()
    poll.cancel()
    out["loop_ms"] = 1000
    await asyncio.sleep_ms(20)
    # control: the same second with no task but this one (the scheduler alone)
    out["sched_alloc_bytes"] = await allocated_in_a_second()

    if P["online"]:
        # presses: contact close -> feedback LED, and registered press -> PUBACK, once connected
        # (box.online() is true from the TCP connection on: a press then waits for the CONNACK,
        # the subscriptions and the presence message, which this figure is not about)
        connected = False
        box.start()
        await until(lambda: connected, "online again")
        fb, ack = [], []
        for i in range(P["presses"]):
            board.led_on_us = 0
            t_close = time.ticks_us()
            board.mask = 1 << (i % 2)
            await until(lambda: board.led_on_us, "led")
            fb.append(time.ticks_diff(board.led_on_us, t_close) / 1000)
            board.mask = 0
            seq = box.ob.next_seq - 1
            await until(lambda: ("sent%d" % seq) in marks, "puback")
            ack.append(time.ticks_diff(marks["sent%d" % seq], marks["pres%d" % seq]) / 1000)
            await until(lambda: not board.led, "led off")  # the counted pattern ends (1.5 s)
            await asyncio.sleep_ms(P["gap_ms"])
        out["feedback_ms"] = fb
        out["puback_ms"] = ack
        box.stop()
        await asyncio.sleep_ms(20)
    # printed here, not after asyncio.run(): on the WebAssembly port asyncio.run() returns at once
    print(json.dumps(out))


asyncio.run(main())
"""

# The heap of the interpreter with asyncio imported and (next to) no script, and the names it
# interned (micropython.qstr_info(), read back by the bench): what the heap after start-up holds that
# is not the firmware's. Same on both ports.
EMPTY = r"""
import gc, asyncio, micropython
""" + COLLECT + r"""

async def main():
    heap = await collected()
    micropython.qstr_info()
    print('{"heap": %d}' % heap)


asyncio.run(main())
"""

OUTBOX = r"""
import json, os, vfs, outbox, recover


""" + FLASH + r"""

fl = Flash()
vfs.VfsLfs2.mkfs(fl)
vfs.mount(vfs.VfsLfs2(fl), "/flash")
st0 = os.statvfs("/flash")
recover.next_boot(outbox, "/flash/")
ob = recover.open_outbox(outbox, "/flash/")
for i in range(10000):
    ob.append(1, i * 1000, i % 2, 0)
st = os.statvfs("/flash")
print(json.dumps({"blocks": st[2], "free_empty": st0[3], "free": st[3], "bsize": st[0], "pending": ob.pending}))
"""


def _run_mp(script: str, path: str, data: Any = None, timeout: float = 300) -> Any:
    """Run `script` under the unix port (64-bit) with MICROPYPATH=path; its last line of JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(data, f)
        f.flush()
        return _last_json([micropython_binary(), "-c", script, f.name], "micropython", timeout,
                          env=dict(os.environ, MICROPYPATH=path))


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
    """Run `script` under the WebAssembly port (32-bit) with the release's .mpy files and the
    hardware stand-ins on its path; its last line of JSON. The script's Flash class (the flash chip's stand-in under LittleFS) is
    left out: this port has no LittleFS, and its heap would hold the class for nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        script_file = Path(tmp) / "script.py"
        script_file.write_text(script.replace(FLASH, "\n"))
        params = Path(tmp) / "params.json"
        params.write_text(json.dumps(data))
        return _last_json(["node", "--expose-gc", str(BENCH / "firmware_wasm.mjs"), str(release),
                           str(HARDWARE_DIR), str(script_file), str(params)], "micropython (webassembly)", timeout)


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
    """The interpreter with asyncio: an EMPTY run's heap, less the names it interned."""
    return int(empty["heap"] - empty["qstr_bytes"][0])


def _early_names(run: Any) -> int:
    """Every name a HEAP or MODULES run interned before its baseline, and the room left in their
    last chunk of text: counted as the box's (module docstring)."""
    return int(run["qstr_bytes"][0] + QSTR_CHUNK)


def _box_heap(run: Any, empty: Any) -> int:
    """The box's heap after start-up from a HEAP or MODULES run (module docstring): what start-up
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


def _heap_rows(off64: Any, on64: Any, off32: Any, empty64: Any, empty32: Any) -> tuple[list[Row], list[str]]:
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
    """The MODULES script's figures (wasm, offline) as a paragraph."""
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
        params = {"cfg": _box_config(port), "presses": PRESSES, "gap_ms": 30, "online": False, "fs": "lfs",
                  "main_py": (FIRMWARE_DIR / "main.py").read_text()}
        off64 = _run_mp(HEAP, path, params)  # Wi-Fi down: no broker needed
        off32 = _run_wasm(HEAP, release, dict(params, fs="host"))
        rt32 = _run_wasm(RUNTIME, release, dict(params, fs="host"))
        parts32 = _run_wasm(MODULES, release, dict(params, fs="host", modules=["board", *RESIDENT]))
        empty64 = _run_mp(EMPTY, path)
        empty32 = _run_wasm(EMPTY, release)
        broker_dir = work / "broker"
        write_config(broker_dir, host="127.0.0.1", port=port)
        bind_client_ids(broker_dir, ["box-017"])  # as add-box: the box connects only as box-017
        set_passwords(broker_dir, {"box-017": "pw-017", "collector": "pw-collector"})
        with Broker(broker_dir, port=port):
            on64 = _run_mp(HEAP, path, dict(params, online=True))
            rt = _run_mp(RUNTIME, path, dict(params, online=True))
        if off32["ticks_period"] != 1 << 30:
            period = off32["ticks_period"]
            raise RuntimeError(f"the WebAssembly port is not a 32-bit MicroPython: ticks period {period}")
        heap, notes = _heap_rows(off64, on64, off32, empty64, empty32)
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


def main() -> list[Row]:
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
    main()
