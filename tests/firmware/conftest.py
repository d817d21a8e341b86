"""Fixtures of the firmware tests; their helpers live in tests/helpers/firmware.py."""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.broker import BOX_PATTERN, Broker, add_box, set_passwords
from tests.helpers.broker import start_broker
from tests.helpers.firmware import BOX_PASSWORDS, Listener, SntpServer, VirtualBox


@pytest.fixture
def mosquitto() -> Iterator[Broker]:
    """A real Mosquitto with the boxes' and the collector's accounts (tests.helpers.firmware.BOX_PASSWORDS)."""
    # Started as root, mosquitto drops to the 'mosquitto' user, which cannot enter pytest's
    # private tmp_path (mode 700): use a folder it can traverse.
    top = Path(tempfile.mkdtemp(prefix="fw-broker-"))
    os.chmod(top, 0o755)
    boxes = {user: password for user, password in BOX_PASSWORDS.items() if BOX_PATTERN.match(user)}
    set_passwords(top / "broker", {user: pw for user, pw in BOX_PASSWORDS.items() if user not in boxes})
    for box, password in boxes.items():  # as `rating-collector broker add-box` makes them
        add_box(top / "broker", box, password=password)
    broker = start_broker(top / "broker")
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def listener(mosquitto: Broker) -> Iterator[Listener]:
    lst = Listener(mosquitto.port)
    yield lst
    lst.close()


@pytest.fixture
def make_box(tmp_path: Path) -> Iterator[Callable[..., VirtualBox]]:
    boxes: list[VirtualBox] = []

    def make(config: dict[str, Any] | None, name: str = "box", entry: str = "import main") -> VirtualBox:
        b = VirtualBox(tmp_path / name, config, entry)
        boxes.append(b)
        return b

    yield make
    for b in boxes:
        b.kill()


@pytest.fixture
def sntp() -> Iterator[SntpServer]:
    server = SntpServer()
    yield server
    server.close()
