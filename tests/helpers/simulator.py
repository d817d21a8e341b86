"""Helpers of the simulator's tests: virtual boxes (simulator.box) on the test broker, and a
subscriber watching what they publish."""

import json
import threading

import paho.mqtt.client as mqtt

from simulator.box import make_config


def connected(box) -> bool:
    return any("broker: connected" in line for _, line in list(box.lines))


def box_config(broker, box="box-17", counter="17", **timings):
    password = broker.add_box(box, f"{box}-pw")
    return make_config(box, counter, password=password, broker_port=broker.port, timings=timings or None)


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
