"""Stored presses, a page at a time or as CSV, with the filters a supervisor counts by. The flags
follow the reports' rule: a press flagged suppressed or test counts only where `include` names its
flag (collector.satisfaction.INCLUDABLE); the CSV says of each press whether it counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session, col, select

from collector.api.deps import PrincipalDep, SessionDep, check_range, parse_day
from collector.api.models import PressPage
from collector.models import Department, Officer, Press
from collector.queries import parse_include
from collector.satisfaction import INCLUDABLE

router = APIRouter(prefix="/api/v1", tags=["presses"])


def _public(press: Press) -> dict[str, Any]:
    flags = [name for name in ("suppressed", "test") if getattr(press, name)]
    return {
        "id": press.id,
        "box": press.box,
        "seq": press.seq,
        "counter": press.counter,
        "scale": press.scale,
        "level": press.level,
        "flags": flags,
        "pressed_at": press.pressed_at.isoformat(),
        "day": press.day.isoformat(),
        "time_approximate": press.time_approximate,
        "clock": press.clock,
        "boot": press.boot,
        "up": press.up,
        "fw": press.fw,
        "received_at": press.received_at.isoformat(),
        "officer_id": press.officer_id,
        "department_id": press.department_id,
    }


FlagsQuery = Annotated[
    Literal["none", "suppressed", "test"] | None,
    Query(description="none: only presses without a flag; suppressed or test: only those flagged so"),
]
IncludeQuery = Annotated[
    str | None,
    Query(max_length=64, description="as the reports: comma list of flags whose presses count (suppressed,test); "
                                     "given (even empty), only the presses a report with it counts"),
]
LevelQuery = Annotated[int | None, Query(ge=0, le=9, description="the level index (0 = least satisfied)")]
FromQuery = Annotated[str | None, Query(alias="from", description="first local day, YYYY-MM-DD")]
ToQuery = Annotated[str | None, Query(description="last local day, inclusive, YYYY-MM-DD")]
Code = Annotated[str | None, Query(max_length=64)]


@dataclass
class PressFilter:
    """The filters of /presses and /presses.csv (query parameters, through Depends)."""

    box: Code = None
    counter: Code = None
    officer: Code = None
    department: Code = None
    level: LevelQuery = None
    flags: FlagsQuery = None
    include: IncludeQuery = None
    from_: FromQuery = None
    to: ToQuery = None

    def query(self, session: Session) -> Any:
        """select(Press) in id order with these filters; 422 for unknown codes or bad days."""
        first, last = parse_day(self.from_, "from"), parse_day(self.to, "to")
        check_range(first, last)
        query = select(Press).order_by(col(Press.id))
        if self.box:
            query = query.where(Press.box == self.box)
        if self.counter:
            query = query.where(Press.counter == self.counter)
        if self.officer:
            row = session.exec(select(Officer).where(Officer.code == self.officer)).first()
            if row is None:
                raise HTTPException(422, f"unknown officer {self.officer[:40]!r}")
            query = query.where(Press.officer_id == row.id)
        if self.department:
            dept = session.exec(select(Department).where(Department.code == self.department)).first()
            if dept is None:
                raise HTTPException(422, f"unknown department {self.department[:40]!r}")
            query = query.where(Press.department_id == dept.id)
        if self.level is not None:
            query = query.where(Press.level == self.level)
        if self.flags == "none":
            query = query.where(Press.suppressed == False, Press.test == False)
        elif self.flags == "suppressed":
            query = query.where(Press.suppressed == True)
        elif self.flags == "test":
            query = query.where(Press.test == True)
        if self.include is not None:
            if self.flags is not None:
                raise HTTPException(422, "give flags or include, not both")
            for flag in INCLUDABLE:
                if flag not in self.counted_flags():
                    query = query.where(getattr(Press, flag) == False)
        if first:
            query = query.where(col(Press.day) >= first)
        if last:
            query = query.where(col(Press.day) <= last)
        return query


    def counted_flags(self) -> frozenset[str]:
        """The flags whose presses count, as in a report with this include (none: the reports' default)."""
        try:
            return parse_include(self.include or "")
        except ValueError as error:
            raise HTTPException(422, str(error)) from None


def counted(press: Press, flags: frozenset[str]) -> bool:
    """Whether a report counts the press: every flag it carries is one the report includes."""
    return all(flag in flags or not getattr(press, flag) for flag in INCLUDABLE)


FilterDep = Annotated[PressFilter, Depends()]


@router.get("/presses", summary="Stored presses, oldest first, a page at a time", response_model=PressPage)
def list_presses(
    session: SessionDep,
    _who: PrincipalDep,
    filters: FilterDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    query = filters.query(session).limit(limit + 1)
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
            raise HTTPException(422, "cursor must be a next_cursor value")
        query = query.where(col(Press.id) > int(cursor))
    rows = session.exec(query).all()
    page = rows[:limit]
    return {
        "items": [_public(p) for p in page],
        "next_cursor": str(page[-1].id) if len(rows) > limit else None,
    }


CSV_COLUMNS = ("id", "box", "seq", "counter", "scale", "level", "flags", "pressed_at", "day", "time_approximate",
               "clock", "boot", "up", "fw", "received_at", "officer_id", "department_id", "officer_code",
               "department_code", "counted")


@router.get("/presses.csv", summary="Stored presses as a CSV download (same filters, no paging)",
            response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def presses_csv(
    request: Request,
    _who: PrincipalDep,
    filters: FilterDep,
) -> StreamingResponse:
    engine = request.app.state.engine
    with Session(engine) as session:  # fail with 422 before the download starts
        query = filters.query(session)
        flags = filters.counted_flags()
        # The registry's codes, for people and spreadsheets (ids are the database's): a few hundred rows.
        officers = dict(session.exec(select(Officer.id, Officer.code)).all())
        departments = dict(session.exec(select(Department.id, Department.code)).all())

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        last_id = 0
        with Session(engine) as session:
            while True:  # in id order, a page at a time: memory stays flat for millions of rows
                page = session.exec(query.where(col(Press.id) > last_id).limit(5000)).all()
                for press in page:
                    public = _public(press)
                    public["flags"] = " ".join(public["flags"])
                    public["officer_code"] = officers.get(press.officer_id, "")
                    public["department_code"] = departments.get(press.department_id, "")
                    public["counted"] = counted(press, flags)
                    writer.writerow([_csv_cell(public[name]) for name in CSV_COLUMNS])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if len(page) < 5000:
                    return
                last_id = page[-1].id or 0

    name = f"presses-{filters.from_ or 'all'}-{filters.to or 'all'}.csv"  # both checked by query()
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it so it stays text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
