"""`python -m simulator blank-box`: a blank virtual box (MicroPython, empty flash) to try provisioning
on, started and stopped as a technician would, and provisioned with the installed rating-tech."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import REPO


def read_lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def test_blank_box_is_provisioned_and_stops(tech: Any, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "blank-box"], cwd=REPO,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    said: list[str] = []
    port = ""
    try:
        while not said or "Ctrl-C stops it" not in said[-1]:
            try:
                said.append(lines.get(timeout=30))
            except queue.Empty:
                pytest.fail(f"blank-box did not say it runs: {''.join(said)!r}")
        found = re.search(r"^port: (socket://127\.0\.0\.1:\d+)$", "".join(said), re.MULTILINE)
        assert found is not None, said
        port = found.group(1)
        assert f"rating-tech provision {port} --counter N" in "".join(said), said

        checked = tech("check", "--no-reset", port)
        assert checked.exit_code == 0 and "missing (blank box)" in checked.stdout, checked.output
        done = tech("provision", port, "--counter", "17")
        assert done.exit_code == 0, done.output
        assert "box-017 is online at counter 17" in done.stdout
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, "".join(said)
    repl_port = int(port.rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", repl_port), timeout=2):
        pass  # its console is gone with it
