"""Who may read and change what: API tokens, dashboard users, their sessions, and the login limiter.

- API tokens are 256-bit random values shown once and stored as SHA-256: a hash of a value with that
  much entropy cannot be brute-forced, so a slow hash would buy nothing and cost every request.
- Passwords are chosen by people, so they get a slow, salted, memory-hard hash: Argon2id
  (argon2-cffi, RFC 9106 low-memory parameters), re-hashed on login if the parameters change.
- A dashboard session is a random cookie value (HttpOnly, SameSite=Strict); only its SHA-256 is stored,
  so a copy of the database does not let anyone sign in.
- Failed logins are limited per (client address, user name), per address, and, far higher, per user
  name (LoginLimiter), so that nobody can lock a user out from an address of his own.
- A verification costs ~0.1-0.3 s of CPU and 64 MiB: it runs in a worker thread, never on the event
  loop, and at most VERIFY_CONCURRENCY at once (VerifyGate), so a burst of logins slows logins only,
  not /healthz or the API; beyond VERIFY_WAITING_MAX waiting logins the login answers 503 at once.
No secret (token, password, cookie value) is ever logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, select

from collector.clock import utc_now
from collector.models import ApiToken, User, WebSession

ROLES = ("viewer", "admin")  # of people and of scripts
# A token only, for a screen in the lobby: it reads the lobby's figures (no officer, no export) and
# nothing else, so the screen's browser holds no key to the rest (collector.api.deps).
DISPLAY = "display"
TOKEN_ROLES = (*ROLES, DISPLAY)
PREFIX = "rct_"  # makes a leaked token easy to recognise in logs and secret scanners
SESSION_HOURS = 12
USERNAME_MAX = 64
PASSWORD_MIN = 10

VERIFY_CONCURRENCY = 2  # Argon2 verifications at once (each takes a core for ~0.1-0.3 s)
VERIFY_WAITING_MAX = 32  # logins waiting for one of them; more answer 503 at once

T = TypeVar("T")

_hasher = PasswordHasher()
# Verified when the user name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_role(role: str, allowed: tuple[str, ...] = ROLES) -> None:
    if role not in allowed:
        raise ValueError(f"role must be one of {', '.join(allowed)}, not {role!r}")


# --- API tokens -----------------------------------------------------------------------------------


def create_token(session: Session, *, name: str, role: str) -> str:
    _check_role(role, TOKEN_ROLES)
    if session.exec(select(ApiToken).where(ApiToken.name == name)).first():
        raise ValueError(f"a token named {name!r} exists already")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_sha256=digest(token), created_at=utc_now()))
    session.flush()
    return token


def find_token(session: Session, token: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(ApiToken.token_sha256 == digest(token))).first()


# --- users and passwords --------------------------------------------------------------------------


def create_user(session: Session, *, username: str, role: str, password: str) -> User:
    _check_role(role)
    username = username.strip()
    if not username or len(username) > USERNAME_MAX or not username.isprintable():
        raise ValueError(f"a user name is 1 to {USERNAME_MAX} printable characters")
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"a password needs at least {PASSWORD_MIN} characters")
    if session.exec(select(User).where(User.username == username)).first():
        raise ValueError(f"a user named {username!r} exists already")
    user = User(username=username, role=role, password_hash=_hasher.hash(password), created_at=utc_now())
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"a password needs at least {PASSWORD_MIN} characters")
    user.password_hash = _hasher.hash(password)
    session.add(user)
    session.flush()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if the password is right and the account enabled; same cost either way."""
    user = session.exec(select(User).where(User.username == username)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.add(user)
    return user


class VerifyBusy(Exception):
    """Too many logins are waiting for a password verification already."""


class VerifyGate:
    """Runs the slow part of a login (Argon2) in a worker thread, at most `concurrency` at once.

    One anyio CapacityLimiter per event loop (a limiter belongs to the loop it first waits on; the test
    client runs each request on a loop of its own)."""

    def __init__(self, concurrency: int = VERIFY_CONCURRENCY, waiting_max: int = VERIFY_WAITING_MAX) -> None:
        self.concurrency, self.waiting_max = concurrency, waiting_max
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        with self._lock:
            limiter = self._limiters.get(loop)
            if limiter is None:
                limiter = self._limiters[loop] = anyio.CapacityLimiter(self.concurrency)
            return limiter

    async def run(self, work: Callable[[], T]) -> T:
        """work() in a worker thread once a slot is free; VerifyBusy if too many wait already."""
        limiter = self._limiter()
        if limiter.statistics().tasks_waiting >= self.waiting_max:
            raise VerifyBusy
        return await anyio.to_thread.run_sync(work, limiter=limiter)


# --- browser sessions -----------------------------------------------------------------------------


def open_session(session: Session, user: User) -> str:
    """A new session for the user; returns the cookie value (stored only as its SHA-256)."""
    assert user.id is not None
    value = secrets.token_urlsafe(32)
    now = utc_now()
    session.add(WebSession(id_sha256=digest(value), user_id=user.id, created_at=now,
                           expires_at=now + timedelta(hours=SESSION_HOURS)))
    session.flush()
    return value


def session_user(session: Session, value: str) -> User | None:
    row = session.get(WebSession, digest(value))
    if row is None or row.expires_at <= utc_now():
        return None
    user = session.get(User, row.user_id)
    return None if user is None or user.disabled else user


def close_session(session: Session, value: str) -> None:
    row = session.get(WebSession, digest(value))
    if row is not None:
        session.delete(row)


# --- failed logins ------------------------------------------------------------------------------


@dataclass
class LoginLimiter:
    """Failed logins within `window_s`, counted three ways; beyond a limit the login answers 429 until
    the oldest failure counted there leaves the window. Kept in memory: per process, lost at restart.

    - per (client address, user name): `attempts` (5). This is what stops guessing one account, and
      it is the only limit a user's own typos can reach: an attacker at one address who tries a
      supervisor's name blocks that name *from his own address only*; the supervisor, elsewhere,
      still logs in.
    - per client address, all names together: `address_attempts` (20). Stops one address from
      trying many names (spraying). A lock-out here hits only that address (behind a shared NAT: the
      people behind it, who share their attacker's address).
    - per user name, all addresses together: `user_attempts` (100, twenty times the first). A
      ceiling on guessing one account from many addresses. It is the one way left to lock a user out
      from elsewhere, and it takes at least five addresses working at their limit; lower, it would
      hand a lock-out to anyone with two. Addresses are the TCP peer's, or X-Forwarded-For only from
      RATING_TRUSTED_PROXIES (collector.cli.http_config): a header cannot choose them.
    A success clears that address's failures for that name."""

    attempts: int = 5
    window_s: float = 900.0
    address_attempts: int = 20
    user_attempts: int = 100

    def __post_init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, client: str) -> list[tuple[str, int]]:
        name = username.lower()
        return [(f"pair:{client}\x00{name}", self.attempts), (f"addr:{client}", self.address_attempts),
                (f"user:{name}", self.user_attempts)]

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                failures[-limit] + self.window_s - now
                for key, limit in self._keys(username, client)
                if len(failures := self._recent(key, now)) >= limit
            ]
        return int(max(waits)) + 1 if waits else 0

    def failed(self, username: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key, limit in self._keys(username, client):
                failures = self._recent(key, now)
                failures.append(now)
                while len(failures) > limit:  # only the newest `limit` decide when it opens again
                    failures.popleft()
            if len(self._failures) > 10_000:  # a flood of made-up names must not grow memory forever
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, client)[0][0], None)
