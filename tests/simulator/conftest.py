"""The simulator's fixtures, on top of tests/conftest.py's real Mosquitto (`broker`) and
collector (`collector_process`)."""

import shutil
import tempfile
from pathlib import Path

import pytest

from simulator.box import VirtualBox
from tests.helpers.simulator import Watcher, box_config


@pytest.fixture
def workdir():
    # Not under tmp_path (0700 for root): the boxes' folders sit beside the broker's.
    d = Path(tempfile.mkdtemp(prefix="simtest-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def watcher(broker):
    w = Watcher(broker.port, broker.collector_password)
    yield w
    w.close()


@pytest.fixture
def vbox(broker, workdir):
    with VirtualBox(box_config(broker), workdir / "box-17") as box:
        yield box
