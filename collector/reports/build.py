"""The numbers of a report, from the rollups (collector.satisfaction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session

from collector.figures import Counts, add_counts, change, figures, scale_keys
from collector.periods import parse_period, previous_range
from collector.rollups import NOBODY
from collector.satisfaction import Filters, Names, tally


@dataclass
class Row:
    level: str  # department | officer | total
    code: str
    name: str
    figures: dict[str, Any]
    previous: dict[str, Any]
    change: dict[str, Any]


@dataclass
class Section:
    department: Row
    officers: list[Row] = field(default_factory=list)


@dataclass
class Report:
    kind: str  # week | month | quarter | year | day
    period: str  # 2026-W48, 2026-11, ...
    first: date
    last: date
    previous_first: date
    previous_last: date
    keys: list[str]  # level keys shown as columns, best first
    sections: list[Section]
    total: Row
    include: list[str]
    site: str | None = None


def build_report(
    session: Session, period: str, *, include: frozenset[str] = frozenset(), site: str | None = None
) -> Report:
    """period: '2026-W48', '2026-11', '2026-Q4', '2026' (raises ValueError on anything else)."""
    kind, first, last = parse_period(period)
    previous_first, previous_last = previous_range(first, last)
    names = Names.load(session)
    filters = Filters(include=include)
    if site is not None:
        filters.department_ids = sorted(i for i, d in names.departments.items() if d.site == site)
    now = tally(session, first=first, last=last, group="department,officer", by=None, filters=filters)
    before = tally(session, first=previous_first, last=previous_last, group="department,officer", by=None,
                   filters=filters)
    per_officer: dict[tuple[int, int], Counts] = {key: found for (key, _), found in now.items()}
    per_previous: dict[tuple[int, int], Counts] = {key: found for (key, _), found in before.items()}

    counters_scales = {c.scale for c in names.counters.values()
                       if filters.department_ids is None or c.department_id in filters.department_ids}
    data_scales = {scale for counts in per_officer.values() for scale in counts}
    keys = scale_keys(counters_scales | data_scales or {"sat2"})

    def row(level: str, code: str, name: str, counts: Counts, previous: Counts) -> Row:
        now_figures, before_figures = figures(counts, keys), figures(previous, keys)
        return Row(level, code, name, now_figures, before_figures, change(now_figures, before_figures))

    departments_seen = sorted({d for d, _ in per_officer} | {d for d, _ in per_previous}
                              | ({i for i in names.departments if i in filters.department_ids}
                                 if filters.department_ids is not None else set(names.departments)))
    sections = []
    grand_now: Counts = {}
    grand_before: Counts = {}
    for dept_id in sorted(departments_seen, key=lambda i: names.departments[i].code if i in names.departments
                          else "\uffff"):
        dept = names.departments.get(dept_id)
        dept_now: Counts = {}
        dept_before: Counts = {}
        officer_rows = []
        officer_ids = {o for d, o in per_officer if d == dept_id} | {o for d, o in per_previous if d == dept_id}
        for officer_id in sorted(officer_ids, key=lambda i: (i == NOBODY, names.officers[i].code
                                                             if i in names.officers else "")):
            counts = per_officer.get((dept_id, officer_id), {})
            previous = per_previous.get((dept_id, officer_id), {})
            add_counts(dept_now, counts)
            add_counts(dept_before, previous)
            officer = names.officers.get(officer_id)
            officer_rows.append(row("officer", officer.code if officer else "", officer.name if officer else "",
                                    counts, previous))
        add_counts(grand_now, dept_now)
        add_counts(grand_before, dept_before)
        sections.append(Section(row("department", dept.code if dept else "", dept.name if dept else "",
                                    dept_now, dept_before), officer_rows))
    total = row("total", "", "", grand_now, grand_before)
    return Report(kind, period, first, last, previous_first, previous_last, keys, sections, total,
                  sorted(include), site)
