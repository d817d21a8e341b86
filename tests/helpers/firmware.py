"""Helpers of the firmware tests: run scripts under the real MicroPython unix port, listen to the real
Mosquitto (tests/firmware/conftest.py's `mosquitto`) as the collector, run whole virtual boxes
(firmware + fake board), and stand in for the network services a box talks to."""

from __future__ import annotations

import json
import os
import queue
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from simulator.box import micropython_binary
from tests.helpers.paths import REPO

FIRMWARE = REPO / "firmware"
FIRMWARE_TESTS = REPO / "tests" / "firmware"  # the MicroPython side of the firmware tests

# '.frozen' holds asyncio; MICROPYPATH replaces the default path, so it must be listed.
MP_SCRIPTS = FIRMWARE_TESTS / "mp"  # the scripts run_mp() runs, and what they share (mp_helpers.py is here)
MICROPYPATH = f".frozen:{FIRMWARE_TESTS / 'fakeboard'}:{FIRMWARE}:{FIRMWARE_TESTS}:{MP_SCRIPTS}"
BOX_PASSWORDS = {"box-017": "pw-017", "box-018": "pw-018", "collector": "pw-collector"}


def run_mp(script: str, *, cwd: Path | None = None, timeout: float = 60, data: Any = None) -> str:
    """Run `script` under MicroPython; return its stdout, failing the test on a non-zero exit.
    `script`: the name of a file in tests/firmware/mp/ (or a line of MicroPython source). `data` is
    written as JSON to a file whose path is the script's sys.argv[1] (a large argv crashes the unix
    port)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(data, f)
        f.flush()
        proc = subprocess.run(  # noqa: PLW1510 (the exit code is asserted below, with the output)
            [micropython_binary(), "-X", "heapsize=32M",
             *([str(MP_SCRIPTS / script)] if script.endswith(".py") else ["-c", script]), f.name],
            cwd=cwd,
            env=dict(os.environ, MICROPYPATH=MICROPYPATH),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    assert proc.returncode == 0, f"micropython failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def mp_json(script: str, **kw: Any) -> Any:
    """Run a script whose last stdout line is JSON; return it parsed."""
    return json.loads(run_mp(script, **kw).strip().splitlines()[-1])


class Listener:
    """The collector's view of the broker: every message on rating/#, awaited with timeouts."""

    def __init__(self, port: int, persistent: bool = False, confirm: bool = True):
        """persistent: a session the broker keeps while the listener is away (as the collector's),
        so that nothing published in between is missed. confirm: answer each press with the
        collector's "stored" confirmation (schemas/stored.schema.json), as the collector does after
        its commit, so that the box lets the press go."""
        self.confirm = confirm
        self.messages: queue.Queue[tuple[str, Any, bool]] = queue.Queue()
        self.client_id = f"test-listener-{port}" + ("-kept" if persistent else "")
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, clean_session=not persistent,
                                  client_id=self.client_id)
        self.client.username_pw_set("collector", BOX_PASSWORDS["collector"])
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("rating/#", 1)
        self.client.loop_start()
        assert subscribed.wait(10), "listener could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            payload: Any = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload
        self.messages.put((msg.topic, payload, bool(msg.retain)))
        if self.confirm and msg.topic.endswith("/press") and isinstance(payload, dict) and "seq" in payload:
            box = msg.topic.split("/")[1]
            client.publish(f"rating/{box}/cmd", json.dumps({"v": 1, "stored": [payload["seq"]]}), qos=0)

    def wait(self, match: Callable[[str, Any], bool], timeout: float = 10) -> tuple[str, Any]:
        """First message (from now on, skipping others) for which match(topic, payload) holds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message within {timeout:.0f} s")
            try:
                topic, payload, _ = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if match(topic, payload):
                return topic, payload

    def presses(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        return [self.wait(lambda t, p: t.endswith("/press"), timeout)[1] for _ in range(n)]

    def publish(self, topic: str, payload: Any) -> None:
        self.client.publish(topic, json.dumps(payload)).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def box_config(port: int, box: str = "box-017", **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "box": box,
        "counter": box[4:],
        "scale": "sat2",
        "levels": [0, 1],
        "pins": {"buttons": [12, 14], "led_feedback": 2, "led_status": 4, "buzzer": None},
        "wifi": {"ssid": "center", "password": "wifi-secret"},
        "broker": {
            "host": "127.0.0.1",
            "port": port,
            "tls": False,
            "username": box,
            "password": BOX_PASSWORDS.get(box, "x"),
        },
        "ntp": None,
        "timings": {"lockout_ms": 1000, "keepalive_s": 5, "heartbeat_s": 60},
    }
    cfg.update(over)
    return cfg


class VirtualBox:
    """The real firmware (main.py) under MicroPython with the fake board, in its own flash folder.
    Buttons are driven through buttons.txt; stdout lines are collected for wait_line().
    With watchdog=True a monitor plays the ESP32's hardware watchdog: when the firmware stops
    feeding (wdt.txt unchanged for longer than its timeout) the process is killed and started
    again with reset cause "watchdog". `entry` replaces `import main` (to tune module constants): a
    file of tests/firmware/mp/ that does it in its stead."""

    def __init__(self, flash: Path, config: dict[str, Any] | None, entry: str = "import main"):
        self.flash = flash
        flash.mkdir(parents=True, exist_ok=True)
        if config is not None:
            (flash / "config.json").write_text(json.dumps(config))
        self.entry = entry
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.watchdog_resets = 0
        self._monitor: threading.Thread | None = None
        self._stop_monitor = threading.Event()

    def start(self, cause: str = "power_on", watchdog: bool = False) -> VirtualBox:
        self.set_buttons(0)
        (self.flash / "wdt.txt").unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [micropython_binary(),
             *([str(MP_SCRIPTS / self.entry)] if self.entry.endswith(".py") else ["-c", self.entry])],
            cwd=self.flash,
            env=dict(os.environ, MICROPYPATH=MICROPYPATH, FAKE_RESET_CAUSE=cause),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        if watchdog and self._monitor is None:
            self._stop_monitor.clear()
            self._monitor = threading.Thread(target=self._watch, daemon=True)
            self._monitor.start()
        return self

    def _watch(self) -> None:
        wdt = self.flash / "wdt.txt"
        while not self._stop_monitor.wait(0.1):
            try:
                text, fed = wdt.read_text(), wdt.stat().st_mtime
            except (OSError, ValueError):
                continue  # not started yet
            parts = text.split()
            if len(parts) != 2 or not parts[0].isdigit():
                continue
            if time.time() - fed > int(parts[0]) / 1000:
                self.lines.put("[harness] watchdog reset")
                self.watchdog_resets += 1
                self.kill(stop_watchdog=False)
                self.start(cause="watchdog")

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, needle: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"box never printed {needle!r}; it printed:\n{self.transcript()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if needle in line:
                return line

    def transcript(self) -> str:
        """Everything the box has printed so far, for a failing test's message."""
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return "\n".join(self.seen)

    def wait_all(self, *needles: str, timeout: float = 10) -> None:
        """Wait until every needle was printed, in any order."""
        left = set(needles)
        deadline = time.monotonic() + timeout
        while left:
            line = self.wait_line("", max(0.01, deadline - time.monotonic()))
            left = {n for n in left if n not in line}
            if left and time.monotonic() > deadline:
                raise AssertionError(f"box never printed {left}; it printed:\n{self.transcript()}")

    def set_buttons(self, mask: int | str) -> None:
        """mask: raw contacts; or "hang"/"raise" (see fakeboard/board.py)."""
        tmp = self.flash / "buttons.tmp"
        tmp.write_text(str(mask))
        os.replace(tmp, self.flash / "buttons.txt")

    def press(self, button: int, expect: str = "press seq=") -> str:
        """Press and release one button, waiting for the box to register each step."""
        self.set_buttons(1 << button)
        line = self.wait_line(expect)
        self.set_buttons(0)
        self.wait_line(f"release button={button}")
        return line

    def kill(self, stop_watchdog: bool = True) -> None:
        """Power cut: SIGKILL, no chance to say goodbye."""
        if stop_watchdog and self._monitor is not None:
            self._stop_monitor.set()
            if self._monitor is not threading.current_thread():
                self._monitor.join(5)
            self._monitor = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


# -- network stand-ins ---------------------------------------------------------------------------
NTP_TO_UNIX_S = 2208988800


def _ntp_stamp(t: float) -> bytes:
    seconds = int(t) + NTP_TO_UNIX_S
    return struct.pack("!II", seconds, int((t - int(t)) * 2**32) & 0xFFFFFFFF)


class SntpServer:
    """A small SNTP server on 127.0.0.1 (UDP) answering with the host clock plus `offset_s`.
    `answer` False makes it silent; `mode`/`stratum` let a test send a bad answer."""

    def __init__(self, offset_s: float = 0.0):
        self.offset_s = offset_s
        self.answer = True
        self.mode = 4
        self.stratum = 2
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                data, peer = self.sock.recvfrom(512)
            except (TimeoutError, OSError):
                continue
            received = time.time() + self.offset_s
            if len(data) < 48 or data[0] & 7 != 3:
                continue
            self.requests += 1
            if not self.answer:
                continue
            reply = bytearray(48)
            reply[0] = (4 << 3) | self.mode  # LI 0, version 4
            reply[1] = self.stratum
            reply[2] = data[2]
            reply[3] = 0xEC
            reply[12:16] = b"LOCL"
            reply[16:24] = _ntp_stamp(received)
            reply[24:32] = data[40:48]  # originate: the client's transmit timestamp, echoed
            reply[32:40] = _ntp_stamp(received)
            reply[40:48] = _ntp_stamp(time.time() + self.offset_s)
            try:
                self.sock.sendto(bytes(reply), peer)
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.thread.join(2)
        self.sock.close()


class Relay:
    """The box's Wi-Fi link to the broker: a TCP relay on 127.0.0.1 that can be cut (all open
    connections dropped, new ones refused) and restored."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.up = True
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            a.settimeout(None)
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def set_up(self, up: bool) -> None:
        self.up = up
        if not up:
            with self.lock:
                conns, self.conns = self.conns, []
            for s in conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._closed = True
        self.set_up(False)
        self.listener.close()
