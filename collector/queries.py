"""The questions supervisors ask of the figures: which registry rows a request names, its codes as
ids, and the satisfaction summary per group and period (GET /api/v1/satisfaction, the dashboard).

No HTTP here: a request's mistakes are ValueErrors with a message the routes answer as a 422."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from collector.figures import Counts, add_counts, change, figures
from collector.models import Counter, Department, Officer
from collector.periods import bucket, previous_range
from collector.rollups import NOBODY
from collector.satisfaction import INCLUDABLE, Filters, Names, tally


def parse_include(include: str) -> frozenset[str]:
    wanted = frozenset(part.strip() for part in include.split(",") if part.strip())
    unknown = wanted - set(INCLUDABLE)
    if unknown:
        raise ValueError(f"include accepts {', '.join(INCLUDABLE)}; unknown: {', '.join(sorted(unknown))}")
    return wanted


def _codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    codes = [part.strip() for part in value.split(",") if part.strip()]
    return codes or None


def _rows(session: Session, query: Any) -> list[Any]:
    return list(session.execute(query).all())


# The registry rows requests need, as light rows (not ORM objects) with the attributes Names reads.
COUNTER_ROW = (col(Counter.code), col(Counter.name), col(Counter.department_id), col(Counter.scale))
DEPARTMENT_ROW = (col(Department.id), col(Department.code), col(Department.name), col(Department.site))
OFFICER_ROW = (col(Officer.id), col(Officer.code), col(Officer.name), col(Officer.department_id))
# group -> (the Names dict its keys index, the row, led by the key); departments are loaded last.
NAMED_GROUPS = {"counter": ("counters", COUNTER_ROW), "officer": ("officers", OFFICER_ROW)}


def names_for_request(
    session: Session, *, counter: str | None, department: str | None, officer: str | None, site: str | None,
) -> Names:
    """Only the registry rows a request names (codes asked for, a site's departments), not the whole
    registry on every request."""
    names = Names({}, {}, {})
    if (codes := _codes(counter)) is not None:
        names.counters = {r.code: r for r in _rows(session, sa.select(*COUNTER_ROW).where(col(Counter.code).in_(codes)))}
    wanted: list[Any] = []
    if (codes := _codes(department)) is not None:
        wanted.append(col(Department.code).in_(codes))
    if site is not None:
        wanted.append(Department.site == site)
    if wanted:
        names.departments = {r.id: r for r in _rows(session, sa.select(*DEPARTMENT_ROW).where(sa.or_(*wanted)))}
    if (codes := _codes(officer)) is not None:
        names.officers = {r.id: r for r in _rows(session, sa.select(*OFFICER_ROW).where(col(Officer.code).in_(codes)))}
    return names


def add_group_names(session: Session, names: Names, group: str | None, keys: Any) -> None:
    """Load the names of the groups a result has (and their departments) into names."""
    keys = {k for k in keys if k is not None}
    departments: set[Any] = set(keys) if group == "department" else set()
    if group in NAMED_GROUPS:
        attribute, row = NAMED_GROUPS[group]
        known = getattr(names, attribute)
        if missing := keys - known.keys():
            found = _rows(session, sa.select(*row).where(row[0].in_(sorted(missing))))
            known.update({r[0]: r for r in found})
        departments = {known[k].department_id for k in keys if k in known}
    departments = {d for d in departments if d is not None} - names.departments.keys()
    if departments:
        found = _rows(session, sa.select(*DEPARTMENT_ROW).where(col(Department.id).in_(sorted(departments))))
        names.departments.update({r.id: r for r in found})


def resolve_filters(
    names: Names, *, counter: str | None, department: str | None, officer: str | None, site: str | None,
    include: frozenset[str],
) -> Filters:
    """Codes from the request -> registry ids, with a 422 naming every unknown code."""
    filters = Filters(include=include)
    if (codes := _codes(counter)) is not None:
        unknown = [c for c in codes if c not in names.counters]
        if unknown:
            raise ValueError(f"unknown counter {', '.join(map(repr, unknown))}")
        filters.counters = codes
    department_ids: set[int] | None = None
    if (codes := _codes(department)) is not None:
        by_code = {d.code: i for i, d in names.departments.items()}
        unknown = [c for c in codes if c not in by_code]
        if unknown:
            raise ValueError(f"unknown department {', '.join(map(repr, unknown))}")
        department_ids = {by_code[c] for c in codes}
    if site is not None:
        in_site = {i for i, d in names.departments.items() if d.site == site}
        if not in_site:
            raise ValueError(f"unknown site {site[:40]!r}: no department belongs to it")
        department_ids = in_site if department_ids is None else department_ids & in_site
    if department_ids is not None:
        filters.department_ids = sorted(department_ids)
    if (codes := _codes(officer)) is not None:
        by_code = {o.code: i for i, o in names.officers.items()}
        unknown = [c for c in codes if c not in by_code]
        if unknown:
            raise ValueError(f"unknown officer {', '.join(map(repr, unknown))}")
        filters.officer_ids = sorted(by_code[c] for c in codes)
    return filters


def summarize(
    session: Session, names: Names, *, first: date, last: date, group: str | None, by: str | None,
    filters: Filters, compare: bool, against: tuple[date, date] | None = None,
) -> dict[str, Any]:
    """The body of GET /api/v1/satisfaction (also what the dashboard draws). With compare, each
    figure is set against the period `against` (first, last day), by default the previous one."""
    prev_first, prev_last = against or previous_range(first, last)
    sites = ({r.id: r.site for r in _rows(session, select(Department.id, Department.site))}
             if group == "site" else None)
    counts = tally(session, first=first, last=last, group=group, by=by, filters=filters, sites=sites)
    before = None
    if compare:
        before = tally(session, first=prev_first, last=prev_last, group=group, by=None, filters=filters, sites=sites)
    keys = sorted({k for k, _ in counts} | {k for k, _ in (before or {})}, key=lambda k: (k is None, str(k)))
    if group is None:
        keys = [None]
    else:
        add_group_names(session, names, group, keys)
    overall_now: Counts = {}
    overall_before: Counts = {}
    groups = []
    per_group: dict[Any, list[tuple[str | None, Counts]]] = {}  # each group's buckets, found in one pass
    for (gkey, label), level_counts in counts.items():
        per_group.setdefault(gkey, []).append((label, level_counts))
    for key in keys:
        total: Counts = {}
        series = []
        for label, level_counts in sorted(per_group.get(key, []), key=lambda bucketed: str(bucketed[0])):
            add_counts(total, level_counts)
            add_counts(overall_now, level_counts)
            if by and label is not None:
                _, b_first, b_last = bucket(_label_day(label, by), by)
                series.append({"period": label, "from": max(b_first, first).isoformat(),
                               "to": min(b_last, last).isoformat(), **figures(level_counts)})
        entry: dict[str, Any] = {"key": _public_key(group, key, names), **_describe(group, key, names),
                                 **figures(total)}
        if by:
            entry["series"] = series
        if before is not None:
            previous_counts = before.get((key, None), {})
            add_counts(overall_before, previous_counts)
            entry["previous"] = figures(previous_counts)
            entry["change"] = change(entry, entry["previous"])
        groups.append(entry)
    body: dict[str, Any] = {
        "from": first.isoformat(), "to": last.isoformat(), "group": group, "by": by,
        "include": sorted(filters.include), **figures(overall_now), "groups": groups if group else [],
    }
    if group is None and by:
        body["series"] = groups[0]["series"] if groups else []
    if compare:
        body["previous"] = {"from": prev_first.isoformat(), "to": prev_last.isoformat(), **figures(overall_before)}
        body["change"] = change(body, body["previous"])
    return body


def _label_day(label: str, by: str) -> date:
    if by == "day":
        return date.fromisoformat(label)
    if by == "week":
        year, week = label.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    if by == "month":
        return date.fromisoformat(label + "-01")
    if by == "quarter":
        year, quarter = label.split("-Q")
        return date(int(year), 3 * int(quarter) - 2, 1)
    return date(int(label), 1, 1)


def _public_key(group: str | None, key: Any, names: Names) -> Any:
    if group == "officer":
        officer = names.officers.get(key)
        return officer.code if officer else None
    if group == "department":
        department = names.departments.get(key)
        return department.code if department else None
    return key


def _describe(group: str | None, key: Any, names: Names) -> dict[str, Any]:
    if group is None:
        return {}
    described = names.describe(group, key)
    if key in (NOBODY, None) and group in ("officer", "department", "site"):
        described["name"] = {"officer": "(no officer on duty)", "department": "(no department)",
                             "site": "(no site)"}[group]
    return described
