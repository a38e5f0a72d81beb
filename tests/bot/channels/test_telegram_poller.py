"""Polling mode with two processes on one database: only the holder of the telegram-poller lease
calls getUpdates, and when it dies another takes over, losing and repeating no update."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.app import TousuApp
from bot.channels.telegram import TelegramChannel
from bot.services.roles import RoleLease
from tests.conftest import make_settings
from tests.databases import sqlite_url
from tests.fakes.telegram_api import TOKEN, FakeTelegram

pytestmark = pytest.mark.timeout(90)
CHAT = 777


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def apps(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[list[TousuApp]]:
    started: list[TousuApp] = []
    for name in ("a", "b"):
        settings = make_settings(
            tmp_path / name,
            db_url=sqlite_url(tmp_path),
            telegram={
                "token": SecretStr(TOKEN),
                "base_url": f"{fake.url}/bot",
                "base_file_url": f"{fake.url}/file/bot",
                "poll_timeout_seconds": 1,
            },
            outbox={"per_chat_interval_seconds": 0.02},
        )
        app = TousuApp(settings, use_nlu=False)
        await app.start()
        started.append(app)
    try:
        yield started
    finally:
        for app in started:
            await app.stop()


def _channel(app: TousuApp) -> TelegramChannel:
    channel = app.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    return channel


def _held(channel: TelegramChannel) -> bool:
    assert isinstance(channel.poller, RoleLease)
    return channel.poller.held


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_one_process_polls_and_another_takes_over_when_it_dies(
    apps: list[TousuApp], fake: FakeTelegram
) -> None:
    channels = [_channel(app) for app in apps]
    await _until(lambda: any(_held(c) for c in channels))
    await asyncio.sleep(2.5)
    holder, other = sorted(channels, key=lambda c: not _held(c))
    assert holder.polls > 0 and other.polls == 0  # the other never fought over getUpdates

    fake.push_text(CHAT, "你好")
    await _until(lambda: len(fake.texts_to(CHAT)) >= 1)

    # the holder dies without handing the lease back: its polling stops, nothing renews
    assert holder._task is not None
    holder._task.cancel()
    died = time.monotonic()
    fake.push_text(CHAT, "1")
    await _until(lambda: other.polls > 0, timeout=15.0)
    took = time.monotonic() - died
    await _until(lambda: any("请描述" in t for t in fake.texts_to(CHAT)))
    assert took < 2 * 1 + 5 + 3  # the lease's life (2 polls + 5 s) and one retry
    texts = fake.texts_to(CHAT)
    assert sum("请描述" in t for t in texts) == 1  # the update after the handover answered once
