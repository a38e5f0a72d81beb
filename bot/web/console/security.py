"""Who may call a console route. Every route declares a role (``public`` for the login page) and
puts it on record (``role_extra``); its dependency (bot/web/console/deps.py, ``require``) checks
the session cookie, the role and, on anything but GET, the CSRF token from the form field
``csrf_token`` or the ``X-CSRF-Token`` header."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Request
from starlette.requests import HTTPConnection

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


def role_extra(role: str) -> dict[str, Any]:
    """A route's ``openapi_extra``: its role on record, so a test can walk the route table and
    try every role on it."""
    return {ROLE_KEY: role}
