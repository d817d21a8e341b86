"""The collector as a process (`python -m collector serve`), as the tests start it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.broker import BrokerHandle
from tests.helpers.paths import REPO
from tests.helpers.waiting import wait_until

# What uvicorn logs once it listens; with port 0 it names the port the system gave it.
LISTENING = re.compile(r"Uvicorn running on (http://\S+:\d+)")


@dataclass
class CollectorProcess:
    process: subprocess.Popen[bytes]
    db_url: str
    env: dict[str, str]
    log_path: Path
    url: str = ""  # known once it listens
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str = "viewer") -> str:
        if role not in self.tokens:
            from collector.auth import create_token
            from collector.db import make_engine, session_scope

            engine = make_engine(self.db_url)
            with session_scope(engine) as session:
                self.tokens[role] = create_token(session, name=f"test-{role}-{uuid.uuid4().hex[:6]}", role=role)
            engine.dispose()
        return self.tokens[role]

    def get(self, path: str, role: str | None = "viewer", **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(role)}"} if role else {}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=10)

    def metric(self, name: str) -> float:
        """Sum of a Prometheus sample over its labels (0 when absent)."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, the graceful stop; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"collector ignored SIGTERM for {timeout} s:\n{self.log()[-3000:]}")
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: a crash; nothing gets a chance to ack."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def wait_ready(self) -> None:
        """Wait until it listens (learning its URL from its log) and answers /healthz; fail the test
        if it exits first."""

        def running() -> None:
            if self.process.poll() is not None:
                pytest.fail(f"collector exited with {self.process.returncode}:\n{self.log()[-3000:]}")

        def listening() -> str | None:
            running()
            found = LISTENING.search(self.log())
            return found.group(1) if found else None

        def ready() -> bool:
            running()
            return self.healthy()

        self.url = wait_until(listening, timeout=30, interval=0.05, what="the collector's HTTP port in its log")
        wait_until(ready, timeout=30, interval=0.05, what="collector /healthz")


def launch_collector(db_url: str, data_dir: Path, broker: BrokerHandle, log_path: Path, **env: Any) -> CollectorProcess:
    """Start `python -m collector serve` on the database db_url, against the broker, with data_dir as
    its data folder and each setting k=v of env as RATING_<K>=v; its output goes to
    log_path. Not yet ready: call .wait_ready()."""
    environment = {
        **os.environ,
        "RATING_DATA_DIR": str(data_dir),
        "RATING_DATABASE_URL": db_url,
        "RATING_MQTT_HOST": broker.host,
        "RATING_MQTT_PORT": str(broker.port),
        # Port 0: the collector binds a port of its own and logs it, so no other process can
        # take it between a choice made here and the collector's bind.
        "RATING_HTTP_PORT": "0",
    }
    environment.update({f"RATING_{k.upper()}": str(v) for k, v in env.items()})
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "collector", "serve"], env=environment, cwd=REPO,
                                   stdout=log, stderr=subprocess.STDOUT)
    return CollectorProcess(process, db_url, environment, log_path)
