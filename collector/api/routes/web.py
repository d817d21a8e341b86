"""The browser side: login/logout, the dashboard and its assets, and the API docs - all behind login.

The session cookie is HttpOnly (scripts cannot read it), SameSite=Strict (other sites cannot make the
browser send it) and Secure when served over HTTPS. /docs and /openapi.json answer to the cookie or
to a bearer token."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from sqlmodel import Session

from collector.api.deps import (
    SESSION_COOKIE,
    Principal,
    PrincipalDep,
    SameOriginDep,
    SessionDep,
    find_principal,
)
from collector.auth import SESSION_HOURS, VerifyBusy, authenticate, close_session, open_session

router = APIRouter(tags=["web"])
STATIC = Path(__file__).resolve().parent.parent.parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
# What each page answers, declared on its route (the pages stay out of /docs, which is for scripts).
HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}
REDIRECT: dict[int | str, dict[str, Any]] = {
    303: {"description": "a redirect: to the login page, or to the page asked for"}}

LOGIN_WORDS = {
    "vi": {"title": "Đăng nhập", "user": "Tên đăng nhập", "password": "Mật khẩu", "submit": "Đăng nhập",
           "wrong": "Sai tên đăng nhập hoặc mật khẩu.", "locked": "Quá nhiều lần đăng nhập sai. Thử lại sau {s} giây.",
           "busy": "Máy chủ đang bận. Thử lại sau giây lát.",
           "app": "Đánh giá mức độ hài lòng tại quầy"},
    "en": {"title": "Sign in", "user": "User name", "password": "Password", "submit": "Sign in",
           "wrong": "Wrong user name or password.", "locked": "Too many failed logins. Try again in {s} seconds.",
           "busy": "The server is busy. Try again in a moment.",
           "app": "Counter satisfaction ratings"},
}


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "vi"


def _safe_next(value: str | None) -> str:
    # Only a path on this server: never //host or a scheme (an open redirect).
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


def login_page(lang: str, next_path: str, message: str = "", status: int = 200) -> HTMLResponse:
    w = LOGIN_WORDS[lang]
    esc = html.escape
    body = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{esc(w["title"])}</title><link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;background:#eef2f6;display:flex;justify-content:center;padding-top:10vh}}
form{{background:#fff;padding:2em;border-radius:8px;box-shadow:0 2px 8px #0002;min-width:18em}}
label{{display:block;margin:.8em 0 .2em}}input{{width:100%;padding:.4em;box-sizing:border-box}}
button{{margin-top:1.2em;padding:.5em 1.5em}}.error{{color:#a4161a}}</style></head>
<body><form method="post" action="/login?lang={lang}"><h1>{esc(w['app'])}</h1><h2>{esc(w['title'])}</h2>
<p class="error" role="alert">{esc(message)}</p>
<input type="hidden" name="next" value="{esc(next_path)}">
<label for="username">{esc(w['user'])}</label><input id="username" name="username" autocomplete="username" required>
<label for="password">{esc(w['password'])}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{esc(w['submit'])}</button>
<p><a href="/login?lang={'en' if lang == 'vi' else 'vi'}">{'English' if lang == 'vi' else 'Tiếng Việt'}</a></p>
</form></body></html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/login", include_in_schema=False, responses=HTML)
def login_form(request: Request) -> HTMLResponse:
    return login_page(_lang(request), _safe_next(request.query_params.get("next")))


@router.post("/login", include_in_schema=False, responses={**REDIRECT, **HTML})
async def login(request: Request) -> Response:
    lang = _lang(request)
    raw = await request.body()
    if len(raw) > 4096:
        raise HTTPException(413, "login form too large")
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    username, password = form.get("username", "")[:64], form.get("password", "")[:256]
    if "\x00" in username:  # no such user can exist (and PostgreSQL text cannot hold it)
        username = "\ufffd"
    next_path = _safe_next(form.get("next"))
    limiter = request.app.state.login_limiter
    client = request.client.host if request.client else "?"
    wait = limiter.retry_after(username, client)
    if wait:
        page = login_page(lang, next_path, LOGIN_WORDS[lang]["locked"].format(s=wait), 429)
        page.headers["Retry-After"] = str(wait)
        return page
    engine = request.app.state.engine

    def check() -> str | None:  # in a worker thread: Argon2 must not stall the event loop
        with Session(engine) as session:
            user = authenticate(session, username, password) if username and password else None
            if user is None:
                return None
            value = open_session(session, user)
            session.commit()
            return value

    try:
        value = await request.app.state.verify_gate.run(check)
    except VerifyBusy:
        page = login_page(lang, next_path, LOGIN_WORDS[lang]["busy"], 503)
        page.headers["Retry-After"] = "1"
        return page
    if value is None:
        limiter.failed(username, client)
        return login_page(lang, next_path, LOGIN_WORDS[lang]["wrong"], 401)
    limiter.succeeded(username, client)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(SESSION_COOKIE, value, max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", include_in_schema=False, dependencies=[SameOriginDep], responses=REDIRECT)
def logout(request: Request, session: SessionDep) -> Response:
    # The dashboard's sign-out button is a plain form post: it cannot add CSRF_HEADER, but the browser
    # says it comes from this origin (deps.from_this_origin). Another site's form is refused.
    value = request.cookies.get(SESSION_COOKIE)
    if value:
        close_session(session, value)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _page_principal(request: Request, session: SessionDep) -> Principal | None:
    return find_principal(request, session)


PagePrincipal = Annotated[Principal | None, Depends(_page_principal)]


@router.get("/", include_in_schema=False, responses=REDIRECT)
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/dashboard", include_in_schema=False, responses={**HTML, **REDIRECT})
def dashboard(request: Request, who: PagePrincipal) -> Response:
    if who is None:
        target = quote(str(request.url.path) + ("?" + request.url.query if request.url.query else ""), safe="")
        return RedirectResponse(f"/login?next={target}&lang={_lang(request)}", status_code=303)
    return FileResponse(STATIC / "dashboard.html", media_type="text/html",
                        headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP})


# Everything the page runs comes from here: no inline script, no other origin.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@router.get("/static/{name}", include_in_schema=False,
            responses={200: {"content": {media_type: {} for media_type in ASSETS.values()}}})
def asset(name: str, _who: PrincipalDep) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "no such file")
    return FileResponse(STATIC / name, media_type=ASSETS[name])


@router.get("/openapi.json", include_in_schema=False,
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi(request: Request, _who: PrincipalDep) -> JSONResponse:
    return JSONResponse(request.app.openapi())


# Swagger UI's files come from the swagger-ui-bundle-v2 package, so /docs works without internet access
# (FastAPI's default loads them from a CDN).
SWAGGER_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                  "favicon-32x32.png": "image/png"}


@router.get("/docs/assets/{name}", include_in_schema=False,
            responses={200: {"content": {media_type: {} for media_type in SWAGGER_ASSETS.values()}}})
def docs_asset(name: str, _who: PrincipalDep) -> FileResponse:
    from swagger_ui_bundle import swagger_ui_path

    if name not in SWAGGER_ASSETS:
        raise HTTPException(404, "no such file")
    return FileResponse(Path(swagger_ui_path) / name, media_type=SWAGGER_ASSETS[name])


@router.get("/docs", include_in_schema=False, responses={**HTML, **REDIRECT})
def docs(request: Request, who: PagePrincipal) -> Response:
    if who is None:
        return RedirectResponse("/login?next=/docs", status_code=303)
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="Counter rating collector - API",
                               swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                               swagger_css_url="/docs/assets/swagger-ui.css",
                               swagger_favicon_url="/docs/assets/favicon-32x32.png")
    page.headers["Content-Security-Policy"] = docs_csp(bytes(page.body).decode("utf-8"))
    page.headers["Cache-Control"] = "no-store"
    return page


def docs_csp(page: str) -> str:
    """Swagger UI's policy: its bundle from here, and only the inline script FastAPI writes to start it
    (allowed by its hash, not by 'unsafe-inline'); it styles elements inline and draws icons from data:
    URLs; "Try it out" calls this origin only."""
    scripts = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                       for s in re.findall(r"<script>(.*?)</script>", page, re.DOTALL))
    return (f"default-src 'none'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'")
