"""Helpers of the technician's tests: `rating-tech` run as a technician runs it (fixtures are in
tests/technician/conftest.py)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.box import VirtualBox


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


RATING_TECH = Path(sys.executable).parent / "rating-tech"


class Tech:
    """Runs the installed `rating-tech` as a technician does: a process of its own, in a folder of
    its own (`cwd`, where ./technician.env is looked for), with a clean environment (PATH, HOME and
    the settings given), nothing inherited from the test process."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, timeout: float = 180, **env: str) -> Ran:
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.cwd), "COLUMNS": "200",
                       **self.env, **env}
        done = subprocess.run([str(RATING_TECH), *args], cwd=self.cwd, env=environment, capture_output=True,
                              text=True, timeout=timeout, check=False)
        return Ran(done.returncode, done.stdout, done.stderr)


class TechInProcess(Tech):
    """`rating-tech` called in this process, for the few tests that change a module's constant."""

    def __call__(self, *args: str, timeout: float = 180, **env: str) -> Ran:
        from typer.testing import CliRunner

        from technician.cli import app

        saved = dict(os.environ)
        os.environ.update(self.env)
        os.environ.update(env)
        try:
            result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Ran(result.exit_code, result.output, "")


def port_of(box: VirtualBox) -> str:
    return f"socket://127.0.0.1:{box.repl_port}"


def presence_of(broker: Any, box: str) -> dict[str, Any]:
    """The retained presence of a box, as any subscriber sees it."""
    client = broker.client("collector", broker.collector_password)
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    client.on_message = lambda c, u, m: got.put(json.loads(m.payload))
    client.subscribe(f"rating/{box}/presence", qos=1)
    return got.get(timeout=5)
