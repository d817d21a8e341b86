"""A graceful stop (SIGTERM) while the database is readable but refuses writes (SQLite locked by
another process, or its disk full) must be prompt: one last attempt, then exit, leaving the unstored
batch unacked for the broker to keep. The proof suite once found the ingest worker spinning here,
retrying without pause and logging at every turn until Ingest.stop()'s timeouts gave up.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import time
from typing import Any

from tests.helpers.presses import press_payload


def test_sigterm_while_sqlite_is_locked_stops_promptly(broker: Any, collector_process: Any, sqlite_url: str,
                                                       wait_for: Any) -> None:
    collector = collector_process(db_url=sqlite_url)
    collector.token("viewer")
    box = broker.client("box-017", broker.add_box("box-017"))
    broker.publish(box, "rating/box-017/press", press_payload(seq=1))
    wait_for(lambda: collector.metric("rating_presses_stored_total") == 1, timeout=10)
    lock = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        broker.publish(box, "rating/box-017/press", json.dumps(press_payload(seq=2)))
        wait_for(lambda: collector.metric("rating_db_retries_total") >= 1, timeout=15, what="a retry")
        started = time.monotonic()
        collector.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            collector.process.wait(10)
        took = time.monotonic() - started
        retries_logged = collector.log().count("retrying the batch")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    collector.process.wait(120)
    assert took < 10, f"the collector did not stop within 10 s of SIGTERM ({retries_logged} retries logged)"
    assert retries_logged < 20, f"'retrying the batch' logged {retries_logged} times"
    # The unstored press was not acked, so the broker hands it to the next run of the collector.
    again = collector_process(db_url=sqlite_url)
    wait_for(lambda: again.metric("rating_presses_stored_total") == 1, timeout=15, what="the held press stored")
