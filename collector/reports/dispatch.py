"""The weekly and monthly reports, e-mailed by themselves: a thread of the serving collector that,
every RATING_REPORT_MAIL_TICK_S, asks what is due (collector.report_schedule) for each recipient group
(collector.report_recipients), records it (collector.reports.dispatch_store: once, even with two
collectors), builds the report as PDF and XLSX and mails it (collector.reports.mailing, collector.mail).
A failure is written on the row, counted and logged (never the password) and tried again, backing off."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge
from sqlalchemy.engine import Engine

from collector.clock import local_day, utc_now
from collector.db import session_scope
from collector.mail import SmtpTransport
from collector.models import ReportDispatch
from collector.report_recipients import RecipientGroup, parse_recipients
from collector.report_schedule import due_reports
from collector.reports import dispatch_store as store
from collector.reports.build import build_report
from collector.reports.heading import Heading
from collector.reports.mailing import for_department, report_mail
from collector.reports.render import render
from collector.settings import Settings

log = logging.getLogger("collector.reports")

SENT = PromCounter("rating_report_mails_sent_total", "Scheduled reports mailed", ["kind"])
FAILURES = PromCounter("rating_report_mail_failures_total", "Scheduled report mails or steps that failed", ["stage"])
UNSENT = Gauge("rating_report_mails_unsent", "Scheduled reports due and not sent yet (pending or being sent)")


class ReportDispatcher:
    def __init__(self, settings: Settings, engine: Engine, clock: Callable[[], datetime] = utc_now,
                 transport: SmtpTransport | None = None):
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.groups: dict[str, RecipientGroup] = {
            group.key: group for group in parse_recipients(settings.report_mail_to, settings.report_mail_lang)}
        found = transport or SmtpTransport.from_settings(settings)
        if found is None:
            raise ValueError("scheduled reports need an SMTP relay: set RATING_ALERT_SMTP_HOST")
        self.transport = found
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def configured(cls, settings: Settings, engine: Engine) -> ReportDispatcher | None:
        """The dispatcher the settings ask for; None without RATING_REPORT_MAIL_TO."""
        return cls(settings, engine) if settings.report_mail_to.strip() else None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> ReportDispatcher:
        self._thread = threading.Thread(target=self._run, name="report-mail", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:
                FAILURES.labels(stage="step").inc()
                log.exception("scheduled reports: a step failed; trying again")
            self._stopping.wait(self.settings.report_mail_tick_s)

    # --- one step --------------------------------------------------------------------------------

    def step(self) -> int:
        """Record what has become due, then send what is claimable; the number sent."""
        self.enqueue_due()
        sent = 0
        with session_scope(self.engine) as session:
            ids = store.claimable_ids(session, self.clock())
        for dispatch_id in ids:
            if self._stopping.is_set():
                break
            sent += self.send_one(dispatch_id)
        with session_scope(self.engine) as session:
            UNSENT.set(store.unsent_count(session))
        return sent

    def enqueue_due(self) -> None:
        now = self.clock()
        with session_scope(self.engine) as session:
            began = store.began_at(session, sorted(self.groups), now)
            for key in sorted(self.groups):
                due = due_reports(now, self.settings.timezone, self.settings.report_mail_at, began[key],
                                  store.recorded(session, key))
                store.enqueue(session, key, due, now)
                for report in due:
                    log.info("report %s %s due for %s since %s", report.kind, report.period, key,
                             report.send_from.isoformat())

    def send_one(self, dispatch_id: int) -> bool:
        """Claim one row and send it; False if another took it or the attempt failed (then on the row)."""
        with session_scope(self.engine) as session:
            row = store.claim(session, dispatch_id, self.clock(), self.worker)
        if row is None:
            return False
        if row.attempts > 1 and row.last_error is None:
            log.warning("report %s %s for %s: resending a claim left unfinished (a sender stopped mid-way)",
                        row.kind, row.period, row.recipients)
        try:
            addresses, message_id = self._mail(row)
        except Exception as failure:  # noqa: BLE001  (any failure is written on the row and retried)
            error = f"{type(failure).__name__}: {failure}"
            FAILURES.labels(stage="send").inc()
            log.warning("report %s %s not mailed to %s (attempt %d): %s", row.kind, row.period, row.recipients,
                        row.attempts, error)
            with session_scope(self.engine) as session:
                store.mark_failed(session, dispatch_id, self.clock(), error,
                                  timedelta(seconds=self.settings.report_mail_retry_s))
            return False
        with session_scope(self.engine) as session:
            store.mark_sent(session, dispatch_id, self.clock(), addresses, message_id)
        SENT.labels(kind=row.kind).inc()
        log.info("report %s %s mailed to %s (%d addresses)", row.kind, row.period, row.recipients, len(addresses))
        return True

    def _mail(self, row: ReportDispatch) -> tuple[tuple[str, ...], str]:
        group = self.groups.get(row.recipients)
        if group is None:
            raise LookupError(f"recipient group {row.recipients!r} is not in RATING_REPORT_MAIL_TO any more")
        with session_scope(self.engine) as session:
            report = build_report(session, row.period, site=group.code if group.scope == "site" else None)
        if group.scope == "department":
            report = for_department(report, group.code)
        heading = Heading.from_settings(self.settings, issued=local_day(self.clock(), self.settings.timezone))
        pdf = render(report, "pdf", group.lang, heading=heading)
        xlsx = render(report, "xlsx", group.lang)
        mail = report_mail(report, group, heading, self.transport.sender, pdf, xlsx)
        self.transport.send(mail.message, group.addresses)
        return group.addresses, mail.message_id
