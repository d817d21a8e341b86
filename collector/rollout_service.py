"""The rollouts' own thread: every rollout_tick_s it brings the rollouts' state up to date with what
the boxes report (collector/rollouts.py), commits, and only then publishes the update commands
(QoS 0, as schemas/topics.json says: a lost one is sent again after rollout_resend_s). Nothing
here touches the ingest of presses: it only reads the device table and publishes with the ingest's
MQTT client (paho's publish is thread-safe and never blocks on the network)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import Counter as PromCounter
from sqlalchemy.engine import Engine

from collector.clock import utc_now
from collector.db import session_scope
from collector.rollouts import step
from collector.settings import Settings
from schemas.contract import box_topic, topics

log = logging.getLogger("collector.rollouts")

COMMANDS = PromCounter("rating_rollout_commands_total", "Update commands published to boxes")
FAILURES = PromCounter("rating_rollout_failures_total", "Rollout steps that failed (retried at the next tick)")


class RolloutService:
    def __init__(self, settings: Settings, engine: Engine, publish: Callable[..., Any],
                 clock: Callable[[], datetime] = utc_now):
        self.settings = settings
        self.engine = engine
        self.publish = publish
        self.clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RolloutService:
        self._thread = threading.Thread(target=self._run, name="rollouts", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.settings.rollout_tick_s):
            try:
                self.tick()
            except Exception:  # the database may be down: the next tick tries again
                FAILURES.inc()
                log.exception("rollout step failed; trying again in %.0f s", self.settings.rollout_tick_s)

    def tick(self) -> int:
        """One step; the number of commands published."""
        with session_scope(self.engine) as session:
            commands = step(session, self.settings, self.clock())
        qos = topics()["qos"]["command"]
        for command in commands:
            self.publish(box_topic("command", command.box), command.payload, qos=qos, retain=False)
            log.info("update command sent to %s", command.box)
        COMMANDS.inc(len(commands))
        return len(commands)
