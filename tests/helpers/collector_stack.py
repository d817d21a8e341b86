"""A broker and a collector serving HTTP, made once for a whole test module (the conftest's `broker`
and `collector_process` are made per test): for tests that ask the collector's API many times, as
rating-tech's fleet, retire and label commands do."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.broker import COLLECTOR_USER, set_passwords
from tests.helpers.broker import BrokerHandle, start_broker
from tests.helpers.collector import CollectorProcess, launch_collector
from tests.helpers.registry import TEST_REGISTRY, load_registry_into


@dataclass
class Stack:
    data_dir: Path
    broker: BrokerHandle
    collector: CollectorProcess

    def token_file(self, role: str) -> Path:
        """A file holding a new token of this role (as a technician keeps one, mode 0600)."""
        path = self.data_dir / "secrets" / f"{role}-token"
        if not path.exists():
            path.write_text(self.collector.token(role) + "\n", encoding="utf-8")
            path.chmod(0o600)
        return path


@contextmanager
def collector_stack(registry: dict[str, Any] | None = None, **env: Any) -> Iterator[Stack]:
    """Mosquitto and `python -m collector serve` (HTTP on a port of its own) on a fresh data folder
    with `registry` (default TEST_REGISTRY) loaded; both stopped at the end."""
    from collector.cli import ensure_password_file

    # Not under pytest's tmp_path: Mosquitto started as root drops to 'mosquitto', which must read it.
    root = Path(tempfile.mkdtemp(prefix="rating-stack-"))
    root.chmod(0o755)
    data = root / "data"
    (data / "secrets").mkdir(parents=True)
    data.chmod(0o755)
    broker: Any = None
    collector: CollectorProcess | None = None
    try:
        password_file = data / "secrets" / "mqtt-collector.password"
        ensure_password_file(password_file)
        password = password_file.read_text().strip()
        set_passwords(data / "broker", {COLLECTOR_USER: password})
        broker = start_broker(data / "broker")
        handle = BrokerHandle(broker, data, password)
        url = f"sqlite:///{data / 'collector.sqlite3'}"
        load_registry_into(url, registry or TEST_REGISTRY, root)
        collector = launch_collector(url, data, handle, root / "collector.log", **env)
        collector.wait_ready()
        yield Stack(data, handle, collector)
        for client in handle.clients:
            client.disconnect()
            client.loop_stop()
    finally:
        if collector is not None:
            collector.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(root, ignore_errors=True)
