"""Exactly-once replies across a crash: a reply given in WeChat's passive answer is delivered in
the database the moment the answer leaves, so a process killed right after it (before any later
bookkeeping) does not send it again through the customer-service API when it restarts; and
WeChat's retry of that message after the restart (WeChat retries an answer it never received)
gets the same passive answer again, never a second copy by the API nor nothing at all."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.app import TousuApp
from bot.web.server import create_web_app
from storage.db import make_unpooled_engine
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat
from tests.faults.wechat_app import database, wechat_settings

pytestmark = pytest.mark.timeout(60)
USER = "oCrash001"


def pending_replies(url: str) -> int:
    """What a restarted process would find still to send (the committed state)."""
    engine = make_unpooled_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM messages WHERE direction = 'out' AND delivery = 'pending'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def snapshot(url: str, target: Path) -> str:
    """The SQLite file as a process killed at this instant leaves it (committed pages only)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(url.split("sqlite:///", 1)[1])
    copy = sqlite3.connect(target)
    source.backup(copy)
    copy.close()
    source.close()
    return f"sqlite:///{target}"


async def post(tousu: TousuApp, body: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_web_app(tousu))
    async with httpx.AsyncClient(transport=transport, base_url="http://wx") as http:
        return await http.post("/wechat/callback", params=wx.signed_query(), content=body.encode())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_passive_answer_is_not_sent_again_after_a_crash(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeWeChat, backend: str
) -> None:
    url = database(request, tmp_path, backend)
    first = TousuApp(wechat_settings(tmp_path, fake, url), use_nlu=False, migrate_on_start=False)
    await first.start()
    body = wx.text(USER, "你好")
    try:
        answer = await post(first, body)
        # the instant the passive answer leaves (the loop does nothing else meanwhile)
        left_pending = pending_replies(url)
        crashed = snapshot(url, tmp_path / "crash" / "tousu.db") if backend == "sqlite" else url
    finally:
        await first.stop()
    assert answer.status_code == 200 and answer.text != "success"
    assert "1. 我要投诉" in wx.reply_content(answer.text)
    assert left_pending == 0  # nothing a restart would send again

    restart_dir = tmp_path / "restart"
    restarted = TousuApp(
        wechat_settings(restart_dir, fake, crashed),
        use_nlu=False,
        migrate_on_start=False,
    )
    await restarted.start()
    try:
        retry = await post(restarted, body)  # WeChat's retry of the same message after the restart
        await asyncio.sleep(1.0)  # the outbox has loaded and sent whatever it found by now
    finally:
        await restarted.stop()
    assert retry.status_code == 200 and retry.text != "success"
    assert wx.reply_content(retry.text) == wx.reply_content(answer.text)  # the lost answer, again
    assert fake.texts_to(USER) == []  # and never through the API as well
