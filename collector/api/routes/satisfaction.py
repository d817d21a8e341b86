from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import select

from collector.api.deps import SessionDep, SettingsDep, TokenDep, check_range, parse_day
from collector.clock import local_day, utc_now
from collector.models import Counter
from collector.satisfaction import satisfaction

router = APIRouter(prefix="/api/v1", tags=["satisfaction"])
INCLUDABLE = ("suppressed", "test")


@router.get("/counters/{counter}/satisfaction", summary="Satisfaction of a counter over local days")
def counter_satisfaction(
    counter: str,
    session: SessionDep,
    settings: SettingsDep,
    _token: TokenDep,
    from_: Annotated[str | None, Query(alias="from", description="first local day, YYYY-MM-DD (default today)")] = None,
    to: Annotated[str | None, Query(description="last local day, inclusive, YYYY-MM-DD (default from)")] = None,
    include: Annotated[str, Query(description="comma list of flagged presses to count: suppressed,test")] = "",
) -> dict[str, Any]:
    first = parse_day(from_, "from") or local_day(utc_now(), settings.timezone)
    last = parse_day(to, "to") or first
    check_range(first, last)
    wanted = frozenset(part.strip() for part in include.split(",") if part.strip())
    unknown = wanted - set(INCLUDABLE)
    if unknown:
        raise HTTPException(
            422,
            f"include accepts {', '.join(INCLUDABLE)}; unknown: {', '.join(sorted(unknown))}",
        )
    row = session.exec(select(Counter).where(Counter.code == counter)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown counter {counter!r}")
    return satisfaction(session, counter=counter, scale=row.scale, first=first, last=last, include=wanted)
