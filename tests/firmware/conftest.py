"""Fixtures of the firmware tests; the helpers live in fwtools.py (a unique module name: tests/
has other conftest.py files)."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fwtools import BOX_PASSWORDS, listener, make_box, sntp

from collector.broker import BOX_PATTERN, Broker, add_box, set_passwords
from tests.helpers.broker import start_broker

__all__ = ["listener", "make_box", "mosquitto", "sntp"]


@pytest.fixture
def mosquitto() -> Iterator[Broker]:
    """A real Mosquitto with the boxes' and the collector's accounts (fwtools.BOX_PASSWORDS)."""
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
