import json
import socket
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from collector.broker import Broker, set_passwords
from simulator.box import VirtualBox, make_config

WATCHER = "collector"  # the ACL lets this account read rating/+/press


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workdir():
    # Mosquitto drops to its own user when started as root: its folder's parents must be traversable.
    d = Path(tempfile.mkdtemp(prefix="simtest-"))
    d.chmod(0o755)
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def broker(workdir):
    port = free_port()
    set_passwords(workdir / "broker", {WATCHER: "watcher-pw"})
    with Broker(workdir / "broker", port=port) as b:
        yield b


class Watcher:
    """A paho subscriber collecting every message on rating/+/press."""

    def __init__(self, port: int):
        self.messages: list[dict] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sim-test-watcher")
        self.client.username_pw_set(WATCHER, "watcher-pw")
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
    w = Watcher(broker.port)
    yield w
    w.close()


@pytest.fixture
def vbox(broker, workdir):
    set_passwords(broker.broker_dir, {"box-17": "box17-pw"})
    broker.reload()
    box = VirtualBox(make_config("box-17", "17", password="box17-pw", broker_port=broker.port), workdir / "box-17")
    with box:
        yield box
