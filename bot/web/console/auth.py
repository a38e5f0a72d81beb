"""Logging in and out, and the console's language. The login form carries its own CSRF token
(a cookie of its own: nobody has a session yet); everything else is behind ``CurrentAgent``."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Cookie, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from bot.web.console import accounts
from bot.web.console.context import Console
from bot.web.console.deps import ConsoleDep, CurrentAgent, DbDep, MaybeAgent, NowDep, SessionToken
from bot.web.console.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, role_extra, same, secure_cookie
from storage.models import Staff

router = APIRouter(prefix="/console")

LoginCsrf = Annotated[str, Cookie(alias=LOGIN_CSRF_COOKIE)]
"""The login form's own CSRF token, as its cookie came back."""


@router.get("/login", openapi_extra=role_extra("public"))
async def login_page(request: Request, console: ConsoleDep, agent: MaybeAgent) -> Response:
    if agent is not None:
        return RedirectResponse("/console", status_code=303)
    return _login_form(console, request, error=None)


@router.post("/login", openapi_extra=role_extra("public"))
async def login(
    request: Request, console: ConsoleDep, db: DbDep, now: NowDep, expected: LoginCsrf = ""
) -> Response:
    form = await request.form()
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[: accounts.MAX_PASSWORD + 1]  # longer: refused
    if not same(str(form.get("csrf_token") or ""), expected):
        return _login_form(console, request, error="bad_login", status=403)
    address = request.client.host if request.client else "?"
    settings = console.settings
    result = await accounts.attempt_login(
        db,
        username=username,
        password=password,
        address=address,
        now=now,
        limit=settings.login_max_failures,
        window=timedelta(minutes=settings.login_window_minutes),
        lifetime=timedelta(hours=settings.session_hours),
        idle=timedelta(hours=settings.idle_hours),
    )
    if isinstance(result, str):
        return _login_form(console, request, error=result, status=429 if result == "throttled" else 401)
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result[0],
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request, settings.secure_cookies),
        max_age=int(settings.session_hours * 3600),
        path="/console",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


@router.post("/logout", openapi_extra=role_extra("agent"))
async def logout(agent: CurrentAgent, db: DbDep, token: SessionToken = None) -> Response:
    await db.run(lambda s: accounts.logout(s, token))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@router.post("/language", openapi_extra=role_extra("agent"))
async def language(request: Request, agent: CurrentAgent, db: DbDep) -> Response:
    def flip(session: Session) -> None:
        user = session.exec(select(Staff).where(Staff.username == agent.username)).one()
        user.language = "en" if user.language != "en" else "zh"
        session.add(user)

    await db.run(flip)
    return RedirectResponse(request.headers.get("referer") or "/console", status_code=303)


def _login_form(console: Console, request: Request, *, error: str | None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    language = "en" if request.query_params.get("lang") == "en" else "zh"
    response = console.render(
        "login.html", None, status=status, error=error, login_csrf=token, language=language
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request, console.settings.secure_cookies),
        path="/console",
    )
    return response
