"""The numbers of a report, from the rollups (collector.satisfaction): per department, and under it
per receiving officer (with a row for presses at a counter with no officer on duty) and per counter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from collector.clock import local_midnight_utc, utc_now
from collector.downtime import counter_downtime
from collector.figures import Counts, add_counts, change, figures, scale_keys
from collector.office_hours import OfficeHours
from collector.periods import parse_period, previous_range
from collector.rollups import NOBODY
from collector.satisfaction import Filters, Names, tally
from collector.sequences import PeriodLoss, period_loss
from collector.settings import get_settings

# (department id, counter code, officer id) -> counts: the finest rows a report is summed from
Cells = dict[tuple[int, str, int], Counts]


@dataclass
class Row:
    level: str  # department | officer | no_officer | counter | total
    code: str
    name: str
    figures: dict[str, Any]
    previous: dict[str, Any]
    change: dict[str, Any]
    down_minutes: int | None = None  # a counter's: office minutes its box was offline or silent


@dataclass
class Section:
    department: Row
    officers: list[Row] = field(default_factory=list)  # the no_officer row last, when there is one
    counters: list[Row] = field(default_factory=list)


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
    loss: PeriodLoss | None = None  # presses the boxes numbered in the period, and those never stored


def report_filters(names: Names, include: frozenset[str], site: str | None) -> Filters:
    filters = Filters(include=include)
    if site is not None:
        filters.department_ids = sorted(i for i, d in names.departments.items() if d.site == site)
    return filters


def report_keys(names: Names, filters: Filters, counts: list[Counts]) -> list[str]:
    """The level columns: every level of the scales of the report's counters and of its presses."""
    counters_scales = {c.scale for c in names.counters.values()
                       if filters.department_ids is None or c.department_id in filters.department_ids}
    data_scales = {scale for found in counts for scale in found}
    return scale_keys(counters_scales | data_scales or {"sat2"})


def departments_in_order(names: Names, filters: Filters, seen: set[int]) -> list[int]:
    """The report's departments by code (those with no registry entry last): all of the registry's
    (or the site's), with or without ratings, and any the presses name."""
    registered = set(names.departments) if filters.department_ids is None else set(filters.department_ids)
    return sorted(registered | seen, key=lambda i: names.departments[i].code if i in names.departments
                  else "\uffff")


def _cells(session: Session, first: date, last: date, filters: Filters) -> Cells:
    found = tally(session, first=first, last=last, group="department,counter,officer", by=None, filters=filters)
    return {key: counts for (key, _), counts in found.items()}


def _sum(cells: Cells, wanted: Any) -> dict[Any, Counts]:
    """Counts summed by wanted(department, counter, officer)."""
    sums: dict[Any, Counts] = {}
    for (department, counter, officer), counts in cells.items():
        add_counts(sums.setdefault(wanted(department, counter, officer), {}), counts)
    return sums


def build_report(
    session: Session, period: str, *, include: frozenset[str] = frozenset(), site: str | None = None,
    tz_name: str | None = None, office: OfficeHours | None = None, as_of: datetime | None = None,
) -> Report:
    """period: '2026-W48', '2026-11', '2026-Q4', '2026' (raises ValueError on anything else). The
    counters' downtime counts the office hours of tz_name and office (by default the settings') up to
    as_of (now)."""
    kind, first, last = parse_period(period)
    if tz_name is None or office is None:
        settings = get_settings()
        tz_name, office = tz_name or settings.timezone, office or settings.office_schedule
    down = counter_downtime(session, local_midnight_utc(first, tz_name),
                            local_midnight_utc(last + timedelta(days=1), tz_name), as_of or utc_now(), tz_name, office)
    previous_first, previous_last = previous_range(first, last)
    names = Names.load(session)
    filters = report_filters(names, include, site)
    now = _cells(session, first, last, filters)
    before = _cells(session, previous_first, previous_last, filters)
    keys = report_keys(names, filters, list(now.values()))

    def row(level: str, code: str, name: str, counts: Counts, previous: Counts) -> Row:
        now_figures, before_figures = figures(counts, keys), figures(previous, keys)
        return Row(level, code, name, now_figures, before_figures, change(now_figures, before_figures))

    def per(wanted: Any) -> tuple[dict[Any, Counts], dict[Any, Counts]]:
        return _sum(now, wanted), _sum(before, wanted)

    departments = per(lambda d, c, o: d)
    officers = per(lambda d, c, o: (d, o))
    counters = per(lambda d, c, o: (d, c))
    seen = {d for cells in (now, before) for d, _, _ in cells}
    sections = []
    for dept_id in departments_in_order(names, filters, seen):
        dept = names.departments.get(dept_id)
        section = Section(row("department", dept.code if dept else "", dept.name if dept else "",
                              departments[0].get(dept_id, {}), departments[1].get(dept_id, {})))
        officer_ids = {o for d, o in (*officers[0], *officers[1]) if d == dept_id}
        for officer_id in sorted(officer_ids, key=lambda i: (i == NOBODY, names.officers[i].code
                                                             if i in names.officers else "")):
            officer = names.officers.get(officer_id)
            level = "no_officer" if officer_id == NOBODY else "officer"
            section.officers.append(row(level, officer.code if officer else "", officer.name if officer else "",
                                        officers[0].get((dept_id, officer_id), {}),
                                        officers[1].get((dept_id, officer_id), {})))
        # Every counter of the department, with or without ratings: one without is told from one whose box was down.
        registered = {code for code, c in names.counters.items() if c.department_id == dept_id}
        for code in sorted(registered | {c for d, c in (*counters[0], *counters[1]) if d == dept_id}):
            counter = names.counters.get(code)
            section.counters.append(row("counter", code, counter.name if counter else code,
                                        counters[0].get((dept_id, code), {}), counters[1].get((dept_id, code), {})))
            section.counters[-1].down_minutes = down.get(code, 0)
        sections.append(section)
    total_now: Counts = {}
    total_before: Counts = {}
    for counts in departments[0].values():
        add_counts(total_now, counts)
    for counts in departments[1].values():
        add_counts(total_before, counts)
    total = row("total", "", "", total_now, total_before)
    return Report(kind, period, first, last, previous_first, previous_last, keys, sections, total,
                  sorted(include), site, period_loss(session, first, last, filters.department_ids))
