"""Dependencies shared by the routes: a database session and the bearer-token check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from collector.auth import find_token
from collector.models import ApiToken
from collector.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="A token made with `rating-collector token create`")


def require_token(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ApiToken:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    token = find_token(session, credentials.credentials)
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    return token


TokenDep = Annotated[ApiToken, Depends(require_token)]


def require_admin(token: TokenDep) -> ApiToken:
    if token.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin token")
    return token


def parse_day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            422, f"{name} must be a date as YYYY-MM-DD, not {value!r}"
        ) from None


def check_range(first: date | None, last: date | None) -> None:
    if first and last and first > last:
        raise HTTPException(
            422, f"from ({first}) is after to ({last}): the range is reversed"
        )
