"""Alerts recorded and delivered: a real SMTP server (aiosmtpd, STARTTLS required) and a real HTTP
receiver that checks the HMAC signature, both on ports the system gives. Failures are retried with
backoff and visible on the delivery rows, then delivered when the channel is back; an alert failure
never fails the press that set it off. The presses go through the real check and store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from collector.alerts import rules
from collector.alerts.deliver import channels_from
from collector.alerts.mail import Mailer
from collector.alerts.service import FAILURES, AlertService
from collector.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook, signature, verify
from collector.clock import utc_ms
from collector.db import make_engine, session_scope
from collector.messages import Inbound, check
from collector.models import Alert, AlertDelivery, Press
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.mail import Clock, Inbox, make_certificate, running_smtp_server

TZ = "Asia/Ho_Chi_Minh"
MONDAY_9 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 09:00 local, office hours
SECRET = b"a webhook secret of the test, 32b"


# --- a real SMTP server and a real webhook receiver ------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    return make_certificate(tmp_path / "smtp.pem")


@pytest.fixture
def smtp_server(certificate: Path) -> Iterator[tuple[Inbox, int]]:
    with running_smtp_server(certificate) as server:
        yield server


class Receiver:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.failing = False


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not verify(SECRET, self.headers.get(TIMESTAMP_HEADER, ""), body, self.headers.get(SIGNATURE_HEADER, "")):
                receiver.bad_signatures += 1
                self.send_response(401)
            elif receiver.failing:
                self.send_response(503)
            else:
                receiver.events.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()
        server.server_close()


# --- the collector's side, on a real database ------------------------------------------------------


def settings_for(smtp_port: int, cafile: Path, webhook_url: str, tmp_path: Path, **more: Any) -> Settings:
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_bytes(SECRET)
    return Settings(data_dir=tmp_path, alert_smtp_host="127.0.0.1", alert_smtp_port=smtp_port,
                    alert_smtp_cafile=cafile, alert_mail_to="supervisor@example.org, director@example.org",
                    alert_webhook_url=webhook_url, alert_webhook_secret_file=secret_file, alert_retry_s=30,
                    **more)


def store_presses(engine: Any, service: AlertService, at: datetime, levels: list[int], first_seq: int = 1,
                  box: str = "box-017") -> int:
    """Press payloads as a box sends them, through the real check and store; the alerts hook as ingest
    calls it. The number stored."""
    items = []
    for n, level in enumerate(levels):
        body = {"v": 1, "box": box, "counter": "17", "seq": first_seq + n, "boot": 1, "up": 1000 + n,
                "t": utc_ms(at) + n, "clock": "sync", "scale": "sat2", "level": level, "flags": [], "fw": "0.1.0"}
        items.append(check(Inbound(f"rating/{box}/press", json.dumps(body).encode(), at + timedelta(seconds=1))))
    with session_scope(engine) as session:
        result = store_batch(session, items, TZ)
    service.presses_stored(result.new_presses)
    return result.stored


def deliveries(engine: Any) -> list[AlertDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(AlertDelivery).order_by(col(AlertDelivery.id))).all())


def test_a_fired_alert_is_mailed_over_starttls_and_posted_signed(
    registered: Any, smtp_server: tuple[Inbox, int], certificate: Path, webhook_receiver: tuple[Receiver, str],
    tmp_path: Path,
) -> None:
    inbox, port = smtp_server
    receiver, url = webhook_receiver
    clock = Clock(MONDAY_9)
    service = AlertService(settings_for(port, certificate, url, tmp_path), registered, clock=clock)
    service.load()
    assert store_presses(registered, service, MONDAY_9, [0, 0, 1, 0]) == 4  # 3 of 4 unsatisfied
    service.step()

    with Session(registered) as session:
        alert = session.exec(select(Alert)).one()
    assert (alert.rule, alert.subject, alert.counter, alert.cleared_at) == (rules.UNHAPPY_WINDOW, "counter:17", "17", None)
    assert alert.fired_at == MONDAY_9 and alert.value == 0.75
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["X-Over-TLS"] == "yes"
    assert "counter:17" in mail["Subject"] and mail["To"] == "supervisor@example.org, director@example.org"
    assert "3 of 4 ratings unsatisfied" in mail.get_content()
    assert "30/11/2026 09:00 (Asia/Ho_Chi_Minh)" in mail.get_content()  # 02:00 UTC, shown in the center's zone
    assert "Nhiều đánh giá không hài lòng" in mail["Subject"]
    assert [(e["event"], e["rule"], e["counter"], e["id"]) for e in receiver.events] == [
        ("fired", rules.UNHAPPY_WINDOW, "17", alert.id)]
    assert receiver.bad_signatures == 0
    assert {(d.channel, d.event, d.attempts, d.last_error) for d in deliveries(registered)} == {
        ("email", "fired", 1, None), ("webhook", "fired", 1, None)}
    assert all(d.delivered_at == MONDAY_9 for d in deliveries(registered))

    # more bad ratings: the same alert, nothing sent again
    store_presses(registered, service, MONDAY_9 + timedelta(minutes=2), [0, 0], first_seq=5)
    service.step()
    assert len(inbox.messages) == 1 and len(receiver.events) == 1

    # calm for 15 minutes (window empty) and 30 more (hysteresis): cleared, and that is sent too
    clock.now = MONDAY_9 + timedelta(minutes=20)
    service.step(force_tick=True)
    clock.now = MONDAY_9 + timedelta(minutes=51)
    service.step(force_tick=True)
    assert [e["event"] for e in receiver.events] == ["fired", "cleared"]
    assert receiver.events[1]["cleared_at"] == clock.now.isoformat()
    assert "Cleared" in inbox.messages[1]["Subject"]


def test_failing_smtp_and_webhook_are_retried_visibly_then_delivered(
    registered: Any, smtp_server: tuple[Inbox, int], certificate: Path, webhook_receiver: tuple[Receiver, str],
    tmp_path: Path,
) -> None:
    inbox, port = smtp_server
    receiver, url = webhook_receiver
    inbox.failing = receiver.failing = True
    clock = Clock(MONDAY_9)
    service = AlertService(settings_for(port, certificate, url, tmp_path), registered, clock=clock)
    service.load()
    store_presses(registered, service, MONDAY_9, [0, 0, 0, 0])
    service.step()
    failed = {d.channel: d for d in deliveries(registered)}
    assert failed["email"].attempts == 1 and "451" in (failed["email"].last_error or "")
    assert failed["webhook"].attempts == 1 and "503" in (failed["webhook"].last_error or "")
    assert all(d.delivered_at is None and d.next_attempt_at == MONDAY_9 + timedelta(seconds=30)
               for d in failed.values())

    clock.now = MONDAY_9 + timedelta(seconds=10)  # not due yet: no attempt
    service.step()
    assert inbox.refused == 1 and [d.attempts for d in deliveries(registered)] == [1, 1]
    clock.now = MONDAY_9 + timedelta(seconds=31)  # due, still failing: backs off to 60 s
    service.step()
    assert inbox.refused == 2
    assert all(d.attempts == 2 and d.next_attempt_at == clock.now + timedelta(seconds=60) for d in deliveries(registered))

    inbox.failing = receiver.failing = False  # back
    clock.now += timedelta(seconds=61)
    service.step()
    assert len(inbox.messages) == 1 and [e["event"] for e in receiver.events] == ["fired"]
    assert all(d.attempts == 3 and d.delivered_at == clock.now and d.last_error is None
               for d in deliveries(registered))


def test_an_smtp_server_that_is_not_there_is_retried_too(registered: Any, refusing_port: int, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, alert_smtp_host="127.0.0.1", alert_smtp_port=refusing_port,
                        alert_mail_to="supervisor@example.org")
    clock = Clock(MONDAY_9)
    service = AlertService(settings, registered, clock=clock)
    service.load()
    store_presses(registered, service, MONDAY_9, [0, 0, 0, 0])
    service.step()
    (delivery,) = deliveries(registered)
    assert delivery.delivered_at is None and delivery.attempts == 1
    assert "ConnectionRefusedError" in (delivery.last_error or "")


def test_an_alert_failure_neither_loses_nor_fails_the_press(registered: Any, tmp_path: Path) -> None:
    service = AlertService(Settings(data_dir=tmp_path), registered, clock=Clock(MONDAY_9), channels={})

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug in a rule")

    service.evaluator.presses_stored = broken  # type: ignore[method-assign,assignment]
    before = FAILURES.labels(stage="evaluate")._value.get()
    assert store_presses(registered, service, MONDAY_9, [0, 0, 0, 0]) == 4  # the hook does not raise
    assert FAILURES.labels(stage="evaluate")._value.get() == before + 1
    with Session(registered) as session:
        assert len(session.exec(select(Press)).all()) == 4
        assert session.exec(select(Alert)).all() == []


def test_the_webhook_signature_verifies_and_a_forged_or_stale_one_does_not() -> None:
    body = b'{"v":1,"event":"fired"}'
    signed = signature(SECRET, "1764468000", body)
    assert signed.startswith("sha256=") and len(signed) == 7 + 64
    assert verify(SECRET, "1764468000", body, signed, now=1764468000 + 10)
    assert not verify(SECRET, "1764468000", body + b" ", signed, now=1764468000)  # body changed
    assert not verify(b"another secret of 32 bytes......", "1764468000", body, signed, now=1764468000)
    assert not verify(SECRET, "1764468001", body, signed, now=1764468000)  # timestamp changed
    assert not verify(SECRET, "1764468000", body, signed, now=1764468000 + 301)  # a replay, too late
    assert not verify(SECRET, "soon", body, signed)


def test_channels_come_from_the_settings(tmp_path: Path) -> None:
    assert channels_from(Settings(data_dir=tmp_path)) == {}
    (tmp_path / "short").write_bytes(b"short")
    with pytest.raises(ValueError, match="shorter than 16 bytes"):
        channels_from(Settings(data_dir=tmp_path, alert_webhook_url="http://x", alert_webhook_secret_file=tmp_path / "short"))
    with pytest.raises(ValueError, match="SECRET_FILE"):
        channels_from(Settings(data_dir=tmp_path, alert_webhook_url="http://x"))
    found = channels_from(settings_for(25, tmp_path / "ca.pem", "http://127.0.0.1:9/x", tmp_path), publish=print)
    assert sorted(found) == ["email", "mqtt", "webhook"]
    assert isinstance(found["email"], Mailer) and isinstance(found["webhook"], Webhook)


# --- end to end: boxes -> Mosquitto -> the collector process -> SMTP, webhook, MQTT ------------------


def test_alerts_through_the_real_pipeline_reach_the_mailbox_the_webhook_and_mqtt(
    broker: Any, collector_process: Any, wait_for: Any, smtp_server: tuple[Inbox, int], certificate: Path,
    webhook_receiver: tuple[Receiver, str], stack_dir: Path,
) -> None:
    inbox, port = smtp_server
    receiver, url = webhook_receiver
    secret_file = stack_dir / "secrets" / "alert-webhook.secret"
    secret_file.write_bytes(SECRET)
    watcher = broker.client("collector", broker.collector_password)  # its account may read the alert topic
    heard: list[tuple[str, bytes]] = []
    watcher.on_message = lambda _c, _u, message: heard.append((message.topic, bytes(message.payload)))
    watcher.subscribe([("rating/alerts/#", 1), ("rating/box-018/status", 1)])
    collector = collector_process(
        office_hours="00:00-24:00", office_days="mon,tue,wed,thu,fri,sat,sun", alert_tick_s=0.3,
        alert_rules=json.dumps({"*": {"day_min_ratings": 4, "suppressed_burst": 3, "outbox_above": 40,
                                      "offline_min": 0, "silent_office_min": None}}),
        alert_smtp_host="127.0.0.1", alert_smtp_port=port, alert_smtp_cafile=certificate,
        alert_mail_to="supervisor@example.org", alert_webhook_url=url, alert_webhook_secret_file=secret_file)

    box17 = broker.client("box-017", broker.add_box("box-017"))
    box18 = broker.client("box-018", broker.add_box("box-018"))
    # a box may not publish an alert: the broker drops it (the status after it shows it would have come)
    broker.publish(box18, "rating/alerts/default", {"v": 1, "event": "fired", "rule": "forged"})
    status = {"v": 1, "box": "box-018", "counter": "18", "boot": 1, "up": 60_000, "fw": "0.1.0", "reset": "power_on",
              "rssi": -60, "heap_free": 70_000, "outbox": 55, "presses": 80, "clock": "sync", "err": None}
    broker.publish(box18, "rating/box-018/status", status, qos=0)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    for seq in range(1, 5):  # 4 unsatisfied at counter 17: the window and the day's rate
        broker.publish(box17, "rating/box-017/press", {"v": 1, "box": "box-017", "counter": "17", "seq": seq,
                                                        "boot": 1, "up": 1000 + seq, "t": now_ms + seq, "clock": "sync",
                                                        "scale": "sat2", "level": 0, "flags": [], "fw": "0.1.0"})
    for seq in range(5, 8):  # mashed: suppressed by the box
        broker.publish(box17, "rating/box-017/press", {"v": 1, "box": "box-017", "counter": "17", "seq": seq,
                                                        "boot": 1, "up": 1000 + seq, "t": now_ms + seq, "clock": "sync",
                                                        "scale": "sat2", "level": 1, "flags": ["suppressed"],
                                                        "fw": "0.1.0"})
    broker.publish(box18, "rating/box-018/presence", {"v": 1, "box": "box-018", "counter": "18", "state": "offline",
                                                       "boot": 1, "fw": "0.1.0"})
    expected = {"unhappy_window", "day_rate", "suppressed_burst", "outbox_growing", "box_offline"}

    def mailed() -> set[str]:
        return {rule for rule in expected for mail in inbox.messages if f"rule {rule}" in mail.get_content()}

    wait_for(lambda: mailed() == expected, timeout=30, what=f"a mail per rule {expected}, got {mailed()}")
    wait_for(lambda: {e["rule"] for e in receiver.events} == expected, timeout=10, what="the webhook's events")
    wait_for(lambda: {e["rule"] for e in [json.loads(p) for t, p in heard if t == "rating/alerts/default"]}
             == expected, timeout=10, what="the alerts on MQTT")
    alert_messages = [json.loads(payload) for topic, payload in heard if topic.startswith("rating/alerts/")]
    assert "forged" not in {e["rule"] for e in alert_messages}
    assert any(topic == "rating/box-018/status" for topic, _ in heard)
    assert receiver.bad_signatures == 0 and all(mail["X-Over-TLS"] == "yes" for mail in inbox.messages)

    with Session(make_engine(collector.db_url)) as session:
        assert {a.rule for a in session.exec(select(Alert)).all()} == expected
        assert all(d.delivered_at is not None for d in session.exec(select(AlertDelivery)).all())
        assert len(session.exec(select(Press)).all()) == 7  # every press stored


def test_a_restart_carries_on_the_windows_and_does_not_fire_an_active_alert_again(registered: Any,
                                                                                   tmp_path: Path) -> None:
    clock = Clock(MONDAY_9)
    first = AlertService(Settings(data_dir=tmp_path), registered, clock=clock, channels={})
    first.load()
    store_presses(registered, first, MONDAY_9, [0, 0, 0])  # 3 unsatisfied: one rating short
    first.step()
    clock.now = MONDAY_9 + timedelta(minutes=1)
    restarted = AlertService(Settings(data_dir=tmp_path), registered, clock=clock, channels={})
    restarted.load()
    store_presses(registered, restarted, clock.now, [0], first_seq=4)  # the 4th, after the restart
    restarted.step()
    with Session(registered) as session:
        assert [a.rule for a in session.exec(select(Alert)).all()] == [rules.UNHAPPY_WINDOW]
    again = AlertService(Settings(data_dir=tmp_path), registered, clock=clock, channels={})
    again.load()  # the same window, the alert active: nothing new
    store_presses(registered, again, clock.now, [0], first_seq=5)
    again.step()
    with Session(registered) as session:
        assert len(session.exec(select(Alert)).all()) == 1
