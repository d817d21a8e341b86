"""Weekly and monthly reports as provincial centers lay them out: per department (Đơn vị) and, under
it, per receiving officer (Công chức tiếp nhận): total ratings, count and share per level, satisfaction
rate, and the change against the previous period. Rendered as printable HTML, CSV and XLSX."""

from collector.reports.build import Report, build_report
from collector.reports.render import render

__all__ = ["Report", "build_report", "render"]
