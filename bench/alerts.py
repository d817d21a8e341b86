"""Alerts: what evaluating the rules costs a stored press, and how long a fired alert takes to
reach the mailbox.

1. per press: the same presses (60 counters, 3 of 10 unsatisfied, batches of 50, office hours all
   day so every counter rule is evaluated) stored with the collector's own check and store_batch into
   SQLite (synchronous=FULL), each batch committed: once without alerts (the baseline), once with the
   ingest worker's hook after each commit (AlertService.presses_stored). Figures: the store per press,
   the hook per press (target < 1 ms) and the hook's share of the store.
2. e-mail latency: an aiosmtpd server process (`python -m aiosmtpd`, its Mailbox handler writing a
   maildir) and the collector's alert thread; each round stores 4 unsatisfied presses at a new
   counter and measures from the alert's fired_at to the message appearing in the maildir. Target:
   the slowest of the rounds < 60 s.

    python -m bench.alerts                 # about a minute
    python -m bench.alerts --presses 5000  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bench import Row, free_port, print_table
from collector.alerts.service import AlertService
from collector.clock import utc_ms, utc_now
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.models import Alert
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"
COUNTERS = 60
BATCH = 50
TARGET_PER_PRESS_MS = 1.0
TARGET_MAIL_S = 60.0
ALL_DAY, EVERY_DAY = "00:00-24:00", "mon,tue,wed,thu,fri,sat,sun"  # every counter rule evaluated


def registry(counters: int) -> dict[str, Any]:
    return {"departments": [{"code": "TP", "name": "Sở Tư pháp", "site": "HCM"}],
            "counters": [{"code": f"{n:02d}", "name": f"Quầy {n}", "department": "TP"} for n in range(counters)],
            "boxes": [{"box": f"box-{n:03d}", "counter": f"{n:02d}", "from": "2020-01-01"} for n in range(counters)]}


def database(root: Path, name: str, counters: int) -> Any:
    engine = make_engine(f"sqlite:///{root / name}.sqlite3")
    upgrade(engine)
    path = root / f"{name}-registry.json"
    path.write_text(json.dumps(registry(counters)), encoding="utf-8")
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
    return engine


def batches(presses: int, first_counter: int = 0, counters: int = COUNTERS, unsatisfied_every: int = 0) -> list[list[Any]]:
    """Checked presses as the ingest worker has them, timed now."""
    now = utc_now()
    items = []
    for n in range(presses):
        counter = first_counter + n % counters
        level = 0 if (unsatisfied_every == 0 or n % 10 < 3) else 1
        body = {"v": 1, "box": f"box-{counter:03d}", "counter": f"{counter:02d}", "seq": n + 1, "boot": 1, "up": 1000 + n,
                "t": utc_ms(now) + n, "clock": "sync", "scale": "sat2", "level": level, "flags": [], "fw": "0.1.0"}
        items.append(check(Inbound(f"rating/box-{counter:03d}/press", json.dumps(body).encode(), now)))
    return [items[i:i + BATCH] for i in range(0, len(items), BATCH)]


def per_press(root: Path, presses: int) -> tuple[float, float]:
    """(store ms per press without alerts, hook ms per press)."""
    settings = Settings(data_dir=root, office_hours=ALL_DAY, office_days=EVERY_DAY)
    work = batches(presses, unsatisfied_every=10)
    plain = database(root, "plain", COUNTERS)
    started = time.perf_counter()
    for batch in work:
        with session_scope(plain) as session:
            store_batch(session, batch, TZ)
    store_s = time.perf_counter() - started
    plain.dispose()

    hooked = database(root, "hooked", COUNTERS)
    service = AlertService(settings, hooked, channels={})
    service.load()
    hook_s = 0.0
    for batch in work:
        with session_scope(hooked) as session:
            result = store_batch(session, batch, TZ)
        started = time.perf_counter()
        service.presses_stored(result.new_presses)
        hook_s += time.perf_counter() - started
    hooked.dispose()
    return store_s * 1000 / presses, hook_s * 1000 / presses


def mail_latency(root: Path, rounds: int) -> list[float]:
    maildir = root / "maildir"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                               "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    engine = database(root, "mail", rounds)
    settings = Settings(data_dir=root, alert_smtp_host="127.0.0.1", alert_smtp_port=port, alert_smtp_starttls=False,
                        alert_mail_to="supervisor@example.org", office_hours=ALL_DAY, office_days=EVERY_DAY)
    service = AlertService(settings, engine)
    latencies = []
    try:
        deadline = time.monotonic() + 20
        while not (maildir / "new").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"aiosmtpd did not start: {server.stderr.read() if server.stderr else ''!r}")
            time.sleep(0.05)
        service.start()
        for n in range(rounds):
            before = set(os.listdir(maildir / "new"))
            for batch in batches(4, first_counter=n, counters=1):
                with session_scope(engine) as session:
                    result = store_batch(session, batch, TZ)
                service.presses_stored(result.new_presses)
            deadline = time.monotonic() + TARGET_MAIL_S * 2
            while set(os.listdir(maildir / "new")) == before:
                if time.monotonic() > deadline:
                    raise RuntimeError("no mail within twice the target")
                time.sleep(0.005)
            arrived = utc_now()
            with Session(engine) as session:
                fired = session.exec(select(Alert.fired_at).where(Alert.counter == f"{n:02d}")
                                     .order_by(col(Alert.id))).first()
            assert fired is not None
            latencies.append((arrived - fired) / timedelta(seconds=1))
    finally:
        service.stop()
        server.terminate()
        server.wait(10)
        engine.dispose()
    return latencies


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=30_000)
    parser.add_argument("--mails", type=int, default=10, help="rounds of the e-mail latency")
    args = parser.parse_args([] if argv is None else argv)
    root = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    try:
        store_ms, hook_ms = per_press(root, args.presses)
        print(f"{args.presses:,} presses: store {store_ms:.3f} ms/press, alert hook {hook_ms * 1000:.1f} us/press",
              flush=True)
        latencies = mail_latency(root, args.mails)
        print("e-mail latencies (s): " + ", ".join(f"{s:.3f}" for s in latencies), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        Row("store_batch + commit per press, without alerts (baseline)", round(store_ms, 3), None, "ms", None),
        Row("alert evaluation per stored press (the ingest hook)", round(hook_ms, 4), f"< {TARGET_PER_PRESS_MS}",
            "ms", hook_ms < TARGET_PER_PRESS_MS),
        Row("alert hook / store, per press", round(hook_ms / store_ms, 3), None, "ratio", None),
        Row(f"fired alert -> SMTP server's mailbox, median of {len(latencies)}", round(statistics.median(latencies), 3),
            None, "s", None),
        Row(f"fired alert -> SMTP server's mailbox, max of {len(latencies)}", round(max(latencies), 3),
            f"< {TARGET_MAIL_S:.0f}", "s", max(latencies) < TARGET_MAIL_S),
    ]
    print_table("Alerts", rows)
    return rows


if __name__ == "__main__":
    sys.exit(1 if any(row.ok is False for row in main(sys.argv[1:])) else 0)
