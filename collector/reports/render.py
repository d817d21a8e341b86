"""A report or a review as an official document in HTML (A4, print CSS) and PDF (the same HTML,
laid out by WeasyPrint), or as CSV and XLSX, with Vietnamese or English labels.

Every name from the registry is data, never markup: the HTML template autoescapes, CSV cells and XLSX
strings that a spreadsheet would read as a formula (= + - @) are written as text."""

from __future__ import annotations

import csv
import io
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from collector.figures import level_labels
from collector.reports.build import Report
from collector.reports.heading import Heading
from collector.reports.layout import day_text, loss_text, period_label, report_rows
from collector.reports.review import Review
from collector.reports.spreadsheet import render_review_xlsx, render_xlsx, review_header, review_lines
from collector.reports.words import WORDS, duration_text, interval_text, percent, rate_text, row_name
from collector.settings import get_settings

FORMATS = ("html", "pdf", "csv", "xlsx")
LANGS = ("vi", "en")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _context(document: Report | Review, lang: str, heading: Heading) -> dict[str, Any]:
    words = WORDS[lang]
    labels = level_labels()
    context: dict[str, Any] = {
        "report": document, "w": words, "lang": lang, "heading": heading,
        "place_and_date": heading.place_and_date(lang),
        "title": words["title_" + document.kind],
        "period": period_label(document, lang),
        "level_names": [labels[k][0 if lang == "vi" else 1] for k in document.keys],
        "pct": lambda v, signed=False: percent(v, lang, signed),
        "rate": lambda figure: rate_text(figure, lang),
        "interval": lambda figure: interval_text(figure, lang),
        "name": lambda row: row_name(row.level, row.name, lang),
        "duration": lambda minutes: duration_text(minutes, lang),
        "included": ", ".join(document.include),
    }
    if isinstance(document, Report):
        context["previous"] = words["from_to"].format(first=day_text(document.previous_first, lang),
                                                      last=day_text(document.previous_last, lang))
        context["loss"] = loss_text(document, lang)
    return context


@cache
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def render_html(document: Report | Review, lang: str, heading: Heading) -> str:
    template = "review.html" if isinstance(document, Review) else "report.html"
    return _templates().get_template(template).render(**_context(document, lang, heading))


def html_to_pdf(html: str) -> bytes:
    """The printed page of the HTML, by WeasyPrint (Pango and fontconfig find the fonts)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf = HTML(string=html).write_pdf()
    assert pdf is not None
    return pdf


def text_cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: keep it text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


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
    header += [words["rate"], words["index"], words["previous_rate"], words["change"], words["rate_low"],
               words["rate_high"], words["few_ratings"], words["down_minutes"]]
    writer.writerow(header)
    department = ""
    for row in report_rows(report):
        if row.level == "department":
            department = row.code
        figures = row.figures
        line: list[Any] = [words["kind_" + row.level], department if row.level != "total" else "", row.code,
                           row_name(row.level, row.name, lang), figures["total"]]
        for level in figures["levels"]:
            line += [level["count"], _share(level["share"])]
        delta = row.change["satisfaction_rate"]
        line += [_share(figures["satisfaction_rate"]), "" if figures["index"] is None else figures["index"],
                 _share(row.previous["satisfaction_rate"]), "" if delta is None else f"{delta:+.4f}",
                 _share(figures["rate_low"]), _share(figures["rate_high"]),
                 int(figures["few_ratings"]) if figures["total"] else "",
                 "" if row.down_minutes is None else row.down_minutes]
        writer.writerow([text_cell(cell) for cell in line])
    if report.loss is not None:
        writer.writerow([loss_text(report, lang)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def render_review_csv(review: Review, lang: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([WORDS[lang]["review_subject"].format(year=review.year)])
    writer.writerow(review_header(lang))
    for line in review_lines(review):
        writer.writerow([text_cell("" if cell is None else cell) for cell in line])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def render(document: Report | Review, fmt: str, lang: str = "vi", heading: Heading | None = None) -> bytes:
    """The file of a report (build_report) or a review (build_review). heading: the document's issuing
    body, place, date and signer; by default from the settings, dated today."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    if fmt in ("html", "pdf"):
        if heading is None:
            heading = Heading.from_settings(get_settings())
        html = render_html(document, lang, heading)
        return html.encode("utf-8") if fmt == "html" else html_to_pdf(html)
    if isinstance(document, Review):
        return render_review_csv(document, lang) if fmt == "csv" else render_review_xlsx(document, lang)
    return render_csv(document, lang) if fmt == "csv" else render_xlsx(document, lang)


def filename(document: Report | Review, fmt: str, lang: str) -> str:
    prefix = {"vi": "bao-cao", "en": "report"}[lang]
    if isinstance(document, Review):
        return f"{prefix}-{'danh-gia-cong-chuc' if lang == 'vi' else 'officer-review'}-{document.year}.{fmt}"
    return f"{prefix}-{document.period}.{fmt}"
