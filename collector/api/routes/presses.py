from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlmodel import col, select

from collector.api.deps import SessionDep, TokenDep, check_range, parse_day
from collector.models import Press

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


@router.get("/presses", summary="Stored presses, oldest first, a page at a time")
def list_presses(
    session: SessionDep,
    _token: TokenDep,
    box: str | None = None,
    counter: str | None = None,
    from_: Annotated[str | None, Query(alias="from", description="first local day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="last local day, inclusive, YYYY-MM-DD")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    first, last = parse_day(from_, "from"), parse_day(to, "to")
    check_range(first, last)
    query = select(Press).order_by(col(Press.id)).limit(limit + 1)
    if cursor is not None:
        if not cursor.isdigit():
            raise HTTPException(422, "cursor must be a next_cursor value")
        query = query.where(col(Press.id) > int(cursor))
    if box:
        query = query.where(Press.box == box)
    if counter:
        query = query.where(Press.counter == counter)
    if first:
        query = query.where(col(Press.day) >= first)
    if last:
        query = query.where(col(Press.day) <= last)
    rows = session.exec(query).all()
    page = rows[:limit]
    return {
        "items": [_public(p) for p in page],
        "next_cursor": str(page[-1].id) if len(rows) > limit else None,
    }
