"""A firmware release folder as `rating-tech build --key-file` writes it, without building one: for
the collector's tests, which never check the signature's key, only that there is one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def make_release(folder: Path, version: str = "0.2.0", board: str = "virtual",
                 files: dict[str, bytes] | None = None) -> Path:
    files = files if files is not None else {"app.mpy": b"M\x06app" * 100, "main.py": b"import app\n"}
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    manifest = {"version": version, "mpy_cross": "mpy-cross v1.29", "board": board,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / "manifest.sig").write_text("ab" * 32 + "\n")
    return folder
