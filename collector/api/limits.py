"""Request bodies are refused before they are read, when they should not be read at all.

A pure ASGI middleware (BodyLimits), outside everything FastAPI does, because FastAPI reads and parses
a route's body *before* it runs the route's dependencies, the login check among them: without this an
anonymous client could make the collector take in 60 MB of JSON to be told 401.

- A request with a body (Content-Length > 0, or chunked) to any path but the few public ones (login,
  logout, /healthz) and with no credentials at all (no `Authorization: Bearer ...`, no session cookie)
  gets 401 at once, its body unread. Whether the credentials are valid is for the route to say.
- A body larger than its cap gets 413: at once when Content-Length says so, else as soon as the bytes
  read pass the cap (a chunked body has no length to check up front). The cap is
  RATING_HTTP_BODY_MAX (1 MiB by default: the largest body any route takes today is one registry
  entry, well under 1 KB), and much less on the public paths (PUBLIC_BODY_MAX).
Both answers close the connection, so that the body left unsent is never read as a next request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.api.deps import SESSION_COOKIE

# Paths that take a body from someone not logged in yet, and the most they take (the login form is
# two fields; the route itself refuses more than 4 KB).
PUBLIC_BODY_MAX: Mapping[str, int] = {"/login": 8192, "/logout": 8192, "/healthz": 8192}


class BodyTooLarge(Exception):
    pass


def _has_credentials(headers: Mapping[str, str]) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return True
    return bool(cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE))


async def _answer(send: Send, status: int, detail: str, extra: Mapping[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), (b"x-content-type-options", b"nosniff")]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    def __init__(self, app: ASGIApp, *, max_bytes: int, public: Mapping[str, int] = PUBLIC_BODY_MAX) -> None:
        self.app, self.max_bytes, self.public = app, max_bytes, public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length_header = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            length = int(length_header) if length_header is not None else None
        except ValueError:
            await _answer(send, 400, "Content-Length is not a number")
            return
        if not chunked and not length:
            await self.app(scope, receive, send)  # no body: nothing to refuse
            return
        cap = self.public.get(scope["path"])
        if cap is None:
            if not _has_credentials(headers):
                await _answer(send, 401, "missing bearer token or login", {"www-authenticate": "Bearer"})
                return
            cap = self.max_bytes
        if length is not None and length > cap:
            await _answer(send, 413, f"the request body is larger than {cap} bytes")
            return
        await self._capped(scope, receive, send, cap)

    async def _capped(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        seen = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    over = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # whatever the app makes of the exception (FastAPI: a 400) is not sent
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await _answer(send, 413, f"the request body is larger than {cap} bytes")
