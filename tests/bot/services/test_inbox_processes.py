"""Two bot processes on one PostgreSQL database (two apps in one test, each its own manager,
caches and delivery): a customer whose messages land on either gets the conversation one process
would give, each message answered once and in arrival order, and a message stored by a process
that died is answered by the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import TousuApp
from bot.channels.console import ConsoleChannel
from storage.models import Conversation, Message, Ticket
from tests.bot.services.test_inbox import COMPLAINT, joined
from tests.conftest import make_settings
from tests.databases import empty_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
async def apps(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[TousuApp, TousuApp]]:
    empty_postgres(postgres_url)
    # one console for both: it stands for the platform, which gets a reply from either process
    console = ConsoleChannel()
    pair = []
    for name in ("a", "b"):
        settings = make_settings(tmp_path / name, db_url=postgres_url)
        app = TousuApp(settings, channels=[console], use_nlu=False)
        app.console = console
        await app.start()  # one after the other: both publish the flow files
        app.manager.adopt_after_s = 1.0
        pair.append(app)
    try:
        yield pair[0], pair[1]
    finally:
        for app in pair:
            await app.stop()


async def _intake(a: TousuApp, b: TousuApp, user: str) -> str:
    """The whole intake, the customer's messages alternating between the two processes."""
    for n, (text, expected) in enumerate(COMPLAINT):
        app = a if n % 2 == 0 else b
        replies = await app.console.say(app.manager, user, text)
        assert expected in joined(replies), (user, text, joined(replies))
    done = joined(await b.console.say(b.manager, user, "1"))
    assert "{ticket_number}" not in done
    return done


async def test_intakes_spread_over_two_processes_complete_once_each(apps: tuple[TousuApp, TousuApp]) -> None:
    a, b = apps
    users = [f"cust{n}" for n in range(6)]
    done = await asyncio.gather(*(_intake(a, b, user) for user in users))
    tickets = await a.db.run(lambda s: list(s.exec(select(Ticket))))
    assert len(tickets) == len(users) and len({t.number for t in tickets}) == len(users)
    assert all(any(t.number in d for t in tickets) for d in done)
    messages = await a.db.run(lambda s: list(s.exec(select(Message).order_by(col(Message.id)))))
    for user in users:
        inbound = [m for m in messages if m.user_id == user and m.direction == "in"]
        assert [m.text for m in inbound] == [t for t, _ in COMPLAINT] + ["1"]
        assert all(m.processed_at is not None and m.last_error is None for m in inbound)


async def test_messages_arriving_at_both_processes_at_once_are_taken_in_arrival_order(
    apps: tuple[TousuApp, TousuApp],
) -> None:
    a, b = apps
    await a.console.say(a.manager, "frank", "你好")
    texts = ("1", "我的快递三天都没有送到，电话也打不通", "3")
    for n, text in enumerate(texts):  # stored in this order, each turn started in the background
        app = a if n % 2 == 0 else b
        assert await app.manager.accept(app.console.inbound("frank", text))
    await asyncio.gather(a.manager.drain(), b.manager.drain())
    conv = await a.db.run(lambda s: s.exec(select(Conversation)).one())
    assert conv.step == "complaint_when"
    assert conv.slots["category"] == "delivery"
    inbound = await a.db.run(
        lambda s: list(s.exec(select(Message).where(Message.direction == "in").order_by(col(Message.id))))
    )
    assert all(m.processed_at is not None for m in inbound)
    processed = sorted(inbound, key=lambda m: (m.processed_at, m.id))
    assert [m.id for m in processed] == [m.id for m in inbound]  # answered in arrival order


async def test_a_message_a_dead_process_stored_is_answered_before_the_next_one(
    apps: tuple[TousuApp, TousuApp],
) -> None:
    a, b = apps
    await a.console.say(a.manager, "gina", "你好")
    # a stored this one and died before its turn ran
    stored = await a.manager._store(a.console.inbound("gina", "1", message_id="orphan-1"))
    assert stored is not None
    await stored[1]
    a.manager._pending.clear()
    started = time.monotonic()
    handled = await b.manager.handle(b.console.inbound("gina", "我的快递三天都没有送到，电话也打不通"))
    waited = time.monotonic() - started
    assert "类型" in joined(list(handled.replies))  # the description was taken at the step "1" led to
    sent = await b.console.pop("gina", 1 + len(handled.replies))
    assert "请描述" in sent[0].text and "类型" in joined(sent[1:])  # the orphan's answer came first
    assert 0.9 <= waited < 5
    conv = await b.db.run(lambda s: s.exec(select(Conversation)).one())
    assert conv.slots.get("category") is None and conv.step == "complaint_category"
    orphan = await b.db.run(
        lambda s: s.exec(select(Message).where(Message.channel_message_id == "orphan-1")).one()
    )
    assert orphan.processed_at is not None and orphan.attempts == 1


async def test_the_sweep_answers_a_dead_processes_last_message(apps: tuple[TousuApp, TousuApp]) -> None:
    a, b = apps
    await a.console.say(a.manager, "hugo", "你好")
    stored = await a.manager._store(a.console.inbound("hugo", "1", message_id="orphan-2"))
    assert stored is not None
    await stored[1]
    a.manager._pending.clear()
    assert await b.manager.sweep(holder="b", every=1.0) == 0  # too young: maybe a turn in progress
    await asyncio.sleep(1.1)
    swept = await b.manager.sweep(holder="b", every=1.0) + await a.manager.sweep(holder="a", every=1.0)
    assert swept == 1  # one process holds the sweep lease
    replies = await b.console.pop("hugo", 1, timeout=5)
    assert "请描述" in joined(replies)
