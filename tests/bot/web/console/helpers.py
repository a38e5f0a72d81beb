"""The console in-process: the bot on a controllable clock, the web app over httpx's ASGI transport
on the same event loop, accounts, and a logged-in client per person."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from bot.app import TousuApp
from bot.web.console import accounts
from bot.web.server import create_web_app
from tests.bot.services.ticket_helpers import Clock, desk_app

PASSWORD = "correct horse battery"
ACCOUNTS = (
    ("wangfang", "agent", "王芳"),
    ("lisi", "agent", "李四"),
    ("zhaoliu", "supervisor", "赵六"),
    ("root", "admin", "管理员"),
)


@dataclass
class Desk:
    app: TousuApp
    web: Any
    clock: Clock

    @asynccontextmanager
    async def client(self, username: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.web, client=("10.0.0.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://desk.local") as client:
            if username is not None:
                await login(client, username)
            yield client


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/console/login")
    token = csrf_of(page.text)
    return await client.post(
        "/console/login", data={"username": username, "password": password, "csrf_token": token}
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def page_csrf(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/console")).text)


async def console_desk(tmp_path: Path, clock: Clock, db_url: str | None = None, **lifecycle: Any) -> Desk:
    app = await desk_app(tmp_path, clock, db_url, **lifecycle)

    def seed(session: Session) -> None:
        for username, role, name in ACCOUNTS:
            # the supervisor oversees the whole desk; the agents keep their directory department
            department = "" if role == "supervisor" else None
            accounts.add_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=name,
                department=department,
            )

    await app.db.run(seed)
    return Desk(app, create_web_app(app, manage_lifecycle=False), clock)


async def take_and_send_file(
    client: httpx.AsyncClient, conversation_id: int, text: str, file: tuple[str, bytes, str]
) -> httpx.Response:
    """Take the conversation, then reply with ``text`` and one file (name, content, MIME type)."""
    csrf = await page_csrf(client)
    await client.post(f"/console/conversations/{conversation_id}/take", data={"csrf_token": csrf})
    return await client.post(
        f"/console/conversations/{conversation_id}/reply",
        data={"csrf_token": csrf, "text": text},
        files={"files": file},
        headers={"X-Requested-With": "fetch"},
    )


async def settle(desk: Desk, user: str) -> None:
    """Wait for queued deliveries, then drop what reached the customer so far."""
    for _ in range(100):
        if desk.app.delivery.pending_count() == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    desk.app.console.pop_nowait(user)
