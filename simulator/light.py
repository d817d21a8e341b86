"""Light mode: many boxes in one CPython process, for load tests.

Each light box runs the firmware's own Box class (firmware/app.py) on CPython asyncio, imported
with MicroPython's stand-ins (technician/firmware_loader.py), with a board object of its own
instead of board.py, a folder on the host as its flash, its own broker account and client id, and
its own SNTP responder.
It speaks real MQTT (the firmware's mqtt.py) straight to the real broker.

What differs from a full box: one event loop for all boxes, so the button poll is driven by the
host (the firmware's Box.poll_tick, every poll_ms while a box's contacts or LEDs are busy, every
IDLE_TICK_MS otherwise); no MicroPython heap, no LittleFS (the outbox is plain files), no REPL;
a power cut stops the Box between two steps of the event loop, never inside a file write.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from simulator.box import BOARD_DIR, FIRMWARE_DIR, BoxError, Event, contact_edges, sntp_reply
from simulator.waiting import wait_until
from technician import firmware_loader

IDLE_TICK_MS = 100  # poll of a box nobody touches: keeps its status LED and supervisor going
ACTIVE_AFTER_LED_MS = 2000  # keep polling fast this long after a feedback change (patterns)
LINES_KEPT = 200


def load_firmware(firmware_dir: Path = FIRMWARE_DIR) -> SimpleNamespace:
    """The firmware's app and config modules on CPython (technician/firmware_loader.py)."""
    fw = firmware_loader.load(firmware_dir, "app", "config")
    if not hasattr(fw.app, "Box"):
        raise BoxError("this firmware's app.py has no Box class: light mode needs it")
    return SimpleNamespace(app=fw.app, Box=fw.app.Box, NTP=fw.app.NTP, config=fw.config)


def _contacts_class() -> type:
    return firmware_loader.load(BOARD_DIR, "simhw").simhw.Contacts  # type: ignore[no-any-return]


class LightBoard:
    """firmware/board.py's functions for one light box."""

    def __init__(self, lb: LightBox):
        self.lb = lb
        self.FLASH_ROOT = str(lb.root) + "/"

    def init(self, pins: dict[str, Any]) -> None:
        lb = self.lb
        lb.contacts = lb.host.Contacts(len(pins["buttons"]), lambda since, ms: lb.host.record(
            lb, Event(time.time(), "late_sample", {"since": since, "ms": ms})))

    def read_buttons(self) -> int:
        return self.lb.contacts.mask(time.time() * 1000)  # type: ignore[no-any-return]

    def set_led(self, index: int, on: bool) -> None:
        self.lb.output("led", index, 1 if on else 0)

    def set_buzzer(self, freq: int) -> None:
        self.lb.output("buzzer", 0, freq)

    def wifi_connect(self, ssid: str, password: str) -> None:
        if not self.lb.wifi_wanted:
            self.lb.wifi_wanted = True
            self.lb.wifi_ready_at = time.monotonic() + self.lb.wifi_delay_s

    def wifi_connected(self) -> bool:
        lb = self.lb
        return lb.wifi_wanted and lb.link_up and time.monotonic() >= lb.wifi_ready_at

    def wifi_rssi(self) -> int | None:
        return -58 if self.wifi_connected() else None

    def watchdog_start(self, timeout_ms: int) -> None:
        self.lb.wdt_ms = timeout_ms
        self.lb.last_feed = time.monotonic()

    def watchdog_feed(self) -> None:
        self.lb.last_feed = time.monotonic()

    def reset_cause(self) -> str:
        return self.lb.cause

    def reset(self) -> None:
        self.lb.host.loop.call_soon(self.lb.off, "soft", 0.0)
        raise asyncio.CancelledError

    def unique_id(self) -> str:
        return self.lb.uid


class _Ntp(asyncio.DatagramProtocol):
    def __init__(self, lb: LightBox):
        self.lb = lb
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) >= 48 and self.lb.link_up and self.lb.ntp_on:
            self.lb.ntp_answers += 1
            self.transport.sendto(sntp_reply(data, time.time()), addr)


class LightBox:
    """The VirtualBox interface the fleet uses (press, hold, stick, wifi, ntp, power_cut, hang,
    feedback, wait_for, boots, lines), for a box living in a LightHost."""

    def __init__(self, host: LightHost, config: dict[str, Any], seed: int):
        self.host = host
        self.config = config
        self.box_id: str = config["box"]
        self.root = host.workdir / self.box_id
        self.root.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.uid = f"24a1{random.Random(self.box_id).getrandbits(32):08x}"
        self.events: list[Event] = []
        self.lines: collections.deque[tuple[float, str]] = collections.deque(maxlen=LINES_KEPT)
        self.boots = 0
        self.app: Any = None
        self.cause = "power_on"
        self.contacts: Any = host.Contacts(2)
        self.outputs: dict[tuple[str, int], int] = {}
        self.link_up = True
        self.ntp_on = True
        self.ntp_answers = 0
        self.ntp_port = 0
        self.wifi_wanted = False
        self.wifi_ready_at = 0.0
        self.wifi_delay_s = 0.2
        self.wdt_ms = 0
        self.last_feed = 0.0
        self.hung = False
        self.active_until = 0.0  # wall ms: poll every poll_ms until then
        self.last_tick = 0
        self.pid = None

    # -- in the event loop ---------------------------------------------------------------
    def output(self, kind: str, index: int, value: int) -> None:
        if self.outputs.get((kind, index)) != value:
            self.outputs[kind, index] = value
            now = time.time()
            if kind == "led" and index == 0:
                self.active_until = max(self.active_until, now * 1000 + ACTIVE_AFTER_LED_MS)
            self.host.record(self, Event(now, kind, {"i": index, "on": value} if kind == "led" else {"f": value}))

    def log(self, *args: Any) -> None:
        self.lines.append((time.time(), " ".join(str(a) for a in args)))
        self.host.notify()
        if self.host.echo:
            self.host.echo(self.box_id, self.lines[-1][1])

    def boot(self, cause: str) -> None:
        fw = self.host.fw
        self.cause, self.hung, self.wdt_ms = cause, False, 0
        self.wifi_wanted, self.outputs = False, {}
        cfg = dict(self.config)
        if cfg.get("ntp") == "sim":
            cfg["ntp"] = f"127.0.0.1:{self.ntp_port}"
        try:
            cfg = fw.config.validate(cfg)
            self.app = app = fw.Box(cfg, LightBoard(self), str(self.root) + "/", log=self.log)
        except (OSError, ValueError, fw.config.ConfigError) as e:
            self.log("boot failed:", repr(e))
            return
        self.boots += 1
        self.host.record(self, Event(time.time(), "boot", {"cause": cause, "box": self.box_id}))
        # Box.start() without its poll loop: the host polls every box (see LightHost._poll_all).
        app.board.watchdog_start(app.t["watchdog_ms"])
        app.tasks = [asyncio.create_task(app.net_loop())]
        if (app.ntp if hasattr(app, "ntp") else cfg["ntp"]):
            app.alive[fw.NTP] = firmware_loader.ticks_ms()
            app.tasks.append(asyncio.create_task(app.ntp_loop()))
        app.tasks.append(asyncio.create_task(app.watchdog_loop()))

    def off(self, why: str, restore_after: float | None) -> None:
        if self.app is None:
            return
        self.app.stop()
        self.app = None
        self.host.record(self, Event(time.time(), "off", {"why": why}))
        cause = {"power": "power_on", "watchdog": "watchdog"}.get(why, "soft")
        if restore_after is not None:
            self.host.loop.call_later(restore_after, self.boot, cause)

    def drop_link(self) -> None:
        client = self.app.client if self.app else None
        writer = getattr(client, "_writer", None)
        if writer is not None:
            writer.transport.abort()

    # -- from any thread -----------------------------------------------------------------
    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.host.loop.call_soon_threadsafe(fn, *args)

    def press(self, button: int, *, bounce_edges: int = 8, bounce_ms: int = 15, hold_ms: int = 150,
              seed: int | None = None, lead_ms: float = 30.0) -> float:
        if self.app is None:
            raise BoxError(f"{self.box_id} is off")
        rng = random.Random(seed) if seed is not None else self.rng
        edges = contact_edges(rng, bounce_edges, bounce_ms, hold_ms)
        t0 = time.time() * 1000 + lead_ms
        self._schedule(button, t0, edges)
        settle = edges[len(edges) // 2 - 1][0]
        return (t0 + settle) / 1000

    def hold(self, buttons: list[int], hold_ms: int, *, lead_ms: float = 30.0) -> float:
        if self.app is None:
            raise BoxError(f"{self.box_id} is off")
        t0 = time.time() * 1000 + lead_ms
        for b in buttons:
            self._schedule(b, t0, [(0, 1), (hold_ms, 0)])
        return t0 / 1000

    def _schedule(self, button: int, t0: float, edges: list[tuple[int, int]]) -> None:
        debounce = self.config["timings"].get("debounce_ms", 50)

        def add() -> None:
            self.contacts.add(button, t0, edges)
            self.active_until = max(self.active_until, t0 + edges[-1][0] + debounce + 100)

        self._call(add)

    def stick(self, button: int, seconds: float) -> float:
        return self.press(button, hold_ms=int(seconds * 1000))

    def wifi(self, up: bool) -> None:
        self.link_up = up
        if up:
            self.wifi_ready_at = time.monotonic() + self.wifi_delay_s
        else:
            self._call(self.drop_link)

    def ntp(self, on: bool) -> None:
        self.ntp_on = on

    def power_cut(self, at_write: int | None = None, *, torn: bool = False, restore: bool = True,
                  off_s: float = 0.0) -> None:
        if at_write is not None:
            raise BoxError("light boxes have no block device: power_cut(at_write=...) needs a full box")
        self._call(self.off, "power", off_s if restore else None)

    def hang(self) -> None:
        """The poll loop stops (the firmware's supervisor then stops feeding the watchdog)."""
        self.hung = True

    def feedback(self, since: float = 0.0, led: int = 0) -> list[tuple[float, bool]]:
        return [(e.t, bool(e.data["on"])) for e in list(self.events) if e.kind == "led" and e.data["i"] == led
                and e.t >= since]

    def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:
        return self.host.wait_for(predicate, timeout, self.box_id)

    def usage(self) -> tuple[float, int]:
        return 0.0, 0

    def console(self) -> str:
        return "\n".join(line for _, line in self.lines)


class LightHost:
    """One thread, one asyncio loop, every light box."""

    def __init__(self, workdir: Path, *, firmware_dir: Path = FIRMWARE_DIR,
                 echo: Callable[[str, str], None] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.fw = load_firmware(firmware_dir)
        self.Contacts = _contacts_class()
        self.echo = echo
        self.boxes: list[LightBox] = []
        self.loop = asyncio.new_event_loop()
        self.cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def add(self, config: dict[str, Any], seed: int = 0) -> LightBox:
        lb = LightBox(self, config, seed)
        self.boxes.append(lb)
        return lb

    def record(self, lb: LightBox, ev: Event) -> None:
        lb.events.append(ev)
        self.notify()

    def notify(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[], Any], timeout: float, who: str = "light boxes") -> Any:
        return wait_until(self.cond, predicate, timeout, who)

    def start(self, timeout: float = 60.0) -> None:
        self._thread = threading.Thread(target=self._run, name="light-boxes", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BoxError(f"light boxes did not boot within {timeout} s")
        if self._error:
            raise BoxError(f"light boxes did not boot: {self._error!r}")

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown() -> None:
            for lb in self.boxes:
                if lb.app is not None:
                    lb.app.stop()
                    lb.app = None
            await asyncio.sleep(0.05)
            self.loop.stop()

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(shutdown()))
        self._thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._boot_all())
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.create_task(self._poll_all())
        self.loop.create_task(self._watchdogs())
        self.loop.run_forever()
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    async def _boot_all(self) -> None:
        for lb in self.boxes:
            _, protocol = await self.loop.create_datagram_endpoint(functools.partial(_Ntp, lb),
                                                                   local_addr=("127.0.0.1", 0))
            lb.ntp_port = protocol.transport.get_extra_info("sockname")[1]
            lb.boot("power_on")
            await asyncio.sleep(0)

    async def _poll_all(self) -> None:
        poll_s = min(b.config["timings"].get("poll_ms", 5) for b in self.boxes) / 1000 if self.boxes else 0.005
        ticks_ms, ticks_diff = firmware_loader.ticks_ms, firmware_loader.ticks_diff
        while True:
            wall = time.time() * 1000
            now = ticks_ms()
            for lb in self.boxes:
                app = lb.app
                if app is None or lb.hung:
                    continue
                if wall < lb.active_until or ticks_diff(now, lb.last_tick) >= IDLE_TICK_MS:
                    lb.last_tick = now
                    try:
                        app.poll_tick(now)
                    except asyncio.CancelledError:  # board.reset() from inside the poll
                        pass
            await asyncio.sleep(poll_s)

    async def _watchdogs(self) -> None:
        """The chip's watchdog: a box that stops feeding it is reset."""
        while True:
            now = time.monotonic()
            for lb in self.boxes:
                if lb.app is not None and lb.wdt_ms and now - lb.last_feed > lb.wdt_ms / 1000:
                    lb.log("watchdog reset")
                    lb.off("watchdog", 0.0)
            await asyncio.sleep(0.25)
