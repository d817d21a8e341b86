"""The collector's alerts, in its own thread: the ingest worker hands over the presses it has just
committed (evaluated in memory, microseconds a press), and this thread records what fired or
cleared, evaluates the time-based rules on a timer and sends what is due. Nothing here can stop,
fail or slow the ingest of a press: the worker only appends to a queue, and every failure here is
logged, counted and retried."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter as PromCounter
from sqlalchemy.engine import Engine

from collector import downtime
from collector.alerts import store
from collector.alerts.deliver import Channel, channels_from, deliver_due
from collector.alerts.evaluate import Evaluator, GapView, StoredPress, Transition
from collector.alerts.rules import RuleBook
from collector.clock import utc_now
from collector.db import session_scope
from collector.sequences import box_losses
from collector.settings import Settings
from collector.store import Pending
from schemas.contract import scales

log = logging.getLogger("collector.alerts")

FAILURES = PromCounter("rating_alert_failures_total", "Alert evaluations, records or ticks that failed", ["stage"])
FIRED = PromCounter("rating_alerts_fired_total", "Alerts fired", ["rule"])
PAUSE_S = 0.5  # the longest an alert event waits to be recorded and sent
SEEDED_FROM = timedelta(hours=24)  # the longest window, and the whole local day


def satisfied_from() -> dict[str, int]:
    return {name: scale["satisfied_from"] for name, scale in scales().items()}


class AlertService:
    def __init__(self, settings: Settings, engine: Engine, publish: Any = None,
                 clock: Callable[[], datetime] = utc_now, channels: dict[str, Channel] | None = None):
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.channels = channels_from(settings, publish) if channels is None else channels
        self.evaluator = Evaluator(RuleBook.parse(settings.alert_rules), settings.timezone, settings.office_schedule)
        self._satisfied_from = satisfied_from()
        self._lock = threading.Lock()  # the evaluator's state: the ingest worker and this thread
        self._transitions: deque[Transition] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_tick = 0.0

    # --- the ingest worker's side ----------------------------------------------------------------

    def presses_stored(self, pending: Sequence[Pending]) -> None:
        """The presses a batch has just committed (new ones only). Never raises."""
        try:
            thresholds = self._satisfied_from
            presses = []
            for press in pending:
                body = press.item.body
                flags = body["flags"]
                if "test" in flags:
                    continue
                presses.append(StoredPress(body["counter"], press.pressed_us,
                                           body["level"] < thresholds.get(body["scale"], 1), "suppressed" in flags))
            with self._lock:
                transitions = self.evaluator.presses_stored(presses, self.clock())
            if transitions:
                self._transitions.extend(transitions)
                self._wake.set()
        except Exception:
            FAILURES.labels(stage="evaluate").inc()
            log.exception("alert evaluation failed for %d stored presses (they are stored)", len(pending))

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> AlertService:
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def load(self) -> None:
        """The registry's places, the alerts still active (a restart does not fire them again) and the
        last day's presses (the windows and the day's counts go on where they were)."""
        now = self.clock()
        with session_scope(self.engine) as session:
            places = store.places(session)
            active = store.active_alerts(session)
            recent = store.recent_presses(session, now - SEEDED_FROM, self._satisfied_from)
        with self._lock:
            self.evaluator.places = places
            for rule, subject in active:
                self.evaluator.hysteresis.resume(rule, subject)
            transitions = self.evaluator.presses_stored(recent, now)
        self._transitions.extend(transitions)

    # --- this thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        loaded = False
        while not self._stopping.is_set():
            self._wake.wait(PAUSE_S)
            self._wake.clear()
            try:
                if not loaded:
                    self.load()
                    loaded = True
                self.step()
            except Exception:
                FAILURES.labels(stage="run").inc()
                log.exception("alerts: a step failed; trying again")
                self._stopping.wait(1.0)

    def step(self, force_tick: bool = False) -> None:
        """Record what fired or cleared, evaluate the timed rules when due, send what is due."""
        if force_tick or time.monotonic() >= self._next_tick:
            self._next_tick = time.monotonic() + self.settings.alert_tick_s
            with session_scope(self.engine) as session:
                places = store.places(session)
                devices = store.devices(session)
                gaps = {box: GapView(loss.missing, loss.open_since)
                        for box, loss in box_losses(session, limit=1).items() if loss.missing}
                downtime.observe(session, devices, self.clock())  # the boxes' down spans, for reports
            with self._lock:
                self.evaluator.places = places
                transitions = self.evaluator.tick(self.clock(), devices, gaps)
            self._transitions.extend(transitions)
        self.record_pending()
        deliver_due(self.engine, self.channels, self.clock, timedelta(seconds=self.settings.alert_retry_s))

    def record_pending(self) -> None:
        """Write the queued transitions; on a failure they stay queued for the next step."""
        if not self._transitions:
            return
        batch = list(self._transitions)
        with session_scope(self.engine) as session:
            store.record(session, batch, sorted(self.channels), self.clock())
        for _ in batch:
            self._transitions.popleft()
        for transition in batch:
            if transition.event == "fired":
                FIRED.labels(rule=transition.rule).inc()
                log.info("alert fired: %s", transition.message)
