# The simulated hardware of a virtual box (MicroPython, unix port). It plays the silicon: it is
# imported before the flash is mounted and never lives in the box's flash. board.py (which does
# live in flash, like the ESP32 one) is a thin layer over it.
#
# Control channel: one TCP connection to the host simulator, JSON lines both ways.
#   host -> box: {"op": "press", "b": 0, "t0": ms, "edges": [[ms, 1], [ms, 0], ...]}
#                {"op": "wifi", "up": bool}  {"op": "rssi", "v": -60}
#                {"op": "powercut", "after": n, "torn": bool}  {"op": "hang"}
#   box -> host: {"ev": "boot" | "init" | "led" | "buzzer" | "wifi_connect" | "wdt" | "feed" |
#                 "reset" | "hello" | "late_sample", "t": ms, ...}
# Times are host wall-clock milliseconds (time.time_ns() on the unix port is the host clock), so
# both sides agree on when an edge happens and when an LED lit.
import json
import os
import select
import socket
import time


def now_ms():
    return time.time_ns() / 1000000


def _die():
    # A reset or a power loss ends the process at once, as hardware would: no finally blocks, no
    # flushing. sh's parent is this process.
    os.system("kill -9 $PPID")
    while True:  # not reached
        pass


# The box's view of its contacts this stale, with edges inside, can hide part of a press from the
# debouncer (whose default window is 50 ms).
LATE_SAMPLE_MS = 30


class Contacts:
    """Button contacts driven by an edge schedule: a contact's value at time t is the value of
    the last edge at or before t, so bounce timing does not depend on when messages arrive.
    on_late(since, ms) is told of every sample that saw edges >= LATE_SAMPLE_MS late: the box's loop
    left the contacts unread for that long (the firmware stalled, or the host with many boxes on few
    cores did not run it), or the edges' schedule reached the box after their time (the host's
    simulator thread was late). Either way part of a press was invisible to the firmware."""

    def __init__(self, n, on_late=None):
        self.state = [0] * n
        self.pending = [[] for _ in range(n)]
        self.on_late = on_late
        self.sampled = 0

    def add(self, button, t0, edges):
        while button >= len(self.state):
            self.state.append(0)
            self.pending.append([])
        p = self.pending[button]
        for rel, value in edges:
            p.append((t0 + rel, 1 if value else 0))
        p.sort()

    def mask(self, t):
        m = 0
        since = self.sampled  # the box's view of any edge due now is at least this old
        edges = False
        for i in range(len(self.state)):
            p = self.pending[i]
            while p and p[0][0] <= t:
                at, self.state[i] = p.pop(0)
                since = min(since, at)  # an edge that arrived after a sample that should have seen it
                edges = True
            if self.state[i]:
                m |= 1 << i
        if edges and self.on_late and self.sampled and t - since >= LATE_SAMPLE_MS:
            self.on_late(since, t - since)
        self.sampled = t
        return m


class FileBlockDevice:
    """The box's flash: a LittleFS image in a host file, with a power-cut fuse."""

    def __init__(self, path, block_size=4096):
        self.f = open(path, "r+b")  # noqa: SIM115 - open for the box's life, as a flash chip
        self.f.seek(0, 2)
        self.block_size = block_size
        self.count = self.f.tell() // block_size
        self.writes = 0
        self.budget = -1  # block writes left before power is lost; -1 = never
        self.torn = False

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.block_size + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=0):
        if self.budget == 0:
            if self.torn:  # the write in flight when power went: half of it reaches the chip
                self.f.seek(block * self.block_size + offset)
                self.f.write(memoryview(buf)[: len(buf) // 2])
            hw.power_lost()
        self.f.seek(block * self.block_size + offset)
        self.f.write(buf)
        self.writes += 1
        if self.budget > 0:
            self.budget -= 1

    def ioctl(self, op, arg):
        if op == 4:
            return self.count
        if op == 5:
            return self.block_size
        if op == 6:  # erase: a no-op on a file
            return 0
        return None


class Hardware:
    def __init__(self):
        env = os.getenv
        self.box = env("SIM_BOX") or "box-sim"
        self.cause = env("SIM_RESET_CAUSE") or "power_on"
        self.uid = env("SIM_UID") or "24a160000001"
        self.wifi_delay = int(env("SIM_WIFI_DELAY_MS") or "200")
        self.link_up = (env("SIM_WIFI") or "1") == "1"
        self.rssi = -58
        self.contacts = Contacts(2, self.late_sample)
        self.leds = [None, None]
        self.buzzer = None
        self.wifi_wanted = False
        self.wifi_ready_at = 0
        self.wdt_ms = 0
        self.last_feed = 0
        self.last_feed_sent = 0
        self.flash = None
        self.sock = None
        self.poller = None
        self.rx = b""
        port = env("SIM_CTRL")
        if port:
            s = socket.socket()
            s.connect(socket.getaddrinfo("127.0.0.1", int(port))[0][-1])
            self.sock = s
            self.poller = select.poll()
            self.poller.register(s, select.POLLIN)
        image = env("SIM_FLASH")
        if image:
            self.flash = FileBlockDevice(image)

    # -- box -> host
    def send(self, ev, **fields):
        if self.sock is None:
            return
        fields["ev"] = ev
        fields["t"] = now_ms()
        data = (json.dumps(fields) + "\n").encode()
        while data:
            n = self.sock.send(data)
            data = data[n:]

    # -- host -> box, polled from read_buttons() and the other board calls
    def poll(self):
        if self.poller is None:
            return
        for _ in self.poller.ipoll(0):
            chunk = self.sock.recv(4096)
            if not chunk:  # host gone: the simulator stopped, so does the box
                _die()
            self.rx += chunk
        while b"\n" in self.rx:
            line, self.rx = self.rx.split(b"\n", 1)
            self.handle(json.loads(line))

    def handle(self, msg):
        op = msg["op"]
        if op == "press":
            self.contacts.add(msg["b"], msg["t0"], msg["edges"])
        elif op == "wifi":
            self.link_up = msg["up"]
            if self.link_up:
                self.wifi_ready_at = now_ms() + self.wifi_delay
        elif op == "rssi":
            self.rssi = msg["v"]
        elif op == "hang":  # a firmware bug: spin without touching the board again
            while True:
                pass
        elif op == "powercut":
            if msg.get("after") is None:  # now
                self.power_lost()
            self.flash.budget = msg["after"]
            self.flash.torn = msg.get("torn", False)

    def power_lost(self):
        self.send("reset", why="power", writes=self.flash.writes if self.flash else 0)
        _die()

    def late_sample(self, since, ms):
        self.send("late_sample", since=since, ms=ms)

    def check_watchdog(self, t):
        if self.wdt_ms and t - self.last_feed > self.wdt_ms:
            self.send("reset", why="watchdog", late_ms=t - self.last_feed - self.wdt_ms)
            _die()

    def die(self):
        _die()


hw = Hardware()
