"""Weekly and monthly reports as downloads (the same files as `rating-collector report`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from collector.api.deps import PrincipalDep, SessionDep
from collector.api.routes.satisfaction import parse_include
from collector.reports import build_report, render
from collector.reports.render import MEDIA_TYPES, filename

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get(
    "/reports/{period}",
    summary="The report of a week (2026-W48), month (2026-11), quarter (2026-Q4) or year (2026)",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "text/csv": {}, MEDIA_TYPES["xlsx"]: {}}}},
)
def report(
    period: str,
    session: SessionDep,
    _who: PrincipalDep,
    format: Annotated[Literal["html", "csv", "xlsx"], Query(description="html prints on A4")] = "html",
    lang: Annotated[Literal["vi", "en"], Query()] = "vi",
    include: Annotated[str, Query(description="comma list of flagged presses to count: suppressed,test")] = "",
    site: Annotated[str | None, Query(max_length=32)] = None,
    download: Annotated[bool, Query(description="as an attachment (html is shown inline otherwise)")] = False,
) -> Response:
    """Per department and, under it, per receiving officer: total ratings, count and share per level,
    satisfaction rate and its change against the previous period."""
    try:
        built = build_report(session, period[:20], include=parse_include(include), site=site)
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    body = render(built, format, lang)
    disposition = "attachment" if download or format != "html" else "inline"
    return Response(body, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'{disposition}; filename="{filename(built, format, lang)}"'})
