"""A real Mosquitto, configured by collector.broker, for the tests."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from collector.broker import BOX_PATTERN, Broker, BrokerError, add_box
from tests.helpers.ports import PortTaken, log_since, log_size, on_a_free_port, port_taken


def start_broker(broker_dir: Path, **options: Any) -> Broker:
    """A running Broker (collector.broker's configuration) in broker_dir on a free port; options go
    to Broker(). Stop it with .stop()."""

    def start(port: int) -> Broker:
        instance = Broker(broker_dir, port=port, **options)
        offset = log_size(instance.log_path)
        try:
            return instance.start()
        except BrokerError as error:
            if port_taken(port, f"{error}\n{log_since(instance.log_path, offset)}"):
                raise PortTaken(str(error)) from None
            raise

    return on_a_free_port(start)


@dataclass
class BrokerHandle:
    broker: Broker
    data_dir: Path
    collector_password: str
    clients: list[mqtt.Client] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.broker.host

    @property
    def port(self) -> int:
        return self.broker.port

    def add_box(self, box: str, password: str = "box-password") -> str:
        """An account for `box` with this password, made by collector.broker.add_box as
        `rating-collector broker add-box` makes it (bound to its box id), then the broker reloaded."""
        add_box(self.broker.broker_dir, box, password=password)
        self.broker.reload()
        return password

    def client(self, username: str, password: str, client_id: str | None = None, timeout: float = 10) -> mqtt.Client:
        """A connected paho client (network loop running); disconnected at teardown. A box account
        connects as the firmware does, with its box id as client id (the only one it may use)."""
        if client_id is None:
            client_id = username if BOX_PATTERN.match(username) else f"test-{uuid.uuid4().hex[:8]}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        client.username_pw_set(username, password)
        connected: list[Any] = []
        client.on_connect = lambda c, u, f, rc, p: connected.append(rc)
        # The broker re-reads its password file on SIGHUP asynchronously: retry refused connects.
        deadline = time.monotonic() + timeout
        client.connect(self.host, self.port)
        client.loop_start()
        while not (connected and not connected[-1].is_failure):
            if time.monotonic() > deadline:
                client.loop_stop()
                pytest.fail(f"{username} could not connect to the test broker: {connected}")
            if connected and connected[-1].is_failure:
                connected.clear()
                client.reconnect()
            time.sleep(0.02)
        self.clients.append(client)
        return client

    def publish(self, client: mqtt.Client, topic: str, payload: bytes | str | dict, qos: int = 1) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        client.publish(topic, payload, qos=qos).wait_for_publish(10)
