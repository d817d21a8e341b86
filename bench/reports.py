"""Scheduled reports: what building and rendering a month's report costs at the query bench's data
shape, and how long a report takes from the moment it is due to the SMTP server's mailbox.

1. render: bench.queries' generated presses (SQLite; its shape: 5 counters a department, 10
   departments a site, 3,300 presses a counter over three years, 6 officers a counter over them),
   the whole center's month and one site's month: build_report, the PDF (WeasyPrint) and the XLSX.
2. due -> mailbox: an aiosmtpd server process (`python -m aiosmtpd`, its Mailbox handler writing a
   maildir) and the collector's report thread (ReportDispatcher, RATING_REPORT_MAIL_TICK_S as set)
   on a clock shifted so that the month's report of the whole center falls due 1 s after the thread
   starts, that is, just after its first look: the worst case, a whole tick to wait, then the build,
   the PDF, the XLSX and the SMTP exchange. Measured from that moment to the message in the maildir.
   Target: < 5 minutes.

    python -m bench.reports                     # 1,000,000 presses: 300 counters, 60 departments
    python -m bench.reports --presses 10000000  # the query bench's size (3,000 counters): long
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from io import BytesIO
from pathlib import Path

from pypdf import PdfReader

from bench import Row, free_port, print_table
from bench.queries import generate
from collector.db import make_engine, session_scope, upgrade
from collector.models import ReportSchedule
from collector.reports import Heading, build_report, render
from collector.reports.dispatch import ReportDispatcher
from collector.settings import Settings

TZ = "Asia/Ho_Chi_Minh"
MONTH = "2025-06"  # inside the generated three years (2023-2025)
SEND_AT = clock_time(7, 0)
TARGET_MAIL_S = 300.0


def render_month(engine: object, site: str | None, settings: Settings) -> dict[str, float]:
    started = time.perf_counter()
    with session_scope(engine) as session:  # type: ignore[arg-type]
        report = build_report(session, MONTH, site=site)
    built = time.perf_counter()
    pdf = render(report, "pdf", "vi", heading=Heading.from_settings(settings))
    pdf_done = time.perf_counter()
    render(report, "xlsx", "vi")
    xlsx_done = time.perf_counter()
    rows = sum(1 + len(section.officers) + len(section.counters) for section in report.sections) + 1
    return {"rows": rows, "pages": len(PdfReader(BytesIO(pdf)).pages), "pdf_kb": len(pdf) / 1024,
            "build_s": built - started, "pdf_s": pdf_done - built, "xlsx_s": xlsx_done - pdf_done}


def due_to_mailbox(root: Path, url: str, tick_s: float) -> float:
    maildir = root / "maildir"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                               "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    engine = make_engine(url)
    # The 1st of the month after MONTH at the send time, local: the month's report falls due then.
    due = datetime(2025, 7, 1, SEND_AT.hour, SEND_AT.minute, tzinfo=UTC) - timedelta(hours=7)
    offset = due - (datetime.now(UTC) + timedelta(seconds=1))
    with session_scope(engine) as session:
        # begun just before: that Monday's week (30 June 2025) is not due, only the month is
        session.add(ReportSchedule(recipients="*", began_at=due - timedelta(minutes=1)))
    settings = Settings(data_dir=root, database_url=url, alert_smtp_host="127.0.0.1", alert_smtp_port=port,
                        alert_smtp_starttls=False, report_mail_to=json.dumps({"*": ["director@example.org"]}),
                        report_mail_at=SEND_AT, report_mail_tick_s=tick_s)
    dispatcher = ReportDispatcher(settings, engine, clock=lambda: datetime.now(UTC) + offset)
    try:
        deadline = time.monotonic() + 20
        while not (maildir / "new").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"aiosmtpd did not start: {server.stderr.read() if server.stderr else ''!r}")
            time.sleep(0.05)
        dispatcher.start()
        deadline = time.monotonic() + TARGET_MAIL_S * 2
        while not os.listdir(maildir / "new"):
            if time.monotonic() > deadline:
                raise RuntimeError("no mail within twice the target")
            time.sleep(0.01)
        return (datetime.now(UTC) + offset - due) / timedelta(seconds=1)
    finally:
        dispatcher.stop()
        server.terminate()
        server.wait(10)
        engine.dispose()


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=1_000_000)
    parser.add_argument("--tick", type=float, default=Settings().report_mail_tick_s,
                        help="RATING_REPORT_MAIL_TICK_S of the run (default: the collector's)")
    args = parser.parse_args([] if argv is None else argv)
    root = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    try:
        url = f"sqlite:///{root / 'bench.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        dims = generate(engine, args.presses, lambda text: print(text, flush=True))
        settings = Settings(data_dir=root)
        center = render_month(engine, None, settings)
        site = render_month(engine, "S000", settings)
        engine.dispose()
        print(f"center: {center}\nsite: {site}", flush=True)
        latency = due_to_mailbox(root, url, args.tick)
        print(f"due -> mailbox: {latency:.2f} s (tick {args.tick} s)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    size = f"{dims['presses']:,} presses, {dims['counters']:,} counters"
    rows = [
        Row(f"center's month ({size}, {center['rows']:.0f} rows): PDF pages", int(center["pages"]), None, "pages",
            None),
        Row("center's month: build_report", round(center["build_s"], 2), None, "s", None),
        Row("center's month: PDF (WeasyPrint)", round(center["pdf_s"], 2), None, "s", None),
        Row("center's month: XLSX", round(center["xlsx_s"], 2), None, "s", None),
        Row(f"a site's month ({site['rows']:.0f} rows, {site['pages']:.0f} pages): build + PDF + XLSX",
            round(site["build_s"] + site["pdf_s"] + site["xlsx_s"], 2), None, "s", None),
        Row(f"due -> mailbox, center's month as PDF + XLSX (tick {args.tick:g} s)", round(latency, 2),
            f"< {TARGET_MAIL_S:.0f}", "s", latency < TARGET_MAIL_S),
    ]
    print_table("Scheduled reports", rows)
    return rows


if __name__ == "__main__":
    sys.exit(1 if any(row.ok is False for row in main(sys.argv[1:])) else 0)
