"""The API in-process: the bot on a controllable clock (tests/bot/services/ticket_helpers.py),
the web app over httpx's ASGI transport, and a token per person of the desk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from bot.app import TousuApp
from bot.web.api import tokens
from bot.web.server import create_web_app
from tests.bot.services.ticket_helpers import Clock, desk_app

TOKENS = (
    ("wangfang", "agent", None),
    ("lisi", "agent", None),
    ("zhaoliu", "supervisor", "quality"),
    ("root", "admin", None),
)


@dataclass
class ApiDesk:
    app: TousuApp
    web: Any
    clock: Clock
    secrets: dict[str, str] = field(default_factory=dict)

    @asynccontextmanager
    async def client(self, name: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        """A client sending ``name``'s token (none when ``name`` is None)."""
        headers = {"Authorization": f"Bearer {self.secrets[name]}"} if name else {}
        transport = httpx.ASGITransport(app=self.web, client=("10.0.0.9", 5000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://desk.local/api/v1", headers=headers
        ) as client:
            yield client


async def api_desk(tmp_path: Path, clock: Clock, db_url: str | None = None) -> ApiDesk:
    app = await desk_app(tmp_path, clock, db_url)

    def seed(session: Session) -> dict[str, str]:
        return {
            name: tokens.create(session, name=name, role=role, department=dept, now=clock()).secret
            for name, role, dept in TOKENS
        }

    made = await app.db.run(seed)
    return ApiDesk(app, create_web_app(app, manage_lifecycle=False), clock, made)
