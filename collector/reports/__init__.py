"""Weekly to yearly reports as provincial centers lay them out: per department (Đơn vị) and, under it,
per receiving officer (Công chức tiếp nhận) and per counter: total ratings, count and share per level,
satisfaction rate with its 95% interval, and the change against the previous period; and the yearly
officer review. Rendered as an official document (HTML and PDF), CSV and XLSX."""

from collector.reports.build import Report, build_report
from collector.reports.heading import Heading
from collector.reports.render import render
from collector.reports.review import Review, build_review

__all__ = ["Heading", "Report", "Review", "build_report", "build_review", "render"]
