"""What every format of a report shows alike: its period's label and its rows in order."""

from __future__ import annotations

from typing import Any

from collector.reports.build import Report, Row
from collector.reports.review import Review
from collector.reports.words import WORDS


def day_text(day: Any, lang: str) -> str:
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def period_label(report: Report | Review, lang: str) -> str:
    words = WORDS[lang]
    if isinstance(report, Review):
        return f"{words['period_year']} {report.year}"
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
    span = words["from_to"].format(first=day_text(report.first, lang), last=day_text(report.last, lang))
    return f"{words['period_' + report.kind]} {name} ({span})"


def report_rows(report: Report) -> list[Row]:
    """The rows top to bottom: each department, its officers, its counters; the total last."""
    rows: list[Row] = []
    for section in report.sections:
        rows.append(section.department)
        rows.extend(section.officers)
        rows.extend(section.counters)
    rows.append(report.total)
    return rows


def loss_text(report: Report, lang: str) -> str:
    """The line that says whether every press the boxes numbered in the period reached the collector."""
    if report.loss is None:
        return ""
    words = WORDS[lang]
    n = f"{report.loss.numbered:,}".replace(",", "." if lang == "vi" else ",")
    period = words["period_" + report.kind].lower()
    if not report.loss.missing:
        return words["loss_all"].format(n=n, period=period)
    boxes = ", ".join(words["loss_box"].format(box=box, count=count) for box, count in sorted(report.loss.missing.items()))
    return words["loss_some"].format(missing=report.loss.total_missing, n=n, period=period, boxes=boxes)
