"""A blank virtual box: the MicroPython unix port with an empty flash (or only some given files) and
no firmware, as an ESP32 is right after MicroPython was flashed onto it. boot.py's `import main`
fails and the box sits at its REPL, where `rating-tech provision socket://127.0.0.1:<repl_port>`
finds it (`python -m simulator blank-box` starts one)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from simulator.box import FLASH_BLOCKS, VirtualBox, make_config


class BlankBox(VirtualBox):
    """A virtual box whose flash holds nothing (or only `extra_files`): MicroPython and no firmware.
    Its config.json is whatever a technician writes onto it; the host never writes one."""

    def write_flash(self) -> None:
        with tempfile.TemporaryDirectory() as staging:
            for name, data in self.extra_files.items():
                (Path(staging) / name).write_bytes(data)
            self._flashtool("mkfs", str(self.image), str(FLASH_BLOCKS), staging)

    def _put_config(self) -> None:
        """A restarted box keeps the config.json provisioning gave it (a VirtualBox rewrites its own
        config with its new relay ports)."""


def blank_box(workdir: Path, *, repl_port: int = 0, name: str = "blank",
              extra_files: dict[str, bytes] | None = None) -> BlankBox:
    """A blank box (not started). Its config here only names it: the broker address and port a
    provisioned box uses are the ones rating-tech writes into its config.json."""
    return BlankBox(make_config(f"box-{name}", "0", password="-"), workdir, repl_port=repl_port,
                    extra_files=extra_files)
