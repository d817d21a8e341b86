"""A report or a review as an XLSX workbook: code columns and plain names, the hierarchy as the
rows' outline level (a department's officers and counters fold under it), printed on A4."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import Outline, PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from collector.figures import level_labels
from collector.reports.build import Report
from collector.reports.layout import loss_text, period_label, report_rows
from collector.reports.review import Review
from collector.reports.words import WORDS, row_name

THIN = Side(style="thin", color="888888")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
BOLD = Font(bold=True)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
SHADE = PatternFill("solid", fgColor="DDE6F0")
PERCENT = "0.0%"


def _put(sheet: Worksheet, r: int, c: int, value: Any, **style: Any) -> Any:
    cell = sheet.cell(row=r, column=c)
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # never a formula: names are data
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _print_setup(sheet: Worksheet, title_rows: str) -> None:
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.sheet_properties.outlinePr = Outline(summaryBelow=False)  # a department's row is above its rows
    sheet.print_title_rows = title_rows


def _saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render_xlsx(report: Report, lang: str) -> bytes:
    """Columns: #, name, total, department / officer / counter codes, count and share per level, the
    rate's 95% interval and few-ratings mark, the rate, its change, a counter's box downtime."""
    words = WORDS[lang]
    labels = level_labels()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = report.period
    first_level = 7
    after_levels = first_level + 2 * len(report.keys)
    last_col = after_levels + 4
    down_col = last_col + 1  # a counter's box downtime, in office minutes
    _put(sheet, 1, 1, f"{words['title_' + report.kind]} - {words['subtitle']}", font=Font(bold=True, size=14))
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=last_col)
    _put(sheet, 2, 1, period_label(report, lang))
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=last_col)
    single = {1: "#", 2: f"{words['unit']} / {words['officer']} / {words['counter']}", 3: words["total_ratings"],
              4: words["department_code"], 5: words["officer_code"], 6: words["counter_code"],
              after_levels: words["rate_low"], after_levels + 1: words["rate_high"],
              after_levels + 2: words["few_ratings"], after_levels + 3: words["rate"], last_col: words["change"],
              down_col: words["down_minutes"]}
    for col, text in single.items():
        _put(sheet, 4, col, text, font=BOLD, alignment=CENTER, border=BOX)
        sheet.merge_cells(start_row=4, start_column=col, end_row=5, end_column=col)
    for i, key in enumerate(report.keys):
        col = first_level + 2 * i
        _put(sheet, 4, col, labels[key][0 if lang == "vi" else 1], font=BOLD, alignment=CENTER, border=BOX)
        sheet.merge_cells(start_row=4, start_column=col, end_row=4, end_column=col + 1)
        _put(sheet, 5, col, words["count"], font=BOLD, alignment=CENTER, border=BOX)
        _put(sheet, 5, col + 1, words["share"], font=BOLD, alignment=CENTER, border=BOX)
    r = 6
    number = 0
    department = ""
    for row in report_rows(report):
        is_group = row.level in ("department", "total")
        if row.level == "department":
            number += 1
            department = row.code
        figures = row.figures
        codes = {"officer": (row.code, ""), "no_officer": ("", ""), "counter": ("", row.code)}.get(row.level, ("", ""))
        font = Font(bold=is_group)
        _put(sheet, r, 1, number if row.level == "department" else None, border=BOX)
        _put(sheet, r, 2, row_name(row.level, row.name, lang), border=BOX, font=font)
        _put(sheet, r, 3, figures["total"], border=BOX, font=font)
        _put(sheet, r, 4, department if row.level != "total" else None, border=BOX)
        _put(sheet, r, 5, codes[0] or None, border=BOX)
        _put(sheet, r, 6, codes[1] or None, border=BOX)
        for i, level in enumerate(figures["levels"]):
            _put(sheet, r, first_level + 2 * i, level["count"], border=BOX)
            _put(sheet, r, first_level + 2 * i + 1, level["share"], border=BOX, number_format=PERCENT)
        _put(sheet, r, after_levels, figures["rate_low"], border=BOX, number_format=PERCENT)
        _put(sheet, r, after_levels + 1, figures["rate_high"], border=BOX, number_format=PERCENT)
        _put(sheet, r, after_levels + 2, "*" if figures["total"] and figures["few_ratings"] else None, border=BOX)
        _put(sheet, r, after_levels + 3, figures["satisfaction_rate"], border=BOX, number_format=PERCENT, font=BOLD)
        _put(sheet, r, last_col, row.change["satisfaction_rate"], border=BOX, number_format="+0.0%;-0.0%;0.0%")
        _put(sheet, r, down_col, row.down_minutes, border=BOX)
        if is_group:
            for c in range(1, down_col + 1):
                sheet.cell(row=r, column=c).fill = SHADE
        else:
            sheet.row_dimensions[r].outline_level = 1
        r += 1
    note = words["excluded"] if not report.include else words["included"].format(what=", ".join(report.include))
    _put(sheet, r + 1, 1, note)
    _put(sheet, r + 2, 1, words["few"])
    _put(sheet, r + 3, 1, loss_text(report, lang) or None)
    _put(sheet, r + 4, 1, words["down_note"])
    widths = {1: 5, 2: 42, 3: 12}
    for c in range(1, down_col + 1):
        sheet.column_dimensions[get_column_letter(c)].width = widths.get(c, 11)
    sheet.freeze_panes = "C6"
    _print_setup(sheet, "4:5")
    return _saved(book)


def review_header(lang: str) -> list[str]:
    words = WORDS[lang]
    months = [words[part].format(month=m) for m in range(1, 13) for part in ("month_ratings", "month_rate")]
    return [words["department_code"], words["officer_code"], words["name"], *months,
            f"{words['year_total']} - {words['total_ratings']}", f"{words['year_total']} - {words['rate']}",
            words["rate_low"], words["rate_high"], words["few_ratings"], words["rank"]]


def review_lines(review: Review) -> list[list[Any]]:
    """A line per department (its code and name) and under it one per officer."""
    lines: list[list[Any]] = []
    for section in review.sections:
        lines.append([section.code, None, section.name])
        for officer in section.officers:
            months = [value for month in officer.months for value in (month["total"], month["satisfaction_rate"])]
            year = officer.year
            lines.append([section.code, officer.code, officer.name, *months, year["total"],
                          year["satisfaction_rate"], year["rate_low"], year["rate_high"],
                          "*" if year["total"] and year["few_ratings"] else None, officer.rank])
    return lines


def render_review_xlsx(review: Review, lang: str) -> bytes:
    words = WORDS[lang]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = str(review.year)
    header = review_header(lang)
    _put(sheet, 1, 1, words["review_subject"].format(year=review.year), font=Font(bold=True, size=14))
    for col, text in enumerate(header, start=1):
        _put(sheet, 3, col, text, font=BOLD, alignment=CENTER, border=BOX)
    rate_columns = {5 + 2 * m for m in range(12)} | {len(header) - 4, len(header) - 3, len(header) - 2}
    for r, line in enumerate(review_lines(review), start=4):
        is_department = line[1] is None
        for col, value in enumerate(line, start=1):
            _put(sheet, r, col, value, border=BOX, font=Font(bold=is_department),
                 number_format=PERCENT if col in rate_columns else "General")
        if is_department:
            for col in range(1, len(header) + 1):
                sheet.cell(row=r, column=col).fill = SHADE
        else:
            sheet.row_dimensions[r].outline_level = 1
    sheet.column_dimensions["C"].width = 32
    sheet.freeze_panes = "D4"
    _print_setup(sheet, "3:3")
    return _saved(book)
