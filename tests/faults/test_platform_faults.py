"""The platform misbehaving around a running ``tousu run``: its API down for 20 s while replies
are due, and the same callback delivered three times at once (WeChat retries a callback that
was slow to answer). Replies are held and delivered once, in order; copies are answered alike."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.fakes.wechat_api import FakeWeChat
from tests.faults.bot_process import BotProcess, Customer, settled

pytestmark = pytest.mark.timeout(300)

STEPS = (
    ("你好", "客户服务中心"),
    ("1", "请描述"),
    ("我买的电热水壶用了两天就漏水了，客服电话一直打不通", "类型"),
)


def _db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'tousu.db'}"
    from tests.databases import empty_postgres

    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


async def test_replies_held_by_a_20_second_api_outage_arrive_once_and_in_order(
    tmp_path: Path, fake: FakeWeChat
) -> None:
    bot = BotProcess(tmp_path, f"sqlite:///{tmp_path / 'tousu.db'}", fake)
    # every answer goes through the customer-service API, none passively in the callback
    bot.env["TOUSU_WECHAT__REPLY_BUDGET_SECONDS"] = "0.001"
    bot.env["TOUSU_OUTBOX__BACKOFF_MAX_SECONDS"] = "1"  # retried every second once backed off
    bot.start()
    customers = [Customer(f"oDown{n:02d}") for n in range(20)]
    ids = itertools.count(int(time.time()) * 1000)
    try:
        async with httpx.AsyncClient() as client:
            fake.outage(20)
            outage_ends = time.monotonic() + 20

            async def intake(customer: Customer) -> None:
                for content, expected in STEPS:
                    assert await customer.say(client, bot, content, next(ids)) == ""
                    await customer.wait_for(fake, expected, timeout=90)

            await asyncio.gather(*(intake(c) for c in customers))
            await settled(fake)
    finally:
        bot.stop()
    assert fake.texts_to(customers[0].openid) and time.monotonic() >= outage_ends
    for customer in customers:
        seen = fake.texts_to(customer.openid)
        assert [n for n in Counter(seen).values() if n > 1] == [], seen
        order = [next(i for i, t in enumerate(seen) if expected in t) for _c, expected in STEPS]
        assert order == sorted(order), seen
    assert "Traceback" not in bot.log.read_text(errors="replace")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_three_copies_delivered_at_once_are_stored_once_and_answered_alike(
    backend: str, tmp_path: Path, fake: FakeWeChat, request: pytest.FixtureRequest
) -> None:
    db_url = _db(backend, tmp_path, request)
    bot = BotProcess(tmp_path, db_url, fake)
    bot.start()
    customers = [Customer(f"oCopy{n:02d}") for n in range(30)]
    ids = itertools.count(int(time.time()) * 1000)
    answers: dict[str, list[list[str]]] = {c.openid: [] for c in customers}
    try:
        async with httpx.AsyncClient() as client:

            async def intake(customer: Customer) -> None:
                for content, expected in STEPS:
                    msg_id = next(ids)
                    copies = await asyncio.gather(
                        *(customer.say(client, bot, content, msg_id) for _ in range(3))
                    )
                    answers[customer.openid].append(copies)
                    await customer.wait_for(fake, expected)

            await asyncio.gather(*(intake(c) for c in customers))
            await settled(fake)
    finally:
        bot.stop()
    for customer in customers:
        for copies in answers[customer.openid]:
            assert len(set(copies)) == 1, copies  # the same answer to every copy
        prompts = [t for copies in answers[customer.openid] for t in copies[:1] if t]
        seen = prompts + fake.texts_to(customer.openid)
        assert [n for n in Counter(seen).values() if n > 1] == [], seen
        assert customer.server_errors == 0 and customer.misaddressed == 0
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT channel_message_id) FROM messages WHERE direction = 'in'")
        ).one()
    engine.dispose()
    assert tuple(stored) == (len(customers) * len(STEPS),) * 2
