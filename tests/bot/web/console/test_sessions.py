"""Console sessions and logins: idle timeout, Secure cookies over HTTPS, a throttle a stranger
cannot use to lock an account out, one password limit, and argon2 and export zips kept off the
event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.services import data_rights
from bot.web.console import accounts
from bot.web.console.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from storage.models import Customer, DataRequest
from tests.bot.web.console.helpers import Desk, csrf_of, login, page_csrf

HTML = {"Accept": "text/html"}


@asynccontextmanager
async def _client(
    desk: Desk, address: str, base_url: str = "http://desk.local"
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=desk.web, client=(address, 5000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


async def test_an_idle_session_ends_and_a_used_one_lasts_to_its_lifetime(desk: Desk) -> None:
    async with desk.client("wangfang") as client:
        desk.clock.advance(hours=5)
        assert (await client.get("/console", headers=HTML)).status_code == 200  # in use: renewed
        desk.clock.advance(hours=5)  # 10 h after login, 5 h idle
        assert (await client.get("/console", headers=HTML)).status_code == 200
        desk.clock.advance(hours=2, minutes=1)  # past console.session_hours (12) since login
        assert (await client.get("/console", headers=HTML)).status_code == 303
    async with desk.client("lisi") as client:
        desk.clock.advance(hours=8, minutes=1)  # past console.idle_hours with no request
        assert (await client.get("/console", headers=HTML)).status_code == 303


async def test_cookies_are_secure_over_https(desk: Desk) -> None:
    async with _client(desk, "10.0.0.9", base_url="https://desk.local") as client:
        page = await client.get("/console/login")
        assert LOGIN_CSRF_COOKIE in page.headers["set-cookie"] and "Secure" in page.headers["set-cookie"]
        response = await login(client, "wangfang")
        assert response.status_code == 303
        session_cookie = next(c for c in response.headers.get_list("set-cookie") if SESSION_COOKIE in c)
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie
    async with _client(desk, "10.0.0.9") as plain:
        assert "Secure" not in (await plain.get("/console/login")).headers["set-cookie"]


async def test_a_stranger_cannot_lock_the_admin_out(desk: Desk) -> None:
    async with _client(desk, "203.0.113.7") as stranger:
        for _ in range(6):
            await login(stranger, "root", "guessing wrong")
        assert (await login(stranger, "root")).status_code == 429  # the stranger's address waits
    async with _client(desk, "10.0.0.1") as admin:
        assert (await login(admin, "root")).status_code == 303


async def test_an_address_trying_many_usernames_is_throttled_later(desk: Desk) -> None:
    limit = 5 * accounts.ADDRESS_FAILURES  # console.login_max_failures for any username
    async with _client(desk, "203.0.113.8") as sprayer:
        for n in range(limit - 1):
            await login(sprayer, f"user{n}", "guessing wrong")
    async with _client(desk, "203.0.113.8") as colleague:  # one office behind one address
        assert (await login(colleague, "wangfang")).status_code == 303
    async with _client(desk, "203.0.113.8") as sprayer:
        await login(sprayer, "someone", "guessing wrong")
        assert (await login(sprayer, "lisi")).status_code == 429


async def test_a_throttled_try_costs_no_hash_and_hashes_run_off_the_loop(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = accounts.verify_password

    def counted(stored: str | None, password: str) -> tuple[bool, str | None]:
        threads.append(threading.get_ident())
        return real(stored, password)

    monkeypatch.setattr(accounts, "verify_password", counted)
    async with desk.client() as client:
        assert (await login(client, "wangfang")).status_code == 303
        assert threads and threading.get_ident() not in threads  # a worker thread, not the loop's
    async with desk.client() as client:
        for _ in range(5):
            await login(client, "lisi", "wrong password")
        before = len(threads)
        assert (await login(client, "lisi")).status_code == 429
        assert len(threads) == before


async def test_passwords_have_one_length_limit(desk: Desk) -> None:
    longest = "p" * accounts.MAX_PASSWORD

    def create(session: Session, password: str) -> None:
        accounts.add_user(session, username="chen", password=password, role="agent")

    with pytest.raises(accounts.AccountError, match="at most 256"):
        await desk.app.db.run(lambda s: create(s, longest + "p"))
    await desk.app.db.run(lambda s: create(s, longest))
    async with desk.client() as client:
        assert (await login(client, "chen", longest + "p")).status_code == 401  # not cut to fit
        assert (await login(client, "chen", longest)).status_code == 303


async def test_an_export_is_zipped_off_the_loop_and_recorded_once_built(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.app.console.say(desk.app.manager, "exported", "你好")
    cid = await desk.app.db.run(
        lambda s: int(s.exec(select(Customer.id).where(Customer.external_id == "exported")).one() or 0)
    )
    threads: list[int] = []
    real = data_rights.Export.zip_bytes

    def zipping(self: data_rights.Export) -> bytes:
        threads.append(threading.get_ident())
        return real(self)

    monkeypatch.setattr(data_rights.Export, "zip_bytes", zipping)
    async with desk.client("root") as admin:
        response = await admin.post(
            f"/console/customers/{cid}/export", data={"csrf_token": await page_csrf(admin)}
        )
    assert response.status_code == 200 and response.content.startswith(b"PK")
    assert threads and threading.get_ident() not in threads

    def audit(session: Session) -> list[Any]:
        return [(r.action, r.customer_id) for r in session.exec(select(DataRequest))]

    assert await desk.app.db.run(audit) == [("export", cid)]


async def test_tries_sent_side_by_side_cannot_pass_the_throttle_together(desk: Desk) -> None:
    async with _client(desk, "203.0.113.9") as attacker:
        csrf = csrf_of((await attacker.get("/console/login")).text)
        tries = [
            attacker.post(
                "/console/login", data={"username": "root", "password": f"guess {n}", "csrf_token": csrf}
            )
            for n in range(12)
        ]
        statuses = sorted(r.status_code for r in await asyncio.gather(*tries))
    assert statuses.count(401) == 5 and statuses.count(429) == 7
