"""The lobby screen: a large read-only page for a screen that citizens see, run by a display token
(`rating-collector token create --role display`) that reads this route's figures and nothing else.

The page and its script carry no data, so they are served without a login: a kiosk browser opens
/lobby#token=rct_..., the script keeps the token from the fragment (which never reaches the server
or its logs) and sends it as a bearer token. It shows counters and the site, never an officer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from sqlmodel import col, select

from collector.api.deps import ReaderDep, SessionDep, SettingsDep, unprocessable
from collector.api.models import LobbyPublic
from collector.clock import local_day, local_time, utc_now
from collector.figures import level_meaning
from collector.models import Press
from collector.periods import month_start
from collector.queries import names_for_request, resolve_filters, summarize

router = APIRouter(tags=["lobby"])
STATIC = Path(__file__).resolve().parent.parent.parent / "static"
ASSETS = {"lobby.js": "text/javascript", "lobby.css": "text/css"}
RECENT = 8  # ratings in the ticker
# Everything the page runs comes from here; it posts no form and is framed by nobody.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}


@router.get("/lobby", include_in_schema=False, responses={200: {"content": {"text/html": {}}}})
def lobby_page() -> FileResponse:
    return FileResponse(STATIC / "lobby.html", media_type="text/html", headers=HEADERS)


@router.get("/lobby/{name}", include_in_schema=False,
            responses={200: {"content": {media_type: {} for media_type in ASSETS.values()}}})
def lobby_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


@router.get("/api/v1/lobby", summary="Today's figures for the lobby screen (a display token may read it)",
            response_model=LobbyPublic)
def lobby_figures(
    session: SessionDep,
    settings: SettingsDep,
    _who: ReaderDep,
    site: Annotated[str | None, Query(description="only the departments of this site", max_length=32)] = None,
) -> dict[str, Any]:
    """Today's and this month's satisfaction of the site, today's per counter, and the latest
    ratings. Suppressed and test presses are left out, as in the reports."""
    zone = settings.timezone
    today = local_day(utc_now(), zone)
    names = names_for_request(session, counter=None, department=None, officer=None, site=site)
    with unprocessable():
        filters = resolve_filters(names, counter=None, department=None, officer=None, site=site,
                                  include=frozenset())
    day = summarize(session, names, first=today, last=today, group="counter", by=None, filters=filters,
                    compare=False)
    month = summarize(session, names, first=month_start(today), last=today, group=None, by=None,
                      filters=filters, compare=False)
    query = (select(Press.pressed_at, Press.counter, Press.scale, Press.level)
             .where(Press.day == today, col(Press.suppressed).is_(False), col(Press.test).is_(False))
             .order_by(col(Press.pressed_at).desc(), col(Press.id).desc()).limit(RECENT))
    if filters.department_ids is not None:
        query = query.where(col(Press.department_id).in_(filters.department_ids))
    recent = []
    for pressed_at, counter, scale, level in session.exec(query).all():
        meaning = level_meaning(scale, level)
        if meaning is None:
            continue
        key, vi, en, satisfied = meaning
        recent.append({"at": local_time(pressed_at, zone).isoformat(timespec="seconds"), "counter": counter,
                       "key": key, "label_vi": vi, "label_en": en, "satisfied": satisfied})
    return {
        "day": today.isoformat(), "timezone": zone,
        "today": _rates(day), "month": _rates(month),
        "counters": [{"code": g["code"], "name": g["name"], **_rates(g)} for g in day["groups"]],
        "recent": recent,
    }


def _rates(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures[k] for k in ("total", "satisfied", "satisfaction_rate", "rate_low", "rate_high",
                                    "few_ratings", "index")}
