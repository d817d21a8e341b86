"""Box downtime beside the counter's figures: the spans a box was offline or silent, recorded by the
alerts' tick from the device table, counted in office hours only, shown per box in the devices API and
per counter in the report (PDF text, XLSX), so that "no ratings" and "box down" are told apart."""

from __future__ import annotations

import io
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import Session, col, select

from collector import downtime
from collector.alerts.evaluate import DeviceView
from collector.alerts.service import AlertService
from collector.app import create_app
from collector.auth import create_token
from collector.db import session_scope
from collector.models import BoxDowntime, Device
from collector.office_hours import OfficeHours
from collector.reports import Heading, build_report, render
from collector.settings import Settings
from tests.helpers.mail import Clock

TZ = "Asia/Ho_Chi_Minh"
MONDAY_9 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 09:00 local
OFFICE = OfficeHours()


def box(online: bool, last_seen: datetime, retired: bool = False) -> DeviceView:
    return DeviceView("box-017", "17", online, last_seen, 0, retired)


def observe(engine: Any, device: DeviceView, now: datetime) -> None:
    with session_scope(engine) as session:
        downtime.observe(session, [device], now)


def recorded(engine: Any) -> list[tuple[str, str, datetime, datetime | None]]:
    with Session(engine) as session:
        rows = session.exec(select(BoxDowntime).order_by(col(BoxDowntime.id))).all()
        return [(r.box, r.cause, r.started_at, r.ended_at) for r in rows]


def test_a_span_opens_when_the_box_goes_down_and_closes_when_it_is_back(registered: Any) -> None:
    observe(registered, box(True, MONDAY_9), MONDAY_9 + timedelta(minutes=1))
    assert recorded(registered) == []  # heard a minute ago: up
    observe(registered, box(False, MONDAY_9), MONDAY_9 + timedelta(minutes=1))  # its last will
    observe(registered, box(False, MONDAY_9), MONDAY_9 + timedelta(minutes=30))  # still the one span
    assert recorded(registered) == [("box-017", "offline", MONDAY_9, None)]
    back = MONDAY_9 + timedelta(hours=2)
    observe(registered, box(True, back), back)
    assert recorded(registered) == [("box-017", "offline", MONDAY_9, back)]
    # online but nothing for DOWN_AFTER: silent, from when it was last heard
    later = back + downtime.DOWN_AFTER
    observe(registered, box(True, back), later)
    observe(registered, box(True, back, retired=True), later + timedelta(minutes=5))  # replaced: closed
    assert recorded(registered)[1:] == [("box-017", "silent", back, later + timedelta(minutes=5))]


def test_only_office_hours_count_at_the_counter_the_box_was_at(registered: Any) -> None:
    with session_scope(registered) as session:
        for start, end in ((MONDAY_9, MONDAY_9 + timedelta(hours=2)),  # 09:00-11:00: 120 office minutes
                           (MONDAY_9 + timedelta(hours=10), MONDAY_9 + timedelta(hours=20)),  # the night: 0
                           (MONDAY_9 - timedelta(days=1), MONDAY_9 - timedelta(days=1, hours=-3))):  # Sunday: 0
            session.add(BoxDowntime(box="box-017", cause="offline", started_at=start, ended_at=end))
        session.add(BoxDowntime(box="box-018", cause="silent", started_at=MONDAY_9 + timedelta(hours=27)))  # open
    since, until = MONDAY_9 - timedelta(days=2), MONDAY_9 + timedelta(days=2)
    now = MONDAY_9 + timedelta(hours=28)  # Tuesday 13:00: box-018 down since 12:00, none of it office hours
    with Session(registered) as session:
        assert downtime.box_downtime(session, since, until, now, TZ, OFFICE) == {"box-017": 120, "box-018": 0}
        assert downtime.counter_downtime(session, since, until, now, TZ, OFFICE) == {"17": 120, "18": 0}
        later = now + timedelta(hours=2)  # 15:00: the open span has 90 office minutes now (13:30-15:00)
        assert downtime.counter_downtime(session, since, until, later, TZ, OFFICE)["18"] == 90
        # a period that cuts a span counts its part only
        assert downtime.box_downtime(session, MONDAY_9 + timedelta(hours=1), until, now, TZ, OFFICE)["box-017"] == 60


def pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(unicodedata.normalize("NFC", text).split())


def test_reports_and_the_devices_api_show_the_downtime(registered: Any, tmp_path: Path) -> None:
    with session_scope(registered) as session:
        session.add(BoxDowntime(box="box-017", cause="offline", started_at=MONDAY_9,
                                ended_at=MONDAY_9 + timedelta(hours=2, minutes=5)))
        session.add(Device(box="box-017", counter="17", online=True, last_seen=MONDAY_9 + timedelta(hours=3)))
        token = create_token(session, name="viewer", role="viewer")
    with Session(registered) as session:
        report = build_report(session, "2026-11", tz_name=TZ, office=OFFICE, as_of=MONDAY_9 + timedelta(days=1))
    counters = {row.code: row.down_minutes for section in report.sections for row in section.counters}
    assert counters == {"17": 125, "18": 0}  # no ratings at either: the report says which box was down
    assert all(r.down_minutes is None for s in report.sections for r in [s.department, *s.officers])
    text = pdf_text(render(report, "pdf", "vi", Heading.from_settings(Settings())))
    assert "Quầy 17 (thiết bị ngừng 2 giờ 05 phút)" in text and "Quầy 18 (thiết bị" not in text
    path = tmp_path / "report.xlsx"
    path.write_bytes(render(report, "xlsx", "en"))
    sheet = load_workbook(path).active
    assert sheet is not None
    header = [c.value for c in sheet[4]]
    column = header.index("Box down (office minutes)")
    rows = {row[1]: row[column] for row in sheet.iter_rows(min_row=6, values_only=True)}
    assert (rows["Quầy 17"], rows["Quầy 18"], rows["Sở Tư pháp"]) == (125, 0, None)

    client = TestClient(create_app(Settings(data_dir=tmp_path), registered))
    client.headers["Authorization"] = f"Bearer {token}"
    status = client.get("/api/v1/devices/status", params={"from": "2026-11-30", "to": "2026-11-30"}).json()
    assert (status["down_from"], status["down_to"]) == ("2026-11-30", "2026-11-30")
    assert {d["box"]: d["down_office_minutes"] for d in status["items"]} == {"box-017": 125, "box-018": 0}
    other_day = client.get("/api/v1/devices", params={"from": "2026-12-01", "to": "2026-12-01"}).json()
    assert [d["down_office_minutes"] for d in other_day] == [0]
    assert client.get("/api/v1/devices/status", params={"from": "2026-12-02", "to": "2026-12-01"}).status_code == 422


def test_the_alerts_tick_records_the_spans(registered: Any, tmp_path: Path) -> None:
    clock = Clock(MONDAY_9 + timedelta(minutes=10))
    with session_scope(registered) as session:
        session.add(Device(box="box-017", counter="17", online=False, last_seen=MONDAY_9))
    service = AlertService(Settings(data_dir=tmp_path), registered, clock=clock, channels={})
    service.load()
    service.step(force_tick=True)
    assert recorded(registered) == [("box-017", "offline", MONDAY_9, None)]
