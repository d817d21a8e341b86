"""Repro of a collector bug found by the proof suite; NOT collected by `make test` (the file name
does not start with test_), run it by name:

    .venv/bin/python -m pytest tests/proof/repro_sigterm_while_db_unwritable.py -s

Bug: a graceful stop (SIGTERM) while the database is readable but refuses writes (SQLite locked by
another process, or its disk full) makes the ingest worker spin without any pause, logging a
"retrying the batch in 10.0 s" warning at every turn, until Ingest.stop()'s timeouts give up.
collector/ingest.py, Ingest._store_with_retry:

    if self._stopping.wait(delay) and not self._db_reachable():

Once _stopping is set, wait() returns at once; _db_reachable() (a SELECT 1) succeeds because reads
still work, so the loop retries the write immediately, forever. Nothing is lost (nothing is acked),
but the stop takes tens of seconds of a busy core instead of being prompt, and the log grows by
thousands of lines a second, on the disk that may be the full one.
Expected: stop within a few seconds, leaving the unstored batch unacked (the broker keeps it).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import time
from typing import Any

from tests.conftest import press_payload


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
    print(f"\nSIGTERM to exit: {took:.1f} s (still running after 10 s: {took >= 10}); "
          f"'retrying the batch' logged {retries_logged} times")
    assert took < 10, f"the collector did not stop within 10 s of SIGTERM ({retries_logged} retries logged)"
