"""Dependencies shared by the routes: a database session, who is asking, and parameter checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from collector.auth import DISPLAY, find_token, session_user
from collector.periods import check_day_bounds
from collector.settings import Settings

SESSION_COOKIE = "rating_session"
# Browsers cannot send a custom header cross-site without a CORS preflight (which we never allow):
# a state-changing request made with the session cookie must carry it.
CSRF_HEADER = "X-Requested-With"
# What a browser says of where a request comes from that another site cannot make it say.
SAME_SITE_FETCH = ("same-origin", "none")  # Sec-Fetch-Site: this origin, or the user typed/bookmarked it


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(app_settings)]

_bearer = HTTPBearer(auto_error=False, description="A token made with `rating-collector token create`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The dashboard's login session")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    kind: str  # token | user


def find_principal(request: Request, session: Session) -> Principal | None:
    """Who a request comes from: a bearer token, else the session cookie; None if neither is valid."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        token = find_token(session, value.strip())
        return Principal(token.name, token.role, "token") if token else None
    if header:
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = session_user(session, cookie)
        if user:
            return Principal(user.username, user.role, "user")
    return None


def require_reader(
    request: Request,
    session: SessionDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _session_cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """Anyone known, the lobby's display token too: for what a lobby screen may show."""
    principal = find_principal(request, session)
    if principal is None:
        detail = "invalid token" if request.headers.get("authorization") else "missing bearer token or login"
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})
    return principal


def require_principal(request: Request, principal: Annotated[Principal, Depends(require_reader)]) -> Principal:
    """A viewer or an admin: what every route but the lobby's asks for."""
    if principal.role == DISPLAY:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a display token shows the lobby screen (/lobby) only")
    if principal.kind == "user" and request.method not in ("GET", "HEAD", "OPTIONS") \
            and not request.headers.get(CSRF_HEADER):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a change made with the login cookie needs {CSRF_HEADER}")
    return principal


def from_this_origin(request: Request) -> bool:
    """Was the request made by this site's own pages (or by a client that is not a browser and says
    so)? The CSRF rule for what a plain HTML form posts, which cannot carry CSRF_HEADER: the header
    if present; else the browser's Sec-Fetch-Site; else its Origin against our Host. A request with
    none of the three is refused: every current browser sends Origin with a POST."""
    if request.headers.get(CSRF_HEADER):
        return True
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.lower() in SAME_SITE_FETCH
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.headers.get("host", "").lower()


def require_same_origin(request: Request) -> None:
    if not from_this_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"only this site's pages may do this (Origin, Sec-Fetch-Site or {CSRF_HEADER})")


SameOriginDep = Depends(require_same_origin)
PrincipalDep = Annotated[Principal, Depends(require_principal)]
ReaderDep = Annotated[Principal, Depends(require_reader)]


def require_admin(principal: PrincipalDep) -> Principal:
    if principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the admin role")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != 10:
        raise HTTPException(422, f"{name} must be a date as YYYY-MM-DD, not {value[:40]!r}") from None
    try:
        return check_day_bounds(day)
    except ValueError as error:
        raise HTTPException(422, f"{name}: {error}") from None


def check_range(first: date | None, last: date | None, max_days: int | None = None) -> None:
    if first and last and first > last:
        raise HTTPException(422, f"from ({first}) is after to ({last}): the range is reversed")
    if first and last and max_days and (last - first).days + 1 > max_days:
        raise HTTPException(422, f"the range from {first} to {last} is longer than {max_days} days")


@contextmanager
def unprocessable() -> Iterator[None]:
    """A request's mistake that the domain names (a ValueError with its reason) answered as a 422."""
    try:
        yield
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
