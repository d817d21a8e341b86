from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import select

from collector.api.deps import PrincipalDep, SessionDep, SettingsDep, check_range, parse_day, unprocessable
from collector.api.models import CounterSatisfactionPublic, GridPublic, SatisfactionPublic
from collector.clock import local_day, utc_now
from collector.figures import figures
from collector.models import Counter
from collector.queries import names_for_request, parse_include, resolve_filters, summarize
from collector.satisfaction import grid, satisfaction

router = APIRouter(prefix="/api/v1", tags=["satisfaction"])
MAX_DAYS = 3700  # ten years
MAX_BUCKETS = 1000

FromQuery = Annotated[str | None, Query(alias="from", description="first local day, YYYY-MM-DD (default: to)")]
ToQuery = Annotated[str | None, Query(description="last local day, inclusive, YYYY-MM-DD (default: today)")]
IncludeQuery = Annotated[str, Query(description="comma list of flagged presses to count: suppressed,test")]
CodesQuery = Annotated[str | None, Query(description="comma list of codes")]


def day_range(from_: str | None, to: str | None, tz: str) -> tuple[date, date]:
    last = parse_day(to, "to") or local_day(utc_now(), tz)
    first = parse_day(from_, "from") or last
    check_range(first, last, MAX_DAYS)
    return first, last


@router.get("/satisfaction", summary="Satisfaction over a range of local days, by group and period",
            response_model=SatisfactionPublic, response_model_exclude_unset=True)
def satisfaction_report(
    session: SessionDep,
    settings: SettingsDep,
    _who: PrincipalDep,
    from_: FromQuery = None,
    to: ToQuery = None,
    group: Annotated[Literal["counter", "department", "officer", "site", "none"],
                     Query(description="one row per counter, department, officer or site; none: one total")]
    = "counter",
    by: Annotated[Literal["day", "week", "month", "quarter", "year", "none"],
                  Query(description="a series per local day, ISO week, month, quarter or year")] = "none",
    counter: CodesQuery = None,
    department: CodesQuery = None,
    officer: CodesQuery = None,
    site: Annotated[str | None, Query(description="only the departments of this site", max_length=32)] = None,
    include: IncludeQuery = "",
    compare: Annotated[bool, Query(description="add the previous period of the same length")] = True,
    compare_from: Annotated[str | None, Query(description="compare with this period instead: its first local "
                                                          "day, YYYY-MM-DD (with compare_to)")] = None,
    compare_to: Annotated[str | None, Query(description="the compared period's last local day")] = None,
) -> dict[str, Any]:
    """Counts per level, satisfaction rate (0..1, share satisfied or better) and index (0..100) per
    group, with an optional series per period and the change against the previous period (a whole
    month's is the previous whole month; otherwise the same number of days just before; or any
    period: compare_from..compare_to). Suppressed and test presses are left out unless `include`
    names them."""
    first, last = day_range(from_, to, settings.timezone)
    against = None
    if compare_from or compare_to:
        if not (compare_from and compare_to):
            raise HTTPException(422, "give both compare_from and compare_to, or neither")
        if not compare:
            raise HTTPException(422, "compare_from and compare_to need compare=true")
        compare_first, compare_last = parse_day(compare_from, "compare_from"), parse_day(compare_to, "compare_to")
        assert compare_first and compare_last  # both given: parse_day answers a date or a 422
        check_range(compare_first, compare_last, MAX_DAYS)
        against = compare_first, compare_last
    with unprocessable():
        wanted = parse_include(include)
    by_value = None if by == "none" else by
    if by_value == "day" and (last - first).days + 1 > MAX_BUCKETS:
        raise HTTPException(422, f"by=day is limited to {MAX_BUCKETS} days; use week or month for longer ranges")
    names = names_for_request(session, counter=counter, department=department, officer=officer, site=site)
    with unprocessable():
        filters = resolve_filters(names, counter=counter, department=department, officer=officer, site=site,
                                  include=wanted)
    return summarize(session, names, first=first, last=last, group=None if group == "none" else group,
                     by=by_value, filters=filters, compare=compare, against=against)


WEEKDAYS = ((1, "T2", "Mon"), (2, "T3", "Tue"), (3, "T4", "Wed"), (4, "T5", "Thu"), (5, "T6", "Fri"),
            (6, "T7", "Sat"), (7, "CN", "Sun"))


@router.get("/satisfaction/grid", summary="Ratings by hour of day and weekday (local time)",
            response_model=GridPublic)
def satisfaction_grid(
    session: SessionDep,
    settings: SettingsDep,
    _who: PrincipalDep,
    from_: FromQuery = None,
    to: ToQuery = None,
    counter: CodesQuery = None,
    department: CodesQuery = None,
    site: Annotated[str | None, Query(max_length=32)] = None,
    include: IncludeQuery = "",
) -> dict[str, Any]:
    """One cell per ISO weekday (1 = Monday) and local hour with ratings: total, satisfaction rate,
    index. Hours are local hours in the configured timezone."""
    first, last = day_range(from_, to, settings.timezone)
    names = names_for_request(session, counter=counter, department=department, officer=None, site=site)
    with unprocessable():
        filters = resolve_filters(names, counter=counter, department=department, officer=None, site=site,
                                  include=parse_include(include))
    cells = grid(session, first=first, last=last, filters=filters)
    return {
        "from": first.isoformat(), "to": last.isoformat(), "timezone": settings.timezone,
        "weekdays": [{"weekday": n, "label_vi": vi, "label_en": en} for n, vi, en in WEEKDAYS],
        "cells": [
            {"weekday": weekday, "hour": hour,
             **{k: v for k, v in figures(counts).items() if k != "levels"}}
            for (weekday, hour), counts in sorted(cells.items())
        ],
    }


@router.get("/counters/{counter}/satisfaction", summary="Satisfaction of a counter over local days",
            response_model=CounterSatisfactionPublic)
def counter_satisfaction(
    counter: str,
    session: SessionDep,
    settings: SettingsDep,
    _who: PrincipalDep,
    from_: Annotated[str | None, Query(alias="from", description="first local day, YYYY-MM-DD (default today)")] = None,
    to: Annotated[str | None, Query(description="last local day, inclusive, YYYY-MM-DD (default from)")] = None,
    include: IncludeQuery = "",
) -> dict[str, Any]:
    first = parse_day(from_, "from") or local_day(utc_now(), settings.timezone)
    last = parse_day(to, "to") or first
    check_range(first, last, MAX_DAYS)
    with unprocessable():
        wanted = parse_include(include)
    row = session.exec(select(Counter).where(Counter.code == counter)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown counter {counter[:40]!r}")
    return satisfaction(session, counter=counter, scale=row.scale, first=first, last=last, include=wanted)

