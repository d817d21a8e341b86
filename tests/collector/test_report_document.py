"""Reports as official documents: the PDF (WeasyPrint) read back as text and fonts, the heading and
signer's block from the settings, per counter rows and the no-officer row, rates with their sample
size, interval and few-ratings mark, the yearly officer review's ranks, XLSX outline and codes, and
the installed command writing a PDF."""

from __future__ import annotations

import io
import json
import os
import subprocess
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import Session

from collector.clock import utc_ms
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.registry import load_registry
from collector.reports import Heading, build_report, build_review, render
from collector.settings import Settings
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"
REPO = Path(__file__).resolve().parents[2]
HEADING_ENV = {
    "RATING_REPORT_GOVERNING_BODY": "UBND TỈNH BÌNH DƯƠNG",
    "RATING_REPORT_SYMBOL": "BC-TTHCC",
    "RATING_REPORT_PLACE": "Thủ Dầu Một",
    "RATING_REPORT_SIGNER_TITLE": "Giám đốc",
    "RATING_REPORT_SIGNER_NAME": "Lê Thị Hồng Nhung",
    "RATING_REPORT_RECIPIENTS": "Chủ tịch UBND tỉnh;Lưu: VT",
}


def at(day: int, hour: int, month: int = 11) -> int:
    return utc_ms(datetime(2026, month, day, hour, 0, tzinfo=UTC) - timedelta(hours=7))  # a local hour


def fill_center(engine: Any, registry: dict[str, Any], tmp: Path, make_press: Callable[..., dict[str, Any]]) -> None:
    """Sở Tư pháp (TP): counter 17 with cb001, 300 ratings at 99%; counter 19 with cb003, 3 of 3
    satisfied; counter 20 with nobody on duty, 2 ratings. Sở Xây dựng: counter 18, one in October."""
    registry["counters"] += [{"code": "19", "name": "Quầy 19", "department": "TP", "scale": "sat2"},
                             {"code": "20", "name": "Quầy 20", "department": "TP", "scale": "sat2"}]
    registry["boxes"] += [{"box": "box-019", "counter": "19"}, {"box": "box-020", "counter": "20"}]
    registry["officers"].append({"code": "cb003", "name": "Phạm Quốc Hưng", "department": "TP"})
    registry["officer_assignments"].append({"officer": "cb003", "counter": "19", "from": "2020-01-01"})
    path = tmp / "registry.json"
    path.write_text(json.dumps(registry), encoding="utf-8")
    presses = [make_press(seq=i, t=at(2 + i % 20, 8 + i % 8), level=0 if i <= 3 else 1) for i in range(1, 301)]
    presses += [make_press(box="box-019", counter="19", seq=i, t=at(10, 9 + i)) for i in range(1, 4)]
    presses += [make_press(box="box-020", counter="20", seq=i, t=at(12, 9 + i)) for i in range(1, 3)]
    presses.append(make_press(box="box-018", seq=1, t=at(5, 9, month=10), scale="vn3", level=2))
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(),
                                            datetime.now(UTC))) for p in presses], TZ)


@pytest.fixture
def center(sqlite_url: str, stack_dir: Path, test_registry: dict[str, Any],
           make_press: Callable[..., dict[str, Any]]) -> Any:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    fill_center(engine, test_registry, stack_dir, make_press)
    yield engine
    engine.dispose()


def heading() -> Heading:
    fields: dict[str, Any] = {k[len("RATING_"):].lower(): v for k, v in HEADING_ENV.items()}
    return Heading.from_settings(Settings(**fields), issued=date(2026, 12, 2))


def pdf_text(pdf: bytes) -> str:
    return unicodedata.normalize("NFC", "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def test_counter_rows_and_the_no_officer_row(center: Any) -> None:
    with Session(center) as session:
        report = build_report(session, "2026-11")
    tp = report.sections[0]
    assert [(r.level, r.code, r.figures["total"]) for r in tp.officers] == [
        ("officer", "cb001", 300), ("officer", "cb003", 3), ("no_officer", "", 2)]
    assert [(r.code, r.name, r.figures["total"]) for r in tp.counters] == [
        ("17", "Quầy 17", 300), ("19", "Quầy 19", 3), ("20", "Quầy 20", 2)]
    assert tp.department.figures["total"] == 305 and report.total.figures["total"] == 305
    cb003 = tp.officers[1].figures
    assert cb003["few_ratings"] and cb003["satisfaction_rate"] == 1.0 and cb003["rate_low"] < 0.5


def test_pdf_reads_as_an_official_document_in_vietnamese(center: Any) -> None:
    with Session(center) as session:
        pdf = render(build_report(session, "2026-11"), "pdf", "vi", heading())
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in ("UBND TỈNH BÌNH DƯƠNG", "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG", "Số: ....../BC-TTHCC",
                     "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                     "Thủ Dầu Một, ngày 02 tháng 12 năm 2026", "BÁO CÁO",
                     "Kết quả đánh giá mức độ hài lòng của người dân, doanh nghiệp", "Tỷ lệ hài lòng",
                     "Khoảng tin cậy 95%", "Nơi nhận:", "- Chủ tịch UBND tỉnh;", "- Lưu: VT.", "GIÁM ĐỐC",
                     "Lê Thị Hồng Nhung", "Nguyễn Văn A", "Phạm Quốc Hưng", "Quầy 19", "Quầy 20",
                     "Không có cán bộ trực"):
        assert expected in text, expected
    assert "(không xác định)" not in text
    assert "99,0%" in text and "97,1-99,7%" in text  # cb001: 297 of 300, with its Wilson interval
    assert "100,0%*" in text and "(*) Dưới 30 phiếu" in text  # 3 of 3: marked, not hidden


def test_pdf_embeds_vietnamese_capable_fonts(center: Any) -> None:
    with Session(center) as session:
        pdf = render(build_report(session, "2026-11"), "pdf", "en", heading())
    reader = PdfReader(io.BytesIO(pdf))
    fonts = {str(font.get_object()["/BaseFont"]).split("+")[-1]
             for page in reader.pages for font in page["/Resources"]["/Font"].values()}  # type: ignore[index]
    assert fonts and all(name.startswith("Liberation-Serif") for name in fonts), fonts
    text = pdf_text(pdf)
    assert "SOCIALIST REPUBLIC OF VIETNAM" in text and "No officer on duty" in text
    assert "Phạm Quốc Hưng" in text  # Vietnamese names in the English report too


def test_html_carries_the_same_heading(center: Any) -> None:
    with Session(center) as session:
        html = render(build_report(session, "2026-11"), "html", "vi", heading()).decode()
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in html and "Lê Thị Hồng Nhung" in html
    assert '"Liberation Serif"' in html and "A4" in html


def test_date_of_issue_writes_a_zero_before_days_below_10_and_months_below_3() -> None:
    base = heading()
    assert Heading(**{**base.__dict__, "issued": date(2027, 2, 5)}).place_and_date("vi") == \
        "Thủ Dầu Một, ngày 05 tháng 02 năm 2027"
    assert Heading(**{**base.__dict__, "issued": date(2026, 11, 20), "place": ""}).place_and_date("vi") == \
        "......, ngày 20 tháng 11 năm 2026"


def test_review_ranks_by_the_lower_end_of_the_interval(engine: Any, stack_dir: Path,
                                                       test_registry: dict[str, Any],
                                                       make_press: Callable[..., dict[str, Any]]) -> None:
    fill_center(engine, test_registry, stack_dir, make_press)
    with Session(engine) as session:
        review = build_review(session, 2026)
    tp = next(s for s in review.sections if s.code == "TP")
    ranked = [(o.code, o.rank, o.year["total"], o.year["satisfaction_rate"], o.year["few_ratings"])
              for o in tp.officers]
    assert ranked == [("cb001", 1, 300, 0.99, False), ("cb003", 2, 3, 1.0, True)]  # 3 at 100% below 300 at 99%
    cb001 = tp.officers[0]
    assert [m["total"] for m in cb001.months] == [0] * 10 + [300, 0]
    assert cb001.year["rate_low"] == 0.971 and cb001.year["rate_high"] == 0.9966
    xd = next(s for s in review.sections if s.code == "XD")
    assert [(o.code, o.rank, o.year["total"]) for o in xd.officers] == [("cb002", 1, 1)]  # the October rating


def test_review_as_pdf_and_xlsx(center: Any, tmp_path: Path) -> None:
    with Session(center) as session:
        review = build_review(session, 2026)
    text = pdf_text(render(review, "pdf", "vi", heading()))
    assert "Kết quả đánh giá mức độ hài lòng đối với từng công chức tiếp nhận năm 2026" in text
    assert "Xếp hạng trong đơn vị" in text and "Lê Thị Hồng Nhung" in text
    path = tmp_path / "review.xlsx"
    path.write_bytes(render(review, "xlsx", "en"))
    sheet = load_workbook(path).active
    assert sheet is not None
    rows = {row[1].value: (row, sheet.row_dimensions[row[0].row or 0].outline_level)
            for row in sheet.iter_rows(min_row=4) if row[1].value}
    cb003, level = rows["cb003"]
    assert level == 1 and cb003[0].value == "TP" and cb003[2].value == "Phạm Quốc Hưng"
    assert [c.value for c in cb003[-6:]] == [3, 1.0, pytest.approx(0.4385, abs=1e-4), 1.0, "*", 2]


def test_xlsx_has_code_columns_and_an_outline(center: Any, tmp_path: Path) -> None:
    with Session(center) as session:
        report = build_report(session, "2026-11")
    path = tmp_path / "month.xlsx"
    path.write_bytes(render(report, "xlsx", "vi"))
    sheet = load_workbook(path).active
    assert sheet is not None
    header = [c.value for c in sheet[4]]
    assert header[3:6] == ["Mã đơn vị", "Mã công chức", "Mã quầy"]
    lines = [([c.value for c in row], sheet.row_dimensions[row[0].row or 0].outline_level)
             for row in sheet.iter_rows(min_row=6) if row[2].value is not None]
    named = {values[1]: (values, level) for values, level in lines}
    department, level = named["Sở Tư pháp"]
    assert level == 0 and department[3] == "TP" and department[2] == 305
    officer, level = named["Phạm Quốc Hưng"]
    assert level == 1 and officer[3:6] == ["TP", "cb003", None] and officer[-4] == "*"  # then rate, change, downtime
    counter, level = named["Quầy 20"]
    assert level == 1 and counter[3:6] == ["TP", None, "20"] and counter[2] == 2
    nobody, level = named["Không có cán bộ trực"]
    assert level == 1 and nobody[2] == 2
    assert not any(isinstance(v, str) and v.startswith(" ") for values, _ in lines for v in values)


def test_installed_command_writes_a_pdf(center: Any, sqlite_url: str, stack_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, **HEADING_ENV, "RATING_DATABASE_URL": sqlite_url, "RATING_DATA_DIR": str(stack_dir)}
    command = str(REPO / ".venv" / "bin" / "rating-collector")
    month = tmp_path / "2026-11.pdf"
    done = subprocess.run([command, "report", "--month", "2026-11", "--format", "pdf", "-o", str(month)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    text = pdf_text(month.read_bytes())
    assert "Lê Thị Hồng Nhung" in text and "Quầy 20" in text and "UBND TỈNH BÌNH DƯƠNG" in text
    review = tmp_path / "review.pdf"
    done = subprocess.run([command, "report", "--review", "2026", "--format", "pdf", "-o", str(review)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Phạm Quốc Hưng" in pdf_text(review.read_bytes())
    helped = subprocess.run([command, "report", "--help"], env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert "--review" in helped.stdout and "pdf" in helped.stdout
