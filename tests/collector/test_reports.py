"""Weekly and monthly reports: the numbers, the layout in three formats, both languages, escaping,
and the command that writes one without the server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from collector.app import create_app
from collector.auth import create_token
from collector.clock import utc_ms
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.registry import load_registry
from collector.reports import build_report, render
from collector.settings import Settings
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"
EVIL = "<script>alert('x')</script>=1+2"


def at(day: int, hour: int, month: int = 11) -> int:
    return utc_ms(datetime(2026, month, day, hour, 0, tzinfo=UTC) - timedelta(hours=7))  # a local hour


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.helpers.presses import press_payload
    from tests.helpers.registry import TEST_REGISTRY

    tmp = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{tmp / 'collector.sqlite3'}"
    registry = json.loads(json.dumps(TEST_REGISTRY))
    registry["officers"][1]["name"] = EVIL  # officer cb002 at counter 18 (XD)
    path = tmp / "registry.json"
    path.write_text(json.dumps(registry))
    # ISO week 2026-W48 is Mon 23 - Sun 29 November; W47 is 16-22 November.
    payloads = [
        press_payload(seq=1, t=at(23, 8), level=1), press_payload(seq=2, t=at(24, 9), level=1),
        press_payload(seq=3, t=at(25, 10), level=0), press_payload(seq=4, t=at(25, 10), level=1,
                                                                   flags=["suppressed"]),
        press_payload(seq=5, t=at(17, 8), level=0),  # W47: the previous week
        press_payload(box="box-018", seq=1, t=at(23, 14), scale="vn3", level=2),
        press_payload(box="box-018", seq=2, t=at(29, 23), scale="vn3", level=0),  # Sunday 23:00 local: still W48
        press_payload(box="box-018", seq=3, t=at(30, 6), scale="vn3", level=1),  # Monday 30th: W49
    ]
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), datetime.now(UTC)))
                              for p in payloads], TZ)
        token = create_token(session, name="viewer", role="viewer")
    yield {"engine": engine, "url": url, "token": token, "tmp": tmp}
    engine.dispose()


def test_weekly_numbers(db: dict[str, Any]) -> None:
    from sqlmodel import Session

    with Session(db["engine"]) as session:
        report = build_report(session, "2026-W48")
    assert (report.first.isoformat(), report.last.isoformat()) == ("2026-11-23", "2026-11-29")
    assert report.keys == ["very_satisfied", "satisfied", "unsatisfied"]
    tp, xd = report.sections
    assert tp.department.code == "TP" and tp.department.figures["total"] == 3
    assert tp.department.figures["satisfaction_rate"] == 0.6667
    assert tp.department.previous["total"] == 1 and tp.department.previous["satisfaction_rate"] == 0.0
    assert tp.department.change["satisfaction_rate"] == 0.6667
    assert [o.code for o in tp.officers] == ["cb001"]
    assert xd.department.figures["total"] == 2 and xd.officers[0].name == EVIL
    assert [lv["count"] for lv in xd.department.figures["levels"]] == [1, 0, 1]
    assert report.total.figures["total"] == 5


def test_monthly_with_flagged_presses(db: dict[str, Any]) -> None:
    from sqlmodel import Session

    with Session(db["engine"]) as session:
        plain = build_report(session, "2026-11")
        everything = build_report(session, "2026-11", include=frozenset({"suppressed"}))
    assert plain.total.figures["total"] == 7 and everything.total.figures["total"] == 8
    assert (plain.previous_first.isoformat(), plain.previous_last.isoformat()) == ("2026-10-01", "2026-10-31")


def test_html_is_printable_and_escaped(db: dict[str, Any]) -> None:
    from sqlmodel import Session

    with Session(db["engine"]) as session:
        report = build_report(session, "2026-W48")
    vi = render(report, "html", "vi").decode()
    assert "BÁO CÁO TUẦN" in vi and "Tỷ lệ hài lòng" in vi and "Công chức tiếp nhận" in vi
    assert "Tuần 48/2026 (từ 23/11/2026 đến 29/11/2026)" in vi
    assert "66,7%" in vi and "@page" in vi and "A4" in vi
    assert "<script>alert" not in vi and "&lt;script&gt;alert" in vi
    en = render(report, "html", "en").decode()
    assert "WEEKLY REPORT" in en and "Satisfaction rate" in en and "66.7%" in en


def test_csv_and_xlsx(db: dict[str, Any], tmp_path: Path) -> None:
    from sqlmodel import Session

    with Session(db["engine"]) as session:
        report = build_report(session, "2026-W48")
    rows = list(csv.reader(io.StringIO(render(report, "csv", "en").decode("utf-8-sig"))))
    header = rows[1]
    assert header[:5] == ["Level", "Unit", "Code", "Name", "Total ratings"]
    officer = next(r for r in rows[2:] if r[2] == "cb002")
    assert officer[3].startswith("<script>")  # data, shown as is in a spreadsheet...
    assert not any(cell.startswith("=") for r in rows for cell in r)  # ...but never a formula
    path = tmp_path / "r.xlsx"
    path.write_bytes(render(report, "xlsx", "vi"))
    sheet = load_workbook(path).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    flat = [v for row in values for v in row if v is not None]
    assert "Tổng số phiếu" in flat and "Rất hài lòng" in flat
    tp_row = next(row for row in values if row[1] == "Sở Tư pháp")
    assert tp_row[2] == 3 and tp_row[-2] == pytest.approx(0.6667)
    assert all(not (isinstance(v, str) and v.startswith("=")) or sheet.cell(1, 1).data_type == "s" for v in flat)


def test_report_over_http(db: dict[str, Any]) -> None:
    client = TestClient(create_app(Settings(data_dir=db["tmp"]), db["engine"]))
    headers = {"Authorization": f"Bearer {db['token']}"}
    html = client.get("/api/v1/reports/2026-W48", headers=headers)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    xlsx = client.get("/api/v1/reports/2026-11", params={"format": "xlsx", "lang": "en"}, headers=headers)
    assert xlsx.content[:2] == b"PK" and "report-2026-11.xlsx" in xlsx.headers["content-disposition"]
    assert client.get("/api/v1/reports/2026-11").status_code == 401


def test_pdf_report_and_officer_review_over_http(db: dict[str, Any]) -> None:
    settings = Settings(data_dir=db["tmp"], report_signer_name="Nguyễn Văn Giám")
    client = TestClient(create_app(settings, db["engine"]))
    headers = {"Authorization": f"Bearer {db['token']}"}
    pdf = client.get("/api/v1/reports/2026-11", params={"format": "pdf"}, headers=headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "bao-cao-2026-11.pdf" in pdf.headers["content-disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Nguyễn Văn Giám" in unicodedata.normalize("NFC", text)  # the app's own settings sign it
    review = client.get("/api/v1/reports/review/2026", params={"format": "csv", "lang": "en"}, headers=headers)
    assert review.status_code == 200 and "report-officer-review-2026.csv" in review.headers["content-disposition"]
    assert client.get("/api/v1/reports/review/1900", headers=headers).status_code == 422
    assert client.get("/api/v1/reports/review/2026").status_code == 401


def test_report_command_without_the_server(db: dict[str, Any], tmp_path: Path) -> None:
    env = {**os.environ, "RATING_DATABASE_URL": db["url"], "RATING_DATA_DIR": str(db["tmp"])}
    out = tmp_path / "week.xlsx"
    done = subprocess.run([sys.executable, "-m", "collector", "report", "--week", "2026-W48", "--format", "xlsx",
                           "-o", str(out)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert load_workbook(out).active is not None
    done = subprocess.run([sys.executable, "-m", "collector", "report", "--month", "2026-11", "--format", "csv",
                           "--lang", "en"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "Total ratings" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "collector", "report", "--week", "2026-11"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "2026-W48" in bad.stderr
