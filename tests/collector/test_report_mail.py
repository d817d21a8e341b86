"""The weekly and monthly reports go out by themselves: into a real SMTP server's mailbox (aiosmtpd,
STARTTLS required) as PDF and XLSX, read back (the PDF's text, the workbook's figures), on a clock the
test moves. Sent once: across a restart, with two collectors on one database, after a sender died
mid-way; a missed Monday is sent when the server is back; a relay that fails is retried, visibly."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pydantic import TypeAdapter, ValidationError
from pypdf import PdfReader
from sqlmodel import Session, col, select

from collector.api.models import ReportDispatchPage
from collector.app import create_app
from collector.auth import create_token
from collector.clock import utc_ms
from collector.db import make_engine, session_scope
from collector.messages import Inbound, check
from collector.models import ReportDispatch, ReportSchedule
from collector.reports import dispatch_store
from collector.reports.dispatch import FAILURES, ReportDispatcher
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.mail import Clock, Inbox, make_certificate, running_smtp_server
from tests.helpers.paths import REPO

TZ = "Asia/Ho_Chi_Minh"
CENTER = "director@example.org"
TP = "tp@example.org"


def local(text: str) -> datetime:
    """A wall-clock time in the center (UTC+7), as UTC."""
    return datetime.fromisoformat(text + "+07:00").astimezone(UTC)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificate(tmp_path_factory.mktemp("smtp") / "smtp.pem")


@pytest.fixture(scope="module")
def smtp(certificate: Path) -> Iterator[tuple[Inbox, int]]:
    with running_smtp_server(certificate) as server:
        yield server


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    found, _ = smtp
    found.messages.clear()
    found.failing = False
    found.refused = 0
    return found


def settings_for(smtp: tuple[Inbox, int], certificate: Path, tmp_path: Path, groups: dict[str, Any],
                 **more: Any) -> Settings:
    return Settings(data_dir=tmp_path, alert_smtp_host="127.0.0.1", alert_smtp_port=smtp[1],
                    alert_smtp_cafile=certificate, alert_mail_from="bao-cao@hcc.example.gov.vn",
                    report_mail_to=json.dumps(groups), report_signer_name="Lê Thị Hồng Nhung", **more)


def store_presses(engine: Any, box: str, counter: str, scale: str, at: datetime, levels: list[int],
                  first_seq: int = 1) -> None:
    items = []
    for n, level in enumerate(levels):
        body = {"v": 1, "box": box, "counter": counter, "seq": first_seq + n, "boot": 1, "up": 1000 + n,
                "t": utc_ms(at) + n * 1000, "clock": "sync", "scale": scale, "level": level, "flags": [], "fw": "0.1.0"}
        items.append(check(Inbound(f"rating/{box}/press", json.dumps(body).encode(), at + timedelta(seconds=5))))
    with session_scope(engine) as session:
        assert store_batch(session, items, TZ).stored == len(levels)


@pytest.fixture
def rated(registered: Any) -> Any:
    """Week 48 of 2026 (23-29 November): 3 of 4 satisfied at counter 17 (Sở Tư pháp, sat2), 3 of 3
    at counter 18 (Sở Xây dựng, vn3: satisfied from level 1): 6 of 7."""
    store_presses(registered, "box-017", "17", "sat2", local("2026-11-25T09:30"), [1, 1, 1, 0])
    store_presses(registered, "box-018", "18", "vn3", local("2026-11-26T14:00"), [2, 2, 1])
    return registered


def rows(engine: Any) -> list[ReportDispatch]:
    with Session(engine) as session:
        return list(session.exec(select(ReportDispatch).order_by(col(ReportDispatch.id))).all())


def attachments(mail: EmailMessage) -> dict[str, bytes]:
    found = {}
    for part in mail.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[part.get_filename() or ""] = payload
    return found


def pdf_text(pdf: bytes) -> str:
    return unicodedata.normalize("NFC", "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def totals(xlsx: bytes) -> dict[str, Any]:
    """Name (column B) -> total ratings (column C) of the report's sheet."""
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None
    return {str(row[1]): row[2] for row in sheet.iter_rows(min_row=6, values_only=True) if row[1]}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the claims on PostgreSQL: two collectors, below
def test_the_week_and_the_month_arrive_as_pdf_and_xlsx_per_group_once(
    rated: Any, smtp: tuple[Inbox, int], inbox: Inbox, certificate: Path, tmp_path: Path,
) -> None:
    settings = settings_for(smtp, certificate, tmp_path, {"*": [CENTER], "department:TP": [TP]})
    clock = Clock(local("2026-11-24T09:00"))  # switched on on a Tuesday: week 47 went out by hand
    dispatcher = ReportDispatcher(settings, rated, clock=clock)
    assert dispatcher.step() == 0 and rows(rated) == []

    clock.now = local("2026-11-30T06:59")  # Monday, before the send time
    assert dispatcher.step() == 0
    clock.now = local("2026-11-30T07:00")
    assert dispatcher.step() == 2
    clock.now = local("2026-12-01T07:00")  # the 1st: November's
    assert dispatcher.step() == 2

    mails = {(mail["X-Envelope-To"], mail["Subject"].split("]")[0]): mail for mail in inbox.messages}
    assert sorted(mails) == [(CENTER, "[Báo cáo tháng"), (CENTER, "[Báo cáo tuần"),
                             (TP, "[Báo cáo tháng"), (TP, "[Báo cáo tuần")]
    week = mails[(CENTER, "[Báo cáo tuần")]
    assert week["X-Over-TLS"] == "yes" and week["To"] == CENTER
    assert "Tuần 48/2026 (từ 23/11/2026 đến 29/11/2026)" in week["Subject"]
    body = week.get_body()
    assert body is not None
    assert "Tổng số phiếu đánh giá: 7; tỷ lệ hài lòng: 85,7%" in body.get_content()
    files = attachments(week)
    assert sorted(files) == ["bao-cao-2026-W48.pdf", "bao-cao-2026-W48.xlsx"]
    text = pdf_text(files["bao-cao-2026-W48.pdf"])
    for words in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG",
                  "BÁO CÁO\nKết quả đánh giá mức độ hài lòng của người dân, doanh nghiệp", "Tuần 48/2026", "Sở Tư pháp", "Sở Xây dựng", "Nguyễn Văn A", "Trần Thị B",
                  "ngày 30 tháng 11 năm 2026",  # dated the day it went out
                  "Nơi nhận:", "GIÁM ĐỐC", "Lê Thị Hồng Nhung"):  # the signer's block
        assert words in text, words
    assert totals(files["bao-cao-2026-W48.xlsx"]) == {
        "Sở Tư pháp": 4, "Nguyễn Văn A": 4, "Quầy 17": 4, "Sở Xây dựng": 3, "Trần Thị B": 3, "Quầy 18": 3, "Tổng cộng": 7}

    department = attachments(mails[(TP, "[Báo cáo tuần")])  # the department's own, and only that
    assert sorted(department) == ["bao-cao-2026-W48-TP.pdf", "bao-cao-2026-W48-TP.xlsx"]
    assert "Sở Xây dựng" not in pdf_text(department["bao-cao-2026-W48-TP.pdf"])
    assert totals(department["bao-cao-2026-W48-TP.xlsx"]) == {"Sở Tư pháp": 4, "Nguyễn Văn A": 4, "Quầy 17": 4,
                                                             "Tổng cộng": 4}
    month = attachments(mails[(CENTER, "[Báo cáo tháng")])
    assert "Tháng 11/2026" in mails[(CENTER, "[Báo cáo tháng")]["Subject"]
    assert totals(month["bao-cao-2026-11.xlsx"])["Tổng cộng"] == 7
    assert "Tháng 11/2026 (từ 01/11/2026 đến 30/11/2026)" in pdf_text(month["bao-cao-2026-11.pdf"])

    sent = rows(rated)
    assert [(r.kind, r.period, r.recipients, r.status, r.attempts) for r in sent] == [
        ("week", "2026-W48", "*", "sent", 1), ("week", "2026-W48", "department:TP", "sent", 1),
        ("month", "2026-11", "*", "sent", 1), ("month", "2026-11", "department:TP", "sent", 1)]
    assert sent[0].due_at == local("2026-11-30T07:00") and sent[0].addresses == CENTER

    # a restart the same day, and the next day: nothing goes out again
    clock.now = local("2026-12-01T07:05")
    assert ReportDispatcher(settings, rated, clock=clock).step() == 0
    clock.now = local("2026-12-02T10:00")
    assert ReportDispatcher(settings, rated, clock=clock).step() == 0
    assert len(inbox.messages) == 4


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the logic alike on both: see the two collectors
def test_a_monday_missed_while_the_server_was_off_is_sent_once_when_it_is_back(
    rated: Any, smtp: tuple[Inbox, int], inbox: Inbox, certificate: Path, tmp_path: Path,
) -> None:
    settings = settings_for(smtp, certificate, tmp_path, {"*": {"to": [CENTER], "lang": "en"}})
    clock = Clock(local("2026-11-26T09:00"))
    ReportDispatcher(settings, rated, clock=clock).step()  # on, then off from Thursday to Tuesday
    clock.now = local("2026-12-01T10:30")  # back: the week of the Monday missed and the 1st's month
    back = ReportDispatcher(settings, rated, clock=clock)
    assert back.step() == 2
    assert back.step() == 0
    assert ReportDispatcher(settings, rated, clock=clock).step() == 0
    subjects = sorted(mail["Subject"] for mail in inbox.messages)
    assert len(subjects) == 2 and subjects[0].startswith("[Monthly report]") and "Week 48/2026" in subjects[1]
    assert [(r.period, r.due_at, r.status) for r in rows(rated)] == [
        ("2026-W48", local("2026-11-30T07:00"), "sent"), ("2026-11", local("2026-12-01T07:00"), "sent")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the logic alike on both: see the two collectors
def test_a_failing_relay_is_retried_with_backoff_visibly_and_the_report_sent_once(
    rated: Any, smtp: tuple[Inbox, int], inbox: Inbox, certificate: Path, tmp_path: Path,
) -> None:
    settings = settings_for(smtp, certificate, tmp_path, {"department:TP": [TP]}, report_mail_retry_s=60)
    clock = Clock(local("2026-11-24T09:00"))
    dispatcher = ReportDispatcher(settings, rated, clock=clock)
    dispatcher.step()
    inbox.failing = True
    failures = FAILURES.labels(stage="send")._value.get()
    clock.now = local("2026-11-30T07:00")
    assert dispatcher.step() == 0
    (row,) = rows(rated)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, clock.now + timedelta(seconds=60))
    assert "451" in (row.last_error or "") and FAILURES.labels(stage="send")._value.get() == failures + 1

    with session_scope(rated) as session:  # what a supervisor sees
        token = create_token(session, name="viewer", role="viewer")
    client = TestClient(create_app(Settings(data_dir=tmp_path), rated))
    answer = client.get("/api/v1/reports/dispatches", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    page = TypeAdapter(ReportDispatchPage).validate_python(answer.json())
    assert page.unsent == 1 and [(i.period, i.status, i.attempts) for i in page.items] == [("2026-W48", "pending", 1)]
    assert "451" in (page.items[0].last_error or "") and page.items[0].addresses == []
    assert client.get("/api/v1/reports/dispatches").status_code == 401

    clock.now += timedelta(seconds=30)  # not due again yet
    dispatcher.step()
    assert inbox.refused == 1
    clock.now += timedelta(seconds=31)  # due, still failing: backs off to 120 s
    dispatcher.step()
    (row,) = rows(rated)
    assert inbox.refused == 2 and row.attempts == 2 and row.next_attempt_at == clock.now + timedelta(seconds=120)

    inbox.failing = False
    clock.now += timedelta(seconds=121)
    assert dispatcher.step() == 1
    assert dispatcher.step() == 0
    (row,) = rows(rated)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("sent", 3, None, clock.now)
    assert len(inbox.messages) == 1
    page = TypeAdapter(ReportDispatchPage).validate_python(
        client.get("/api/v1/reports/dispatches", headers={"Authorization": f"Bearer {token}"}).json())
    assert page.unsent == 0 and page.items[0].addresses == [TP] and page.items[0].next_attempt_at is None


def test_two_collectors_on_one_database_send_each_report_once(
    rated: Any, smtp: tuple[Inbox, int], inbox: Inbox, certificate: Path, tmp_path: Path,
) -> None:
    settings = settings_for(smtp, certificate, tmp_path, {"department:TP": [TP], "department:XD": ["xd@example.org"]})
    clock = Clock(local("2026-11-24T09:00"))
    both = [ReportDispatcher(settings, rated, clock=clock) for _ in range(2)]
    both[1].worker += "-second"
    both[0].step()
    clock.now = local("2026-11-30T07:00")
    start = threading.Barrier(2)
    sent: list[int] = []

    def run(dispatcher: ReportDispatcher) -> None:
        start.wait(5)
        sent.append(dispatcher.step())

    threads = [threading.Thread(target=run, args=(dispatcher,)) for dispatcher in both]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(sent) == 2
    assert sorted(mail["X-Envelope-To"] for mail in inbox.messages) == [TP, "xd@example.org"]
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(rated))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the logic alike on both: see the two collectors
def test_a_claim_left_by_a_sender_that_died_is_sent_after_its_lease(
    rated: Any, smtp: tuple[Inbox, int], inbox: Inbox, certificate: Path, tmp_path: Path,
) -> None:
    settings = settings_for(smtp, certificate, tmp_path, {"*": [CENTER]})
    clock = Clock(local("2026-11-24T09:00"))
    dispatcher = ReportDispatcher(settings, rated, clock=clock)
    dispatcher.step()
    clock.now = local("2026-11-30T07:00")
    dispatcher.enqueue_due()
    (row,) = rows(rated)
    with session_scope(rated) as session:  # claimed, then the process was killed before it marked it
        assert dispatch_store.claim(session, row.id or 0, clock.now, "dead-host:1") is not None
    clock.now += dispatch_store.CLAIM_LEASE - timedelta(seconds=1)
    assert dispatcher.step() == 0 and inbox.messages == []  # it may still be sending
    clock.now += timedelta(seconds=2)
    assert dispatcher.step() == 1
    (row,) = rows(rated)
    assert (row.status, row.attempts, row.claimed_by) == ("sent", 2, dispatcher.worker)
    (mail,) = inbox.messages
    assert mail["Message-ID"] == row.message_id  # the same at every attempt: a duplicate is recognisable


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the logic alike on both: see the two collectors
def test_a_new_group_gets_the_reports_from_when_it_was_added(registered: Any, smtp: tuple[Inbox, int],
                                                             certificate: Path, tmp_path: Path) -> None:
    clock = Clock(local("2026-11-24T09:00"))
    ReportDispatcher(settings_for(smtp, certificate, tmp_path, {"*": [CENTER]}), registered, clock=clock).enqueue_due()
    clock.now = local("2026-11-29T09:00")
    ReportDispatcher(settings_for(smtp, certificate, tmp_path, {"*": [CENTER], "site:HCM": [TP]}), registered,
                     clock=clock).enqueue_due()
    with Session(registered) as session:
        began = {r.recipients: r.began_at for r in session.exec(select(ReportSchedule)).all()}
    assert began == {"*": local("2026-11-24T09:00"), "site:HCM": local("2026-11-29T09:00")}


@pytest.mark.parametrize(("value", "says"), [
    ("not json", "not JSON"),
    ('["a@example.org"]', "must be a JSON object"),
    ('{"team:TP": ["a@example.org"]}', '"site:<code>" or "department:<code>"'),
    ('{"*": []}', "non-empty list"),
    ('{"*": ["a@example.org, b@example.org"]}', "not a plain e-mail address"),
    ('{"*": ["a@example.org\\nBcc: x@example.org"]}', "not a plain e-mail address"),
    ('{"*": {"to": ["a@example.org"], "lang": "fr"}}', "lang must be one of vi, en"),
    ('{"*": {"to": ["a@example.org"], "cc": []}}', "unknown keys"),
])
def test_a_bad_recipient_setting_is_refused_with_the_reason(tmp_path: Path, value: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(data_dir=tmp_path, alert_smtp_host="127.0.0.1", report_mail_to=value)


def test_the_collector_refuses_to_start_with_recipients_and_no_relay(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "RATING_DATA_DIR": str(tmp_path),
           "RATING_REPORT_MAIL_TO": '{"*": ["a@example.org"]}'}
    done = subprocess.run([str(REPO / ".venv/bin/rating-collector"), "migrate"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "RATING_REPORT_MAIL_TO needs an SMTP relay: set RATING_ALERT_SMTP_HOST" in " ".join(done.stderr.split())


def test_the_collector_process_mails_the_reports_due(
    collector_process: Any, wait_for: Any, smtp: tuple[Inbox, int], inbox: Inbox, certificate: Path,
    stack_dir: Path, tmp_path: Path,
) -> None:
    """The serving collector, on the real clock: a schedule begun a week ago has last Monday's week
    and the last 1st's month due, and mails them."""
    from tests.helpers.registry import TEST_REGISTRY, load_registry_into

    url = f"sqlite:///{stack_dir / 'collector.sqlite3'}"
    load_registry_into(url, TEST_REGISTRY, tmp_path)
    engine = make_engine(url)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        session.add(ReportSchedule(recipients="*", began_at=now - timedelta(days=7)))
    collector_process(db_url=url, registry=None, report_mail_to=json.dumps({"*": [CENTER]}), report_mail_tick_s=0.5,
                      alert_smtp_host="127.0.0.1", alert_smtp_port=smtp[1], alert_smtp_cafile=certificate)
    expected = {(r.kind, r.period) for r in dispatch_store_due(now)}
    # sent: marked so after the relay took it, a moment after it is in the mailbox
    wait_for(lambda: {(r.kind, r.period, r.status) for r in rows(engine)} == {(k, p, "sent") for k, p in expected},
             timeout=60, what=f"the reports {expected} sent")
    assert len(inbox.messages) == len(expected)
    assert {name for mail in inbox.messages for name in attachments(mail)} == {
        f"bao-cao-{period}.{fmt}" for _, period in expected for fmt in ("pdf", "xlsx")}
    engine.dispose()


def dispatch_store_due(now: datetime) -> list[Any]:
    from datetime import time

    from collector.report_schedule import due_reports

    return due_reports(now, TZ, time(7, 0), now - timedelta(days=7), set())
