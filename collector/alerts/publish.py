"""Alerts on MQTT: rating/alerts/<site> (QoS 1, not retained), through the collector's own
connection. The broker's ACL lets the collector account write there and no box (collector.broker)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.contract import topics

NO_SITE = "default"  # the topic of alerts at departments without a site
WAIT_S = 10.0


def alert_topic(site: str | None) -> str:
    # A site code is registry text; a topic level must not hold MQTT's separators or wildcards.
    level = "".join("_" if ch in "/+#\x00" else ch for ch in (site or NO_SITE))
    return f"{topics()['root']}/alerts/{level}"


@dataclass(frozen=True)
class MqttChannel:
    publish: Callable[[str, bytes, int], Any]  # paho's Client.publish: (topic, payload, qos) -> MQTTMessageInfo

    def send(self, event: dict[str, Any]) -> None:
        info = self.publish(alert_topic(event["site"]), orjson.dumps(event), 1)
        info.wait_for_publish(WAIT_S)  # raises when not connected; the delivery is retried
        if not info.is_published():
            raise RuntimeError("the broker did not acknowledge the alert in time")
