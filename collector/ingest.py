"""MQTT ingest: the broker's messages into the database, each press exactly once.

paho's network thread only enqueues (a slow callback would stall keepalives). One worker thread
takes batches, writes each batch in one transaction and only after the commit acks its messages
(manual acks), so the broker keeps, and after a crash redelivers, whatever is not committed yet.
Redeliveries are harmless: (box, seq) is stored once.

Only a database that is down or locked pauses ingest (the batch is retried, nothing acked). A batch
that fails for any other reason is split in halves until the message that fails is alone: that one is
recorded as rejected, with the error, and everything else is stored. One message the store cannot
take must never hold back the rest of the fleet, now or after a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collector import metrics
from collector.alerts.service import AlertService
from collector.clock import utc_ms, utc_now
from collector.db import session_scope
from collector.messages import Checked, Inbound, Rejection, check, rejected_seq
from collector.rejections import RetainedInbound, rejection_totals
from collector.settings import Settings
from collector.store import BatchResult, store_batch
from schemas.contract import box_topic, topics

log = logging.getLogger("collector.ingest")

# Errors that mean "the database is not reachable right now": retry the same batch, ack nothing.
TRANSIENT_DB_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
MAX_BACKOFF_S = 10.0
STORED_PER_MESSAGE = 64  # schemas/stored.schema.json maxItems: a box parses a small list at a time


class Inbox:
    """What the network thread has received and the worker has not taken yet. A deque append is all
    the network thread does per message (no lock); the worker is woken only when it waits."""

    def __init__(self) -> None:
        self._items: deque[Inbound] = deque()
        self._ready = threading.Event()

    def put(self, item: Inbound) -> None:
        self._items.append(item)
        if not self._ready.is_set():
            self._ready.set()

    def take(self, most: int, timeout: float) -> list[Inbound]:
        """Up to `most` items, waiting up to `timeout` s for the first one."""
        items = self._items
        if not items:
            self._ready.clear()
            if not items and not self._ready.wait(timeout):
                return []
        popleft = items.popleft
        return [popleft() for _ in range(min(most, len(items)))]

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


def subscriptions(settings: Settings) -> list[tuple[str, int]]:
    box = topics()["box"]
    prefix = f"$share/{settings.share_group}/" if settings.share_group else ""
    return [(prefix + box[kind].replace("{box}", "+"), 1) for kind in ("press", "status", "presence")]


class Ingest:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self.queue = Inbox()
        self.connected = threading.Event()
        self._stopping = threading.Event()
        self._worker_done = threading.Event()
        self._generation = 0  # bumped at each (re)connect; acks of an older connection are skipped
        self._in_hand = 0  # messages the worker has taken and not committed yet
        self._progress_at = time.monotonic()  # the last commit, or the last moment nothing waited
        self._threads: list[threading.Thread] = []
        self.client = self._make_client()
        self.alerts = AlertService(settings, engine, self.client.publish) if settings.alerts_enabled else None

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
        kind = RetainedInbound if message.retain else Inbound
        self.queue.put(kind(message.topic, bytes(message.payload), utc_now(), message.mid, message.qos, self._generation))

    def _publish_clock(self) -> None:
        payload = json.dumps({"v": 1, "t": utc_ms(utc_now())}, separators=(",", ":"))
        self.client.publish(topics()["clock"], payload, qos=topics()["qos"]["clock"], retain=False)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Ingest:
        self._show_rejection_totals()
        metrics.INGEST_STALLED_SECONDS.set_function(self.stalled_for)
        self.client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
        self.client.loop_start()
        if self.alerts is not None:
            self.alerts.start()
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
        if self.alerts is not None:
            self.alerts.stop()
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
        batch_max = self.settings.batch_max
        batch = self.queue.take(batch_max, 0.1)
        if not batch or self.settings.batch_wait_ms <= 0:
            return batch
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < batch_max:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self.queue.take(batch_max - len(batch), remaining)
            if not more:
                break
            batch.extend(more)
        return batch

    def stalled_for(self) -> float:
        """Seconds that messages have been waiting with nothing committed; 0 while ingest flows."""
        if not self._in_hand and self.queue.empty():
            return 0.0
        return max(0.0, time.monotonic() - self._progress_at)

    def _show_rejection_totals(self) -> None:
        """The metric starts from the counts in the database: they outlive the process."""
        try:
            with session_scope(self.engine) as session:
                totals = rejection_totals(session)
        except sa.exc.SQLAlchemyError:
            log.warning("rejection counts not read; the metric starts from the next rejection")
            return
        self._show(totals)

    @staticmethod
    def _show(totals: dict[tuple[str, str], int]) -> None:
        for (box, reason), count in totals.items():
            metrics.REJECTIONS_RECORDED.labels(box=box, reason=reason).set(count)

    def _work(self) -> None:
        try:
            while not (self._stopping.is_set() and self.queue.empty()):
                batch = self._take_batch()
                if not batch:
                    self._progress_at = time.monotonic()  # nothing waits: not a stall
                    continue
                self._in_hand = len(batch)
                metrics.QUEUE_DEPTH.set(self.queue.qsize() + len(batch))
                delay = 0.5
                while True:
                    try:
                        self.handle(batch)
                        break
                    except Exception:  # a bug in acking or confirming: keep the batch (unacked), try again
                        log.exception("unexpected error handling a batch of %d; retrying in %.1f s", len(batch), delay)
                        if self._stopping.wait(delay):
                            break  # not acked: the broker redelivers it
                        delay = min(delay * 2, MAX_BACKOFF_S)
                self._in_hand = 0
                metrics.QUEUE_DEPTH.set(self.queue.qsize())
        finally:
            self._worker_done.set()

    def handle(self, batch: Sequence[Inbound]) -> BatchResult | None:
        """Store the batch (waiting while the database is down), acking each part once committed.
        None when stopping during an outage: what was not committed is not acked."""
        items = [check(inbound) for inbound in batch]
        kinds = Tally(item.kind if isinstance(item, Checked) else "invalid" for item in items)
        for kind, count in kinds.items():
            metrics.RECEIVED.labels(kind=kind).inc(count)
        total = BatchResult()
        parts = [items]
        while parts:
            part = parts.pop()
            try:
                result = self._commit(part)
            except Exception as error:  # noqa: BLE001  (whatever one message does, the others go on)
                if len(part) > 1:
                    log.warning("a batch of %d failed (%s); storing its halves apart", len(part), type(error).__name__)
                    half = len(part) // 2
                    parts += [part[half:], part[:half]]  # the first half first: the order of arrival
                    continue
                result = self._reject_alone(part[0], error)
            if result is None:
                return None
            self._committed(part, result)
            total.stored += result.stored
            total.duplicates += result.duplicates
            total.devices += result.devices
            total.rejected.update(result.rejected)
        metrics.BATCH_SIZE.observe(len(batch))
        return total

    def _commit(self, items: Sequence[Checked | Rejection]) -> BatchResult | None:
        """Store and commit the items, retrying while the database is unavailable; None when stopping
        then. Any other error is raised: it belongs to (a message of) these items."""
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                with session_scope(self.engine) as session:
                    result = store_batch(session, items, self.settings.timezone, self.settings.rejected_kept)
            except TRANSIENT_DB_ERRORS as error:
                if self._stopping.is_set():
                    # That was the last attempt: a database that is locked or full would otherwise keep
                    # a stopping collector busy. Nothing of this part is acked; the broker keeps it.
                    log.error("stopping with %d messages not stored; the broker keeps them", len(items))
                    return None
                metrics.DB_RETRIES.inc()
                log.warning("database unavailable (%s); retrying the batch in %.1f s", type(error).__name__, delay)
                self._stopping.wait(delay)  # a stop cuts the pause short; one last attempt follows
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            self._progress_at = time.monotonic()
            metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
            return result

    def _reject_alone(self, item: Checked | Rejection, error: Exception) -> BatchResult | None:
        """Record a message the store fails on as rejected, with the error. If even that record
        cannot be written, the database is not working: wait and retry, as in an outage, never drop."""
        log.error("message on %s cannot be stored; recording it as rejected", item.inbound.topic,
                  exc_info=(type(error), error, error.__traceback__))
        rejection = Rejection(item.inbound, "store_error", f"{type(error).__name__}: {error}"[:300])
        delay = 0.5
        while True:
            try:
                return self._commit([rejection])
            except Exception:
                log.exception("the rejection of a message on %s cannot be stored; retrying in %.1f s",
                              item.inbound.topic, delay)
                metrics.DB_RETRIES.inc()
                if self._stopping.wait(delay):
                    return None
                delay = min(delay * 2, MAX_BACKOFF_S)

    def _committed(self, items: Sequence[Checked | Rejection], result: BatchResult) -> None:
        """Ack what is committed, confirm its presses to their boxes, count it."""
        generation = self._generation
        self._ack([item.inbound for item in items if item.inbound.qos > 0 and item.inbound.generation == generation])
        try:
            self._confirm(items)
        except Exception:  # what is committed stays committed; the box sends it again
            log.exception("presses of a committed batch not confirmed to their boxes")
        if self.alerts is not None and result.new_presses:
            self.alerts.presses_stored(result.new_presses)  # in memory, never raises (collector.alerts)
        metrics.STORED.inc(result.stored)
        metrics.DUPLICATES.inc(result.duplicates)
        for reason, count in result.rejected.items():
            metrics.REJECTED.labels(reason=reason).inc(count)
        self._show(result.rejection_totals)

    def _ack(self, committed: Sequence[Inbound]) -> None:
        client = self.client
        for inbound in committed:
            client.ack(inbound.mid, inbound.qos)

    def _confirm(self, items: Sequence[Checked | Rejection]) -> None:
        """Tell each box which of its presses are now stored (schemas/stored.schema.json): the box
        keeps a press in flash until then. Every press of a committed part is stored, a duplicate or
        recorded as rejected, so all are confirmed: also one the check rejected (schema, level, time...)
        when it names its seq, else the box would send it again at every connection, forever. A lost
        confirmation costs a resend, nothing else."""
        seqs_of: dict[str, list[int]] = {}
        for item in items:
            if isinstance(item, Checked):
                if item.kind == "press":
                    seqs_of.setdefault(item.box, []).append(item.body["seq"])
            elif (key := rejected_seq(item)) is not None:
                seqs_of.setdefault(key[0], []).append(key[1])
        qos = topics()["qos"]["command"]
        for box, seqs in seqs_of.items():
            topic = box_topic("command", box)
            for start in range(0, len(seqs), STORED_PER_MESSAGE):
                payload = json.dumps({"v": 1, "stored": seqs[start:start + STORED_PER_MESSAGE]}, separators=(",", ":"))
                self.client.publish(topic, payload, qos=qos, retain=False)
