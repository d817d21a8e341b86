# What bench.firmware's heap and runtime scripts share (MicroPython: the unix port and the
# WebAssembly port run it, with the release on their path). P: the parameters (the JSON file
# sys.argv[1]); P["online"]: the board's Wi-Fi is up (and a broker listens) or down; P["cfg"]: the
# box's config.json; P["main_py"]: firmware/main.py; P["fs"]: "lfs" for a RAM LittleFS as on the
# box, "host" for the port's own filesystem (the WebAssembly port has no LittleFS).
import asyncio
import gc
import json
import sys
import time

from bench_collect import collected

with open(sys.argv[1]) as f:
    P = json.load(f)
if P["fs"] == "lfs":
    from bench_flash import Flash  # before the scripts' baseline: not the box's heap

connected = False  # "broker: connected" logged: connect() is done (subscribed, presence published)


def log(*args):
    # The box's log (print itself on the box), watched for the connection.
    global connected
    print(*args)
    connected = connected or args[0].startswith("broker: connected")


def stand_ins():
    # The stand-ins for what the ESP32 holds in flash, not in its heap, loaded by the heap scripts
    # before they read their baseline: machine and network (bench/firmware_hardware: C on the
    # ESP32, their Pin, WDT and WLAN objects static there, so the stand-ins make theirs at import),
    # with Wi-Fi coming up or not as P["online"] says, and os (C on the ESP32 and on the unix port,
    # a frozen Python package on the WebAssembly port; outbox imports it). Returns wifi_asked():
    # whether the box has asked for Wi-Fi.
    import os  # noqa: F401

    import machine  # noqa: F401
    import network

    wlan = network.WLAN(network.STA_IF)
    wlan.up = P["online"]  # type: ignore[attr-defined]  # the stand-in's switch
    return lambda: wlan.ssid is not None  # type: ignore[attr-defined]


def prepare():
    # The flash with config.json in it (P["cfg"], which stays in P: the box reads its own copy from
    # the file). Returns the RAM standing in for the flash chip (not heap on the box) and
    # LittleFS's own heap, or None.
    ram, lfs = 0, None
    if P["fs"] == "lfs":
        import vfs

        gc.collect()
        m0 = gc.mem_alloc()
        fl = Flash()
        vfs.VfsLfs2.mkfs(fl)  # type: ignore[arg-type]  # the stubs miss the block device protocol
        vfs.mount(vfs.VfsLfs2(fl), "/flash")  # type: ignore[abstract,arg-type]
        ram = len(fl.data)
        gc.collect()
        lfs = gc.mem_alloc() - m0 - ram  # block device object, VfsLfs2 and its buffers, mount entry
    # else emscripten's in-memory filesystem, outside the MicroPython heap (/flash made by
    # firmware_wasm.mjs)
    with open("/flash/config.json", "w") as f:
        f.write(json.dumps(P["cfg"]))
    return ram, lfs


def open_box(board, log):
    # The box opened on `board` with `log` as app.run() opens it on the box: startup.open_box(),
    # then the startup module dropped.
    import app

    box = app.load("startup").open_box(board, "/flash/", log=log)
    app.drop("startup")
    # Nothing is measured before a collection anyway; collecting now, with no frame of start-up
    # left, keeps a stale word (the collector is conservative) from holding the dropped module
    # into the measurement: that added 6.5 KB to the unix figure when this moved out of a string.
    gc.collect()
    return box


async def until(pred, what, ms=5000):
    t = time.ticks_ms()
    while not pred():
        if time.ticks_diff(time.ticks_ms(), t) > ms:
            raise SystemExit("bench: timed out waiting for " + what)
        await asyncio.sleep_ms(1)


async def settle(box, wifi_asked):
    # Start the box and wait until it is online (Wi-Fi up) or, Wi-Fi down, until its network task
    # has asked for Wi-Fi (it then waits 20 s for it: the box's normal offline state); anchor the
    # clock, wait 300 ms; the heap in use then (with the RAM standing in for the flash chip).
    box.start()
    if P["online"]:
        await until(lambda: connected, "online")
    else:
        await until(wifi_asked, "a Wi-Fi attempt")
    box.anchor("sync", 1795000000000)  # the clock beacon's job, done directly
    await asyncio.sleep_ms(300)  # first heartbeat out (online), steady state
    return await collected()


def main_py():
    # main.py's bytecode: the box compiles main.py's source at boot and holds it while app.run()
    # runs, for ever (compiled here, not run).
    return compile(P["main_py"], "main.py", "exec")
