"""API tokens: random, shown once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from collector.clock import utc_now
from collector.models import ApiToken

ROLES = ("viewer", "admin")
PREFIX = "rct_"  # makes a leaked token easy to recognise in logs and secret scanners


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, *, name: str, role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if session.exec(select(ApiToken).where(ApiToken.name == name)).first():
        raise ValueError(f"a token named {name!r} exists already")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_sha256=digest(token), created_at=utc_now()))
    session.flush()
    return token


def find_token(session: Session, token: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(ApiToken.token_sha256 == digest(token))).first()
