"""The simulator's fixtures, on top of tests/conftest.py's real Mosquitto (`broker`) and
collector (`collector_process`)."""

import json
import shutil
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from simtools import box_config

from simulator.box import VirtualBox


@pytest.fixture
def workdir():
    # Not under tmp_path (0700 for root): the boxes' folders sit beside the broker's.
    d = Path(tempfile.mkdtemp(prefix="simtest-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Watcher:
    """A paho subscriber (the collector's account) collecting every message on rating/+/press."""

    def __init__(self, port: int, password: str):
        self.messages: list[dict] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sim-test-watcher")
        self.client.username_pw_set("collector", password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("rating/+/press", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(json.loads(msg.payload))
            self.cond.notify_all()

    def wait(self, count: int, timeout: float) -> list[dict]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def watcher(broker):
    w = Watcher(broker.port, broker.collector_password)
    yield w
    w.close()



@pytest.fixture
def vbox(broker, workdir):
    with VirtualBox(box_config(broker), workdir / "box-17") as box:
        yield box
