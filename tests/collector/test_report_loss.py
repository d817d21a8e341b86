"""The report's loss line: every press the boxes numbered in the period accounted for, or which boxes
had gaps and how many, in the PDF (text extracted), the XLSX and the CSV alike."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import Session

from collector.clock import utc_ms
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.reports import Heading, build_report, render
from collector.settings import Settings
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"


def at(month: int, day: int) -> int:
    return utc_ms(datetime(2026, month, day, 2, 0, tzinfo=UTC))  # 09:00 local


def store(engine: Any, make_press: Any, box: str, seqs: list[int], month: int, **fields: Any) -> None:
    # November's presses over its days; December's on its first day (the test's data is not in the future)
    payloads = [make_press(box=box, seq=seq, t=at(month, 2 + seq % 20 if month == 11 else 1), **fields)
                for seq in seqs]
    with session_scope(engine) as session:
        store_batch(session, [check(Inbound(f"rating/{box}/press", json.dumps(p).encode(), datetime.now(UTC)))
                              for p in payloads], TZ)


@pytest.fixture
def center(registered: Any, make_press: Any) -> Iterator[Any]:
    """November: box-017 numbered 1..10 and 4 and 7 never came; box-018 numbered 1..3, all stored.
    December: box-017's seq 11 and 13 (12 lost). A rejected press is heard too: box-018's seq 2 is
    rejected (a level its scale lacks), so it is no gap."""
    store(registered, make_press, "box-017", [1, 2, 3, 5, 6, 8, 9, 10], 11)
    store(registered, make_press, "box-018", [1, 3], 11, scale="vn3", level=2)
    store(registered, make_press, "box-018", [2], 11, scale="vn3", level=7)
    store(registered, make_press, "box-017", [11, 13], 12)
    yield registered


def report(engine: Any, period: str) -> Any:
    with Session(engine) as session:
        return build_report(session, period)


def heading() -> Heading:
    return Heading.from_settings(Settings(), issued=date(2026, 12, 2))


def pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(unicodedata.normalize("NFC", text).split())


def test_the_period_s_gaps_are_counted_per_box(center: Any) -> None:
    november = report(center, "2026-11").loss
    assert (november.numbered, november.missing) == (13, {"box-017": 2})
    december = report(center, "2026-12").loss
    assert (december.numbered, december.missing) == (3, {"box-017": 1})  # 11..13 above November's 10
    assert report(center, "2026-10").loss.numbered == 0


def test_the_pdf_says_which_boxes_had_gaps_or_that_none_did(center: Any, make_press: Any) -> None:
    november = report(center, "2026-11")
    text = pdf_text(render(november, "pdf", "vi", heading()))
    assert "2 trong 13 lượt bấm của tháng chưa về máy chủ: thiết bị box-017 thiếu 2." in text
    assert ("2 of the 13 presses of the month never reached the collector: box box-017 missing 2."
            in pdf_text(render(november, "pdf", "en", heading())))
    store(center, make_press, "box-017", [4, 7], 11)  # the box sent them again
    text = pdf_text(render(report(center, "2026-11"), "pdf", "vi", heading()))
    assert "Tất cả 13 lượt bấm của tháng đều được ghi nhận." in text


def test_the_xlsx_and_csv_carry_the_same_line(center: Any, tmp_path: Any) -> None:
    november = report(center, "2026-11")
    path = tmp_path / "report.xlsx"
    path.write_bytes(render(november, "xlsx", "en"))
    sheet = load_workbook(path).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows(values_only=True) for cell in row if cell]
    assert "2 of the 13 presses of the month never reached the collector: box box-017 missing 2." in cells
    lines = list(csv.reader(io.StringIO(render(november, "csv", "vi").decode("utf-8-sig"))))
    assert lines[-1] == ["2 trong 13 lượt bấm của tháng chưa về máy chủ: thiết bị box-017 thiếu 2."]
