"""The "customers on one target" rule counts only identities someone vouches for: web-chat
customers (a cookie anyone can clear) do not make a complaint major."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from bot.app import TousuApp
from storage.models import Ticket
from tests.bot.services.ticket_helpers import Clock, desk_app, file


async def _as_web_chat(app: TousuApp, number: str) -> None:
    await app.db.run(
        lambda s: s.execute(update(Ticket).where(Ticket.number == number).values(channel="webchat"))
    )


async def test_web_chat_customers_do_not_count_towards_the_repeat_rule(tmp_path: Path) -> None:
    app = await desk_app(tmp_path, Clock())
    try:
        for user in ("web1", "web2"):
            ticket, _ = await file(app, user, where="上海徐汇店")
            await _as_web_chat(app, ticket.number)
        third, _ = await file(app, "c3", where="上海徐汇店")
        assert third.severity == "normal"  # two web chats and one verified customer
        fourth, _ = await file(app, "c4", where="上海徐汇店")
        assert fourth.severity == "normal"
        fifth, _ = await file(app, "c5", where="上海徐汇店")
        assert fifth.severity == "major"  # three customers the platform vouches for
        assert fifth.severity_reasons[-1]["rule"] == "repeat_complaint"
    finally:
        await app.stop()
