"""Weekly and monthly reports as downloads (the same files as `rating-collector report`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from collector.api.deps import PrincipalDep, SessionDep, SettingsDep, unprocessable
from collector.api.models import ReportDispatchPage
from collector.queries import parse_include
from collector.reports import Heading, Report, Review, build_report, build_review, dispatch_store, render
from collector.reports.render import MEDIA_TYPES, filename
from collector.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["reports"])


FILES: dict[int | str, dict[str, Any]] = {200: {"content": {MEDIA_TYPES[fmt].split(";")[0]: {} for fmt in ("html", "pdf", "csv", "xlsx")}}}
FormatQuery = Annotated[Literal["html", "pdf", "csv", "xlsx"],
                        Query(description="html prints on A4; pdf is the document to sign and send")]
LangQuery = Annotated[Literal["vi", "en"], Query()]
IncludeQuery = Annotated[str, Query(description="comma list of flagged presses to count: suppressed,test")]
SiteQuery = Annotated[str | None, Query(max_length=32)]
DownloadQuery = Annotated[bool, Query(description="as an attachment (html is shown inline otherwise)")]


def _file(document: Report | Review, format: str, lang: str, download: bool, settings: Settings) -> Response:
    body = render(document, format, lang, heading=Heading.from_settings(settings))
    disposition = "attachment" if download or format != "html" else "inline"
    return Response(body, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'{disposition}; filename="{filename(document, format, lang)}"'})


@router.get(
    "/reports/review/{year}",
    summary="The yearly officer review: ratings and rate per month, rank within the department",
    response_class=Response,
    responses=FILES,
)
def review(
    year: Annotated[int, Path(ge=1970, le=2999)],
    session: SessionDep,
    settings: SettingsDep,
    _who: PrincipalDep,
    format: FormatQuery = "html",
    lang: LangQuery = "vi",
    include: IncludeQuery = "",
    site: SiteQuery = None,
    download: DownloadQuery = False,
) -> Response:
    """Per officer: ratings and satisfaction rate per month and for the year, how sure the rate is
    (ratings, Wilson 95% interval, a mark under 30 ratings) and the rank within the department by it."""
    with unprocessable():
        built = build_review(session, year, include=parse_include(include), site=site)
    return _file(built, format, lang, download, settings)


@router.get("/reports/dispatches", summary="The scheduled reports e-mailed, due or failing, newest first",
            response_model=ReportDispatchPage)
def dispatches(
    session: SessionDep,
    _who: PrincipalDep,
    status: Annotated[Literal["pending", "sending", "sent"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """What went out by itself (collector/README.md, Reports by e-mail): each weekly and monthly report
    per recipient group, its attempts and last error until it is sent, and whom it went to."""
    rows = dispatch_store.latest(session, limit, status)
    return {"unsent": dispatch_store.unsent_count(session), "items": [
        {"id": row.id, "kind": row.kind, "period": row.period, "recipients": row.recipients, "status": row.status,
         "due_at": row.due_at.isoformat(), "attempts": row.attempts, "last_error": row.last_error,
         "next_attempt_at": None if row.status == "sent" else row.next_attempt_at.isoformat(),
         "sent_at": row.sent_at.isoformat() if row.sent_at else None,
         "addresses": row.addresses.split(", ") if row.addresses else [], "message_id": row.message_id}
        for row in rows]}


@router.get(
    "/reports/{period}",
    summary="The report of a week (2026-W48), month (2026-11), quarter (2026-Q4) or year (2026)",
    response_class=Response,
    responses=FILES,
)
def report(
    period: str,
    session: SessionDep,
    settings: SettingsDep,
    _who: PrincipalDep,
    format: FormatQuery = "html",
    lang: LangQuery = "vi",
    include: IncludeQuery = "",
    site: SiteQuery = None,
    download: DownloadQuery = False,
) -> Response:
    """Per department and, under it, per receiving officer and per counter: total ratings, count and
    share per level, satisfaction rate with its interval, and its change against the previous period."""
    with unprocessable():
        built = build_report(session, period[:20], include=parse_include(include), site=site)
    return _file(built, format, lang, download, settings)
