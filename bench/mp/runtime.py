# bench.firmware's runtime script: feedback and PUBACK latency (online, unix), allocation by idle
# poll ticks under heap_lock and by the idle loop (both ports): the box as in heap.py, on a board
# whose contacts the bench closes and whose feedback LED it watches (board.py's functions on plain
# attributes: Wi-Fi up or down for good, no contact closed). Prints one JSON line.
import asyncio
import gc
import json
import time

import bench_box
import micropython
from bench_box import P, open_box, prepare, settle, until


class Board:
    def __init__(self, wifi):
        self.wifi = wifi
        self.wifi_asked = False

    def init(self, pins):
        pass

    def read_buttons(self):
        return 0

    def set_led(self, index, on):
        pass

    def set_buzzer(self, freq):
        pass

    def wifi_connect(self, ssid, password):
        self.wifi_asked = True

    def wifi_connected(self):
        return self.wifi

    def wifi_rssi(self):
        return -50 if self.wifi else None

    def watchdog_start(self, ms):
        pass

    def watchdog_feed(self):
        pass

    def reset_cause(self):
        return "power_on"

    def reset(self):
        pass

    def unique_id(self):
        return "000000000000"


class LabBoard(Board):
    def __init__(self, wifi):
        super().__init__(wifi)
        self.mask = 0  # every attribute set here: a store under heap_lock must not grow the dict
        self.led = False
        self.led_on_us = 0

    def read_buttons(self):
        return self.mask

    def set_led(self, index, on):
        if index == 0:
            self.led = on
            if on:
                self.led_on_us = time.ticks_us()  # type: ignore[assignment]


def wifi_asked():
    return board.wifi_asked


board = LabBoard(P["online"])
marks = {}  # type: dict


def log(*args):
    # The box's log: press and PUBACK lines time-stamped, the others printed.
    line = args[0] if len(args) == 1 else " ".join(str(a) for a in args)
    if line.startswith("press seq=") or line.startswith("sent seq="):  # noqa: PIE810 (MicroPython: no tuple)
        marks[line[:4] + line.split("=")[1].split()[0]] = time.ticks_us()
    else:
        print(line)
        bench_box.connected = bench_box.connected or line.startswith("broker: connected")


flash_ram, lfs_heap = prepare()
box = open_box(board, log)


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
    await settle(box, wifi_asked)
    out = {}
    # idle poll ticks, called directly under heap_lock: any allocation raises MemoryError
    box.poll_tick(time.ticks_ms())
    out["tick_alloc_locked"] = locked_ticks(time.ticks_ms(), 0)
    # the same across the ticks_ms wrap (2**30 ms on a 32-bit port: 12.4 days after boot)
    start = time.ticks_add(0, -2500)  # type: ignore[type-var]  # ticks arithmetic from 0 on purpose
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
        bench_box.connected = False
        box.start()
        await until(lambda: bench_box.connected, "online again")
        fb, ack = [], []
        for i in range(P["presses"]):
            board.led_on_us = 0
            t_close = time.ticks_us()
            board.mask = 1 << (i % 2)
            await until(lambda: board.led_on_us, "led")
            fb.append(time.ticks_diff(board.led_on_us, t_close) / 1000)
            board.mask = 0
            seq = box.ob.next_seq - 1
            await until(lambda seq=seq: f"sent{seq}" in marks, "puback")
            ack.append(time.ticks_diff(marks[f"sent{seq}"], marks[f"pres{seq}"]) / 1000)
            await until(lambda: not board.led, "led off")  # the counted pattern ends (1.5 s)
            await asyncio.sleep_ms(P["gap_ms"])
        out["feedback_ms"] = fb
        out["puback_ms"] = ack
        box.stop()
        await asyncio.sleep_ms(20)
    # printed here, not after asyncio.run(): on the WebAssembly port asyncio.run() returns at once
    print(json.dumps(out))


asyncio.run(main())
