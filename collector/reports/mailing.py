"""A scheduled report as an e-mail: its subject and short body in Vietnamese (or English), the PDF
(the document to sign and file) and the XLSX (the figures) attached, and a Message-ID that is the
same at every attempt (collector.reports.dispatch_store: a resend after a crash is recognisable)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from email.message import EmailMessage

from collector.report_recipients import RecipientGroup
from collector.reports.build import Report, Row
from collector.reports.heading import Heading
from collector.reports.layout import period_label
from collector.reports.render import MEDIA_TYPES, filename
from collector.reports.words import WORDS, percent

MAIL_WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "greeting": "Kính gửi Quý lãnh đạo,",
        "sent": "{body} trân trọng gửi {what}{scope}: {period}.",
        "figures": "Tổng số phiếu đánh giá: {total}; tỷ lệ hài lòng: {rate} (kỳ trước: {previous}).",
        "attached": "Tệp đính kèm:",
        "pdf": "văn bản báo cáo (PDF)", "xlsx": "số liệu (XLSX)",
        "automatic": "Thư được gửi tự động bởi hệ thống đánh giá mức độ hài lòng; vui lòng không trả lời thư này.",
        "of": " của {name}",
    },
    "en": {
        "greeting": "Dear Sir or Madam,",
        "sent": "{body} sends the {what}{scope}: {period}.",
        "figures": "Ratings: {total}; satisfaction rate: {rate} (previous period: {previous}).",
        "attached": "Attached:",
        "pdf": "the report as a document (PDF)", "xlsx": "the figures (XLSX)",
        "automatic": "This message was sent automatically by the satisfaction rating system; please do not reply.",
        "of": " of {name}",
    },
}


@dataclass(frozen=True)
class ReportMail:
    message: EmailMessage
    message_id: str


def for_department(report: Report, code: str) -> Report:
    """The report narrowed to one department: its section, and its figures as the total."""
    sections = [section for section in report.sections if section.department.code == code]
    if not sections:
        raise LookupError(f"department {code!r} is not in the registry (RATING_REPORT_MAIL_TO names it)")
    head = sections[0].department
    return replace(report, sections=sections,
                   total=Row("total", "", "", head.figures, head.previous, head.change))


def scope_name(report: Report, group: RecipientGroup, lang: str) -> str:
    if group.scope == "department":
        department = report.sections[0].department
        return f"{department.name} ({department.code})" if department.name else department.code
    if group.scope == "site":
        return f"{WORDS[lang]['site']} {group.code}"
    return ""


def message_id(report: Report, group: RecipientGroup, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "localhost"
    tag = hashlib.sha256(group.key.encode()).hexdigest()[:12]
    return f"<report.{report.kind}.{report.period}.{tag}@{domain}>"


def attachment_name(report: Report, group: RecipientGroup, fmt: str, lang: str) -> str:
    name = filename(report, fmt, lang)
    return name if group.scope == "center" else name.replace(f".{fmt}", f"-{group.code}.{fmt}")


def report_mail(report: Report, group: RecipientGroup, heading: Heading, sender: str, pdf: bytes,
                xlsx: bytes) -> ReportMail:
    lang = group.lang
    words, mail_words = WORDS[lang], MAIL_WORDS[lang]
    title = words["title_" + report.kind].capitalize()
    period = period_label(report, lang)
    scope = scope_name(report, group, lang)
    mail = EmailMessage()
    mail["Subject"] = f"[{title}] {words['subtitle']}: {period}" + (f" - {scope}" if scope else "")
    mail["From"] = sender
    mail["To"] = ", ".join(group.addresses)
    mail["Message-ID"] = message_id(report, group, sender)
    now, before = report.total.figures, report.total.previous
    names = {fmt: attachment_name(report, group, fmt, lang) for fmt in ("pdf", "xlsx")}
    mail.set_content("\n".join([
        mail_words["greeting"], "",
        mail_words["sent"].format(body=heading.issuing_body, what=title.lower(), period=period,
                                  scope=mail_words["of"].format(name=scope) if scope else ""),
        mail_words["figures"].format(total=now["total"], rate=percent(now["satisfaction_rate"], lang),
                                     previous=percent(before["satisfaction_rate"], lang)),
        "", mail_words["attached"],
        f"- {names['pdf']}: {mail_words['pdf']}", f"- {names['xlsx']}: {mail_words['xlsx']}",
        "", "--", mail_words["automatic"],
    ]))
    for fmt, body in (("pdf", pdf), ("xlsx", xlsx)):
        maintype, subtype = MEDIA_TYPES[fmt].split(";")[0].split("/")
        mail.add_attachment(body, maintype=maintype, subtype=subtype, filename=names[fmt])
    return ReportMail(mail, mail["Message-ID"])
