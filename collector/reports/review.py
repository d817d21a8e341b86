"""The yearly officer review: for each officer, ratings and rate per month and over the year, the
rank within the department, and how sure that figure is (sample size, Wilson 95% interval, the
few-ratings mark). Ranks follow collector.figures.ranking_key: the lower end of the interval, so 3
ratings at 100% rank below 300 at 99%."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session

from collector.figures import Counts, add_counts, figures, ranking_key
from collector.periods import check_day_bounds
from collector.reports.build import departments_in_order, report_filters, report_keys
from collector.rollups import NOBODY
from collector.satisfaction import Names, tally


@dataclass
class ReviewRow:
    code: str
    name: str
    months: list[dict[str, Any]]  # figures of January .. December
    year: dict[str, Any]  # figures of the whole year
    rank: int | None = None  # 1 = best in the department; None without ratings


@dataclass
class ReviewSection:
    code: str
    name: str
    officers: list[ReviewRow] = field(default_factory=list)  # by rank, then those without ratings


@dataclass
class Review:
    year: int
    first: date
    last: date
    keys: list[str]
    sections: list[ReviewSection]
    include: list[str]
    site: str | None = None
    kind: str = "review"


def rank_officers(rows: list[ReviewRow]) -> list[ReviewRow]:
    """Rows by rank within their department, best first; equal keys share a rank (1, 1, 3). Rows
    without ratings get no rank and come last, by code."""
    rated = sorted((r for r in rows if r.year["total"]), key=lambda r: (-ranking_key(r.year), r.code))
    previous_key: float | None = None
    for place, row in enumerate(rated, start=1):
        key = ranking_key(row.year)
        row.rank = rated[place - 2].rank if key == previous_key else place
        previous_key = key
    return rated + sorted((r for r in rows if not r.year["total"]), key=lambda r: r.code)


def build_review(
    session: Session, year: int, *, include: frozenset[str] = frozenset(), site: str | None = None
) -> Review:
    first, last = date(year, 1, 1), date(year, 12, 31)
    check_day_bounds(first)
    names = Names.load(session)
    filters = report_filters(names, include, site)
    found = tally(session, first=first, last=last, group="department,officer", by="month", filters=filters)
    per_month: dict[tuple[int, int], dict[int, Counts]] = {}
    for ((department, officer), label), counts in found.items():
        if officer == NOBODY:
            continue  # presses with no officer on duty review nobody
        assert label is not None
        per_month.setdefault((department, officer), {})[int(label[5:7])] = counts
    keys = report_keys(names, filters, [c for months in per_month.values() for c in months.values()])
    sections = []
    for dept_id in departments_in_order(names, filters, {d for d, _ in per_month}):
        dept = names.departments.get(dept_id)
        rows = []
        # every officer the presses name here, and the department's own officers without ratings
        officer_ids = {o for d, o in per_month if d == dept_id} | {
            i for i, o in names.officers.items() if o.department_id == dept_id}
        for officer_id in officer_ids:
            months = per_month.get((dept_id, officer_id), {})
            whole: Counts = {}
            for counts in months.values():
                add_counts(whole, counts)
            officer = names.officers.get(officer_id)
            rows.append(ReviewRow(officer.code if officer else "", officer.name if officer else "",
                                  [figures(months.get(m, {}), keys) for m in range(1, 13)], figures(whole, keys)))
        if rows:
            sections.append(ReviewSection(dept.code if dept else "", dept.name if dept else "",
                                          rank_officers(rows)))
    return Review(year, first, last, keys, sections, sorted(include), site)
