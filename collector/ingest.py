"""MQTT ingest: the broker's messages into the database, each press exactly once.

paho's network thread only enqueues (a slow callback would stall keepalives). One worker thread
takes batches, writes each batch in one transaction and only after the commit acks its messages
(manual acks), so the broker keeps, and after a crash redelivers, whatever is not committed yet.
Redeliveries are harmless: (box, seq) is stored once.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collector import metrics
from collector.clock import utc_ms, utc_now
from collector.db import session_scope
from collector.messages import Checked, Inbound, Rejection, check
from collector.settings import Settings
from collector.store import BatchResult, store_batch
from schemas.contract import topics

log = logging.getLogger("collector.ingest")

# Errors that mean "the database is not reachable right now": retry the same batch, ack nothing.
TRANSIENT_DB_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
MAX_BACKOFF_S = 10.0


def subscriptions(settings: Settings) -> list[tuple[str, int]]:
    box = topics()["box"]
    prefix = f"$share/{settings.share_group}/" if settings.share_group else ""
    return [(prefix + box[kind].replace("{box}", "+"), 1) for kind in ("press", "status", "presence")]


class Ingest:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self.queue: queue.Queue[Inbound] = queue.Queue()
        self.connected = threading.Event()
        self._stopping = threading.Event()
        self._worker_done = threading.Event()
        self._generation = 0  # bumped at each (re)connect; acks of an older connection are skipped
        self._threads: list[threading.Thread] = []
        self.client = self._make_client()

    # --- MQTT side (paho's network thread) ----------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.settings.mqtt_client_id,
            clean_session=False,  # persistent session: the broker queues for us while we are away
            protocol=mqtt.MQTTv311,
        )
        client.username_pw_set(self.settings.mqtt_username, self.settings.mqtt_password())
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=15)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        client.subscribe(subscriptions(self.settings))
        self.connected.set()
        metrics.MQTT_CONNECTED.set(1)
        log.info("connected to %s:%s (session present: %s)", self.settings.mqtt_host, self.settings.mqtt_port,
                 flags.session_present)
        self._publish_clock()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        self.connected.clear()
        metrics.MQTT_CONNECTED.set(0)
        if not self._stopping.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not acked: the broker redelivers it to the next session
        self.queue.put(
            Inbound(
                topic=message.topic,
                payload=bytes(message.payload),
                received_at=utc_now(),
                mid=message.mid,
                qos=message.qos,
                generation=self._generation,
            )
        )

    def _publish_clock(self) -> None:
        payload = json.dumps({"v": 1, "t": utc_ms(utc_now())}, separators=(",", ":"))
        self.client.publish(topics()["clock"], payload, qos=topics()["qos"]["clock"], retain=False)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Ingest:
        self.client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
        self.client.loop_start()
        for target, name in ((self._work, "ingest-worker"), (self._beacon, "clock-beacon")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking messages, store and ack what was taken, then disconnect."""
        self._stopping.set()
        self._worker_done.wait(timeout)
        for thread in self._threads:
            thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()
        metrics.MQTT_CONNECTED.set(0)

    # --- worker ---------------------------------------------------------------------------------

    def _beacon(self) -> None:
        while not self._stopping.wait(self.settings.clock_beacon_s):
            if self.connected.is_set():
                self._publish_clock()

    def _take_batch(self) -> list[Inbound]:
        try:
            batch = [self.queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_max:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _work(self) -> None:
        try:
            while not (self._stopping.is_set() and self.queue.empty()):
                batch = self._take_batch()
                metrics.QUEUE_DEPTH.set(self.queue.qsize() + len(batch))
                delay = 0.5
                while batch:
                    try:
                        self.handle(batch)
                        break
                    except Exception:  # a bug, not bad input: keep the batch (unacked) and try again
                        log.exception("unexpected error handling a batch of %d; retrying in %.1f s", len(batch), delay)
                        if self._stopping.wait(delay):
                            break  # not acked: the broker redelivers it
                        delay = min(delay * 2, MAX_BACKOFF_S)
                metrics.QUEUE_DEPTH.set(self.queue.qsize())
        finally:
            self._worker_done.set()

    def handle(self, batch: Sequence[Inbound]) -> BatchResult | None:
        """Store the batch (retrying while the database is down), then ack it."""
        items = [check(inbound) for inbound in batch]
        result = self._store_with_retry(items)
        if result is None:
            return None  # stopping while the database is down: nothing acked, the broker keeps it all
        for item in items:
            metrics.RECEIVED.labels(kind=item.kind if isinstance(item, Checked) else "invalid").inc()
        generation = self._generation
        for inbound in batch:
            if inbound.qos > 0 and inbound.generation == generation:
                self.client.ack(inbound.mid, inbound.qos)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.STORED.inc(result.stored)
        metrics.DUPLICATES.inc(result.duplicates)
        for reason, count in result.rejected.items():
            metrics.REJECTED.labels(reason=reason).inc(count)
        return result

    def _store_with_retry(self, items: list[Checked | Rejection]) -> BatchResult | None:
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                with session_scope(self.engine) as session:
                    result = store_batch(session, items, self.settings.timezone)
                metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
                return result
            except TRANSIENT_DB_ERRORS as error:
                metrics.DB_RETRIES.inc()
                log.warning("database unavailable (%s); retrying the batch in %.1f s", type(error).__name__, delay)
                if self._stopping.wait(delay) and not self._db_reachable():
                    log.error("stopping with %d messages not stored; the broker keeps them", len(items))
                    return None
                delay = min(delay * 2, MAX_BACKOFF_S)
            except sa.exc.SQLAlchemyError:
                if len(items) == 1:
                    return self._store_as_rejected(items[0])
                # One bad row must not block the others: store one by one to find it.
                log.exception("batch failed; storing its %d messages one by one", len(items))
                total = BatchResult()
                for item in items:
                    part = self._store_with_retry([item])
                    if part is None:
                        return None
                    total.stored += part.stored
                    total.duplicates += part.duplicates
                    total.devices += part.devices
                    total.rejected.update(part.rejected)
                return total

    def _store_as_rejected(self, item: Checked | Rejection) -> BatchResult | None:
        """A message the database refuses for good is kept as a rejection (payload included), not lost."""
        log.exception("message on %s cannot be stored; keeping it as rejected", item.inbound.topic)
        if isinstance(item, Rejection) and item.reason == "store_error":
            # Even the rejection cannot be written: treat it as an outage, never drop.
            self._stopping.wait(1.0)
            if self._stopping.is_set():
                return None
            return self._store_with_retry([item])
        rejection = Rejection(item.inbound, "store_error", "the database refused it; see the collector log")
        return self._store_with_retry([rejection])

    def _db_reachable(self) -> bool:
        from collector.db import ping

        return ping(self.engine)
