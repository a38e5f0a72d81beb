"""Accounts and access: every console route refuses anonymous and wrong-role callers (the test
walks the route table, so a new route is covered the day it is added), CSRF on every change,
login throttling, cookie flags, logout."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from bot.domain.access import Role
from bot.web.console.accounts import RANK
from bot.web.console.routes import AREAS
from bot.web.console.security import ROLE_KEY, SESSION_COOKIE
from tests.bot.web.console.helpers import ACCOUNTS, Desk, login, page_csrf

ROLE_OF_USER = {Role(role): username for username, role, _ in ACCOUNTS}


def console_routes(desk: Desk) -> list[tuple[str, str, str]]:
    """(method, path, role) of every console operation, read from the app's OpenAPI description:
    since FastAPI 0.137 ``app.routes`` holds an included router as one opaque entry."""
    found = []
    described = set()
    for path, operations in desk.web.openapi()["paths"].items():
        if path.startswith("/console"):
            for method, operation in operations.items():
                role = operation.get(ROLE_KEY)
                assert role is not None, f"{method} {path} declares no role"
                described.add((method.upper(), path))
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path), role))
    # a route left out of the description (include_in_schema=False) would go untested
    areas = {
        (m, r.path) for router in AREAS for r in router.routes if isinstance(r, APIRoute) for m in r.methods
    }
    assert areas == described
    return found


async def test_every_route_refuses_anonymous_callers(desk: Desk) -> None:
    routes = console_routes(desk)
    assert len(routes) >= 20
    async with desk.client() as anonymous:
        for method, path, role in routes:
            if role == "public":
                continue
            response = await anonymous.request(method, path, headers={"Accept": "text/html"})
            if method == "GET":
                assert response.status_code == 303, (method, path)
                assert response.headers["location"] == "/console/login"
            else:
                assert response.status_code == 401, (method, path)


async def test_every_route_refuses_roles_below_its_own(desk: Desk) -> None:
    checked = 0
    for method, path, role in console_routes(desk):
        if role == "public":
            continue
        for lower, username in ROLE_OF_USER.items():  # the desk's agent, supervisor and admin
            if RANK[lower] >= RANK[role]:
                continue
            async with desk.client(username) as client:
                csrf = await page_csrf(client)
                response = await client.request(method, path, headers={"X-CSRF-Token": csrf})
                assert response.status_code == 403, (lower, method, path)
                checked += 1
    assert checked >= 5


async def test_every_change_needs_the_csrf_token(desk: Desk) -> None:
    async with desk.client("root") as admin:
        for method, path, role in console_routes(desk):
            if method == "GET" or role == "public":
                continue
            response = await admin.request(method, path, data={"text": "x"})
            assert response.status_code == 403, (method, path)
            assert "CSRF" in response.text


async def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(desk: Desk) -> None:
    async with desk.client() as client:
        response = await login(client, "wangfang")
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        token = client.cookies[SESSION_COOKIE]
        assert (await client.get("/console")).status_code == 200
        desk.clock.advance(hours=13)  # past console.session_hours
        assert (await client.get("/console", headers={"Accept": "text/html"})).status_code == 303
        desk.clock.advance(hours=-13)
        await client.post("/console/logout", data={"csrf_token": await page_csrf(client)})
        client.cookies.set(SESSION_COOKIE, token, path="/console")  # a stolen copy is worthless now
        assert (await client.get("/console", headers={"Accept": "text/html"})).status_code == 303


async def test_wrong_passwords_are_refused_then_throttled(desk: Desk) -> None:
    async with desk.client() as client:
        for _ in range(5):
            assert (await login(client, "wangfang", "wrong password")).status_code == 401
        # even the right password waits out the window now
        assert (await login(client, "wangfang")).status_code == 429
        desk.clock.advance(minutes=16)
        assert (await login(client, "wangfang")).status_code == 303


async def test_login_form_needs_its_own_csrf_token(desk: Desk) -> None:
    async with desk.client() as client:
        response = await client.post(
            "/console/login", data={"username": "wangfang", "password": "correct horse battery"}
        )
        assert response.status_code == 403
        assert SESSION_COOKIE not in client.cookies


async def test_pages_carry_a_strict_content_security_policy(desk: Desk) -> None:
    async with desk.client("wangfang") as client:
        response = await client.get("/console")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "http" not in response.text.split("<main>")[0].replace("http-equiv", "")
        assert (await client.get("/console/static/console.js")).status_code == 200
