"""Watching the broker for boxes' presence (rating/{box}/presence, retained, QoS 1): is a box id
already in use somewhere, and did a freshly provisioned box come online as it should."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Self

import paho.mqtt.client as mqtt

from schemas.contract import box_topic


class BrokerUnreachable(RuntimeError):
    pass


@dataclass
class Presence:
    payload: dict[str, Any]
    retained: bool
    at: float  # time.monotonic() when it arrived

    @property
    def online(self) -> bool:
        return self.payload.get("state") == "online"


class BrokerWatch:
    """A clean-session paho client with its own random client id (it never takes over the
    collector's persistent session, even when it logs in with the collector's account)."""

    def __init__(self, host: str, port: int, username: str, password: str, *, timeout: float = 5.0):
        self.host, self.port = host, port
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"rating-tech-{uuid.uuid4().hex[:8]}",
                                  clean_session=True)
        self.client.username_pw_set(username, password)
        self._connected = threading.Event()
        self._result: Any = None
        self._subacked: set[int] = set()
        self._cond = threading.Condition()
        self.messages: dict[str, queue.Queue[Presence]] = {}
        self._retained: dict[str, Presence] = {}
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.timeout = timeout

    def connect(self) -> Self:
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except OSError as error:
            raise BrokerUnreachable(f"broker {self.host}:{self.port} unreachable: {error.strerror or error}") from None
        self.client.loop_start()
        if not self._connected.wait(self.timeout):
            self.close()
            raise BrokerUnreachable(f"broker {self.host}:{self.port} did not answer within {self.timeout:.0f} s")
        if self._result is not None and self._result.is_failure:
            self.close()
            raise BrokerUnreachable(f"broker {self.host}:{self.port} refused the watching account: {self._result}")
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Self:
        return self if self._connected.is_set() else self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._result = reason
        self._connected.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._cond:  # the SUBACK may come before subscribe() has returned its mid
            self._subacked.add(mid)
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(payload, dict) and msg.topic in self.messages:
            self.messages[msg.topic].put(Presence(payload, bool(msg.retain), time.monotonic()))

    def follow(self, box: str) -> queue.Queue[Presence]:
        """Subscribe to a box's presence; returns the queue its messages arrive in (the retained
        one first, flagged retained)."""
        topic = box_topic("presence", box)
        if topic in self.messages:
            return self.messages[topic]
        self.messages[topic] = queue.Queue()
        result, mid = self.client.subscribe(topic, qos=1)
        with self._cond:
            acked = result == mqtt.MQTT_ERR_SUCCESS and self._cond.wait_for(lambda: mid in self._subacked, self.timeout)
        if not acked:
            raise BrokerUnreachable(f"could not subscribe to {topic} on {self.host}:{self.port}")
        return self.messages[topic]

    def retained(self, box: str, grace: float = 0.5) -> Presence | None:
        """The retained presence of a box (None: the broker never heard of it)."""
        topic = box_topic("presence", box)
        if topic in self._retained:
            return self._retained[topic]
        q = self.follow(box)
        try:
            seen = q.get(timeout=grace)
        except queue.Empty:
            return None
        self._retained[topic] = seen  # asked again later (replace retires it), it is not in the queue any more
        return seen

    def wait_online(self, box: str, counter: str, fw: str, timeout: float) -> Presence:
        """The first live (not retained) 'online' presence of the box; raises TimeoutError, or
        ValueError when the box announces the wrong counter or firmware."""
        q = self.follow(box)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{box} did not come online within {timeout:.0f} s")
            try:
                seen = q.get(timeout=left)
            except queue.Empty:
                continue
            if seen.retained or not seen.online:
                continue
            if seen.payload.get("counter") != counter or seen.payload.get("fw") != fw:
                raise ValueError(
                    f"{box} came online with counter {seen.payload.get('counter')!r} and firmware "
                    f"{seen.payload.get('fw')!r}, expected counter {counter!r} and firmware {fw!r}"
                )
            return seen


def publish_retained(host: str, port: int, username: str, password: str, topic: str, payload: dict[str, Any],
                     *, timeout: float = 10.0) -> None:
    """Publish one retained QoS 1 message as `username`. The broker re-reads its password file a
    moment after the reload that gave the account this password: a refused login is tried again
    until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, clean_session=True)
        client.username_pw_set(username, password)
        answered = threading.Event()
        outcome: list[Any] = []

        def on_connect(c: mqtt.Client, u: Any, f: Any, reason: Any, p: Any, outcome: list[Any] = outcome,
                       answered: threading.Event = answered) -> None:
            outcome.append(reason)
            answered.set()

        client.on_connect = on_connect
        try:
            client.connect(host, port, keepalive=30)
        except OSError as error:
            raise BrokerUnreachable(f"broker {host}:{port} unreachable: {error.strerror or error}") from None
        client.loop_start()
        try:
            if answered.wait(max(0.1, deadline - time.monotonic())) and not outcome[0].is_failure:
                info = client.publish(topic, json.dumps(payload), qos=1, retain=True)
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
                if info.is_published():
                    return
        finally:
            client.disconnect()
            client.loop_stop()
        if time.monotonic() >= deadline:
            raise BrokerUnreachable(f"could not publish {topic} as {username} on {host}:{port}")
        time.sleep(0.1)
