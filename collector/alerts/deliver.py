"""Send the deliveries that are due, each on its channel; a failure is written on its row (attempts,
last error) and tried again later, backing off. Nothing is dropped: a delivery stays until it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from collector.alerts import store
from collector.alerts.mail import Mailer
from collector.alerts.publish import MqttChannel
from collector.alerts.webhook import Webhook
from collector.db import session_scope
from collector.settings import Settings

log = logging.getLogger("collector.alerts")


class Channel(Protocol):
    def send(self, event: dict[str, Any]) -> None: ...


def channels_from(settings: Settings, publish: Any = None) -> dict[str, Channel]:
    """The channels the settings configure (and MQTT when there is a connection to publish on)."""
    channels: dict[str, Channel] = {}
    recipients = tuple(r.strip() for r in settings.alert_mail_to.split(",") if r.strip())
    if settings.alert_smtp_host and recipients:
        channels["email"] = Mailer(settings.alert_smtp_host, settings.alert_smtp_port, settings.alert_mail_from,
                                   recipients, settings.alert_smtp_starttls, settings.alert_smtp_user,
                                   settings.alert_smtp_password_file, settings.alert_smtp_cafile,
                                   settings.timezone)
    if settings.alert_webhook_url:
        if settings.alert_webhook_secret_file is None:
            raise ValueError("RATING_ALERT_WEBHOOK_URL needs RATING_ALERT_WEBHOOK_SECRET_FILE (the HMAC key)")
        secret = settings.alert_webhook_secret_file.read_bytes().strip()
        if len(secret) < 16:
            raise ValueError(f"the webhook secret in {settings.alert_webhook_secret_file} is shorter than 16 bytes")
        channels["webhook"] = Webhook(settings.alert_webhook_url, secret)
    if settings.alert_mqtt and publish is not None:
        channels["mqtt"] = MqttChannel(publish)
    return channels


def deliver_due(engine: Engine, channels: Mapping[str, Channel], clock: Callable[[], datetime],
                retry_after: timedelta) -> int:
    """Try every due delivery once; the number delivered."""
    with session_scope(engine) as session:
        due = [(delivery.id, delivery.channel, store.event_payload(alert, delivery.event))
               for delivery, alert in store.due_deliveries(session, clock())]
    delivered = 0
    for delivery_id, name, event in due:
        assert delivery_id is not None
        channel = channels.get(name)
        error: str | None = None
        if channel is None:
            error = f"channel {name} is not configured any more"
        else:
            try:
                channel.send(event)
            except Exception as failure:  # noqa: BLE001  (any failure of a channel is retried)
                error = f"{type(failure).__name__}: {failure}"
                log.warning("alert %s (%s) not delivered by %s: %s", event["id"], event["event"], name, error)
        with session_scope(engine) as session:
            store.attempted(session, delivery_id, clock(), error, retry_after)
        delivered += error is None
    return delivered
