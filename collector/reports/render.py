"""A report as printable HTML (A4, print CSS), CSV or XLSX, with Vietnamese or English labels.

Every name from the registry is data, never markup: the HTML template autoescapes, CSV cells and XLSX
strings that a spreadsheet would read as a formula (= + - @) are written as text."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from collector.figures import level_labels
from collector.reports.build import Report, Row

FORMATS = ("html", "csv", "xlsx")
LANGS = ("vi", "en")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "title_week": "BÁO CÁO TUẦN", "title_month": "BÁO CÁO THÁNG", "title_quarter": "BÁO CÁO QUÝ",
        "title_year": "BÁO CÁO NĂM", "title_day": "BÁO CÁO NGÀY",
        "subtitle": "Kết quả đánh giá mức độ hài lòng của người dân, doanh nghiệp",
        "period_week": "Tuần", "period_month": "Tháng", "period_quarter": "Quý", "period_year": "Năm",
        "period_day": "Ngày",
        "from_to": "từ {first} đến {last}", "previous": "Kỳ trước", "unit": "Đơn vị",
        "officer": "Công chức tiếp nhận", "total_ratings": "Tổng số phiếu", "count": "Số phiếu",
        "share": "Tỷ lệ", "rate": "Tỷ lệ hài lòng", "change": "So với kỳ trước", "grand_total": "Tổng cộng",
        "nobody": "(không xác định)", "no_unit": "(chưa xác định đơn vị)", "site": "Trung tâm",
        "excluded": "Không tính các lượt bấm bị chặn (bấm liên tục) và lượt thử.",
        "included": "Có tính: {what}.", "generated": "Lập lúc", "points": "điểm %",
        "level": "Cấp", "kind_department": "Đơn vị", "kind_officer": "Công chức", "kind_total": "Tổng",
        "code": "Mã", "name": "Tên", "index": "Chỉ số (0-100)", "previous_rate": "Tỷ lệ hài lòng kỳ trước",
    },
    "en": {
        "title_week": "WEEKLY REPORT", "title_month": "MONTHLY REPORT", "title_quarter": "QUARTERLY REPORT",
        "title_year": "ANNUAL REPORT", "title_day": "DAILY REPORT",
        "subtitle": "Citizen and business satisfaction ratings",
        "period_week": "Week", "period_month": "Month", "period_quarter": "Quarter", "period_year": "Year",
        "period_day": "Day",
        "from_to": "{first} to {last}", "previous": "Previous period", "unit": "Unit",
        "officer": "Receiving officer", "total_ratings": "Total ratings", "count": "Count", "share": "%",
        "rate": "Satisfaction rate", "change": "Change vs previous", "grand_total": "Total",
        "nobody": "(no officer on duty)", "no_unit": "(no unit)", "site": "Center",
        "excluded": "Suppressed (repeated) and test presses are not counted.",
        "included": "Counted as well: {what}.", "generated": "Generated", "points": "pp",
        "level": "Level", "kind_department": "Unit", "kind_officer": "Officer", "kind_total": "Total",
        "code": "Code", "name": "Name", "index": "Index (0-100)", "previous_rate": "Previous satisfaction rate",
    },
}


def _date(day: Any, lang: str) -> str:
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def period_label(report: Report, lang: str) -> str:
    words = WORDS[lang]
    name = report.period
    if report.kind == "week":
        year, week = report.period.split("-W")
        name = f"{int(week)}/{year}"
    elif report.kind == "month":
        year, month = report.period.split("-")
        name = f"{int(month)}/{year}" if lang == "vi" else report.period
    elif report.kind == "quarter":
        year, quarter = report.period.split("-Q")
        name = f"{quarter}/{year}" if lang == "vi" else report.period
    span = words["from_to"].format(first=_date(report.first, lang), last=_date(report.last, lang))
    return f"{words['period_' + report.kind]} {name} ({span})"


def _percent(value: float | None, lang: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"
    return (text.replace(".", ",") if lang == "vi" else text) + ("" if signed else "%")


def _name(row: Row, lang: str) -> str:
    if row.level == "officer" and not row.name:
        return WORDS[lang]["nobody"]
    if row.level == "department" and not row.name:
        return WORDS[lang]["no_unit"]
    return row.name


def _context(report: Report, lang: str) -> dict[str, Any]:
    words = WORDS[lang]
    labels = level_labels()
    return {
        "report": report, "w": words, "lang": lang,
        "title": words["title_" + report.kind],
        "period": period_label(report, lang),
        "previous": words["from_to"].format(first=_date(report.previous_first, lang),
                                            last=_date(report.previous_last, lang)),
        "level_names": [labels[k][0 if lang == "vi" else 1] for k in report.keys],
        "pct": lambda v, signed=False: _percent(v, lang, signed),
        "name": lambda row: _name(row, lang),
        "included": ", ".join(report.include),
    }


def render_html(report: Report, lang: str) -> str:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html").render(**_context(report, lang))


def _rows(report: Report) -> list[Row]:
    rows: list[Row] = []
    for section in report.sections:
        rows.append(section.department)
        rows.extend(section.officers)
    rows.append(report.total)
    return rows


def _text_cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: keep it text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def render_csv(report: Report, lang: str) -> bytes:
    words = WORDS[lang]
    labels = level_labels()
    level_names = [labels[k][0 if lang == "vi" else 1] for k in report.keys]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([period_label(report, lang)])
    header = [words["level"], words["unit"], words["code"], words["name"], words["total_ratings"]]
    for level in level_names:
        header += [f"{level} - {words['count']}", f"{level} - {words['share']}"]
    header += [words["rate"], words["index"], words["previous_rate"], words["change"]]
    writer.writerow(header)
    department = ""
    for row in _rows(report):
        if row.level == "department":
            department = row.code
        figures = row.figures
        line: list[Any] = [words["kind_" + row.level], department if row.level != "total" else "", row.code,
                           _name(row, lang) if row.level != "total" else words["grand_total"], figures["total"]]
        for level in figures["levels"]:
            line += [level["count"], "" if level["share"] is None else f"{level['share']:.4f}"]
        rate, before = figures["satisfaction_rate"], row.previous["satisfaction_rate"]
        delta = row.change["satisfaction_rate"]
        line += ["" if rate is None else f"{rate:.4f}", "" if figures["index"] is None else figures["index"],
                 "" if before is None else f"{before:.4f}", "" if delta is None else f"{delta:+.4f}"]
        writer.writerow([_text_cell(cell) for cell in line])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def render_xlsx(report: Report, lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    words = WORDS[lang]
    labels = level_labels()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = report.period
    levels = len(report.keys)
    last_col = 3 + 2 * levels + 2
    thin = Side(style="thin", color="888888")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    bold = Font(bold=True)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def put(r: int, c: int, value: Any, **style: Any) -> Any:
        cell = sheet.cell(row=r, column=c)
        cell.value = value
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"  # never a formula: names are data
        for name, setting in style.items():
            setattr(cell, name, setting)
        return cell

    put(1, 1, f"{words['title_' + report.kind]} - {words['subtitle']}", font=Font(bold=True, size=14))
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=last_col)
    put(2, 1, period_label(report, lang))
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=last_col)
    put(4, 1, "#", font=bold, alignment=center, border=box)
    put(4, 2, f"{words['unit']} / {words['officer']}", font=bold, alignment=center, border=box)
    put(4, 3, words["total_ratings"], font=bold, alignment=center, border=box)
    for i, key in enumerate(report.keys):
        col = 4 + 2 * i
        put(4, col, labels[key][0 if lang == "vi" else 1], font=bold, alignment=center, border=box)
        sheet.merge_cells(start_row=4, start_column=col, end_row=4, end_column=col + 1)
        put(5, col, words["count"], font=bold, alignment=center, border=box)
        put(5, col + 1, words["share"], font=bold, alignment=center, border=box)
    put(4, last_col - 1, words["rate"], font=bold, alignment=center, border=box)
    put(4, last_col, words["change"], font=bold, alignment=center, border=box)
    for col in (1, 2, 3, last_col - 1, last_col):
        sheet.merge_cells(start_row=4, start_column=col, end_row=5, end_column=col)
    shade = PatternFill("solid", fgColor="DDE6F0")
    r = 6
    number = 0
    for row in _rows(report):
        is_group = row.level != "officer"
        if row.level == "department":
            number += 1
        label = words["grand_total"] if row.level == "total" else _name(row, lang)
        put(r, 1, number if row.level == "department" else None, border=box)
        put(r, 2, label if is_group else "    " + label, border=box, font=Font(bold=is_group))
        put(r, 3, row.figures["total"], border=box, font=Font(bold=is_group))
        for i, level in enumerate(row.figures["levels"]):
            put(r, 4 + 2 * i, level["count"], border=box)
            put(r, 5 + 2 * i, level["share"], border=box, number_format="0.0%")
        put(r, last_col - 1, row.figures["satisfaction_rate"], border=box, number_format="0.0%",
            font=Font(bold=True))
        put(r, last_col, row.change["satisfaction_rate"], border=box, number_format="+0.0%;-0.0%;0.0%")
        if is_group:
            for c in range(1, last_col + 1):
                sheet.cell(row=r, column=c).fill = shade
        r += 1
    note = words["excluded"] if not report.include else words["included"].format(what=", ".join(report.include))
    put(r + 1, 1, note)
    widths = {1: 5, 2: 42, 3: 12}
    for c in range(1, last_col + 1):
        sheet.column_dimensions[get_column_letter(c)].width = widths.get(c, 11)
    sheet.freeze_panes = "C6"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.print_title_rows = "4:5"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(report: Report, fmt: str, lang: str = "vi") -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    if fmt == "html":
        return render_html(report, lang).encode("utf-8")
    if fmt == "csv":
        return render_csv(report, lang)
    return render_xlsx(report, lang)


def filename(report: Report, fmt: str, lang: str) -> str:
    prefix = {"vi": "bao-cao", "en": "report"}[lang]
    return f"{prefix}-{report.period}.{fmt}"
