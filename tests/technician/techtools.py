"""Helpers for the technician's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from simulator.box import FLASH_BLOCKS, VirtualBox


class BlankBox(VirtualBox):
    """A virtual box whose flash holds nothing (or only `extra_files`): MicroPython and no firmware.
    boot.py's `import main` fails and the box sits at the REPL, like a freshly flashed ESP32."""

    def write_flash(self) -> None:
        with tempfile.TemporaryDirectory() as staging:
            for name, data in self.extra_files.items():
                (Path(staging) / name).write_bytes(data)
            self._flashtool("mkfs", str(self.image), str(FLASH_BLOCKS), staging)


class Tech:
    """Runs `rating-tech` in-process with the given environment."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __call__(self, *args: str, **env: str) -> Any:
        from technician.cli import app

        saved = dict(os.environ)
        os.environ.update(self.env)
        os.environ.update(env)
        try:
            return CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def port_of(box: VirtualBox) -> str:
    return f"socket://127.0.0.1:{box.repl_port}"
