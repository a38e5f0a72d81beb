"""Who may call a console route. Every route declares a role (``public`` for the login page);
the dependency checks the session cookie, the role and, on anything but GET, the CSRF token from
the form field ``csrf_token`` or the ``X-CSRF-Token`` header."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from starlette.requests import HTTPConnection

from bot.web.console.accounts import RANK, Agent

SESSION_COOKIE = "tousu_console"
LOGIN_CSRF_COOKIE = "tousu_login_csrf"
ROLE_KEY = "x-tousu-role"


class NotLoggedIn(Exception):
    """Answered with a redirect to the login page (pages) or 401 (everything else)."""


async def csrf_value(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette keeps it, so the endpoint reads it again for free
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


def secure_cookie(connection: HTTPConnection, forced: bool) -> bool:
    """Cookies are ``Secure`` when the setting says so or the request came over HTTPS (the
    scheme as the ASGI server reports it, behind a proxy from its forwarded headers)."""
    return forced or connection.url.scheme in ("https", "wss")


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def require(role: str) -> Callable[[Request], Awaitable[Agent]]:
    if role not in RANK:
        raise ValueError(f"unknown role {role}")

    async def dependency(request: Request) -> Agent:
        lookup: Callable[[Request], Awaitable[Agent | None]] = request.app.state.console.current_agent
        agent = await lookup(request)
        if agent is None:
            raise NotLoggedIn()
        if not agent.at_least(role):
            raise HTTPException(status_code=403, detail="your role may not do this")
        if request.method not in ("GET", "HEAD") and not same(await csrf_value(request), agent.csrf):
            raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page")
        return agent

    return dependency


def role_extra(role: str) -> dict[str, Any]:
    """Recorded on the route, so a test can walk the route table and try every role on it."""
    return {ROLE_KEY: role}


def adder(app: FastAPI) -> Callable[[str, str, str, Callable[..., Any]], None]:
    """``add(method, path, role, endpoint)``: a console route with its role on record. Routes go
    on the app directly (not an included router) so the route table lists each one."""

    def add(method: str, path: str, role: str, endpoint: Callable[..., Any]) -> None:
        app.add_api_route(
            "/console" + path,
            endpoint,
            methods=[method],
            openapi_extra=role_extra(role),
            include_in_schema=False,
        )

    return add
