"""WeChat's quotas spent from shared rows (bot/services/wechat_quotas.py): a customer's allowance
after what they wrote, the day's API quota in blocks, on SQLite and PostgreSQL; and on PostgreSQL
two processes (each its own Database, engine and connections) spending from the same quotas at
once, never more than the quota between them."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.channels.wechat_inbound import is_event_id
from bot.services.wechat_quotas import Verdict, WeChatQuotas
from storage.db import Database
from storage.repositories import transcript
from tests.databases import empty_postgres

pytestmark = pytest.mark.timeout(120)
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
_ids = itertools.count(1)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def wrote(db: Database, openid: str, at: datetime, *, event: bool = False) -> None:
    """The customer sent a message (or clicked the menu, ``event``) at ``at``."""
    mid = f"ev:{openid}:{next(_ids)}" if event else f"m:{next(_ids)}"

    def run(conn: object) -> None:
        from sqlalchemy import Connection

        assert isinstance(conn, Connection)
        customer = transcript.customer_id(
            conn, channel="wechat", external_id=openid, language="zh", name=None, now=at
        )
        transcript.insert_inbound(
            conn,
            customer=customer,
            channel="wechat",
            user_id=openid,
            channel_message_id=mid,
            kind="text",
            text="你好",
            payload=None,
            attachments=[],
            received_at=at,
        )

    await db.run_core(run)


def quotas(
    db: Database, clock: Callable[[], datetime], *, daily: int = 1000, block: int = 20
) -> WeChatQuotas:
    return WeChatQuotas(db, daily_limit=daily, is_event=is_event_id, block=block, clock=clock)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, pool_size=4)
    try:
        yield database
    finally:
        database.close()


async def takes(q: WeChatQuotas, openid: str, n: int) -> list[Verdict]:
    return [(await q.take(openid)).verdict for _ in range(n)]


async def test_five_after_a_message_then_none_until_the_customer_writes_again(db: Database) -> None:
    clock = Clock()
    q = quotas(db, clock)
    assert await takes(q, "oA", 1) == [Verdict.NO_ALLOWANCE]  # never wrote
    await wrote(db, "oA", NOW)
    assert await takes(q, "oA", 6) == [Verdict.SEND] * 5 + [Verdict.NO_ALLOWANCE]
    clock.now = NOW + timedelta(hours=1)
    await wrote(db, "oA", clock.now)
    assert await takes(q, "oA", 6) == [Verdict.SEND] * 5 + [Verdict.NO_ALLOWANCE]
    clock.now = NOW + timedelta(hours=1, minutes=1)
    await wrote(db, "oA", clock.now)
    await takes(q, "oA", 2)
    clock.now += timedelta(hours=48)  # the window closed with 3 left
    assert await takes(q, "oA", 1) == [Verdict.NO_ALLOWANCE]


async def test_a_menu_click_allows_three_within_a_minute(db: Database) -> None:
    clock = Clock()
    q = quotas(db, clock)
    await wrote(db, "oB", NOW, event=True)
    assert await takes(q, "oB", 4) == [Verdict.SEND] * 3 + [Verdict.NO_ALLOWANCE]
    await wrote(db, "oB", NOW + timedelta(seconds=10), event=True)
    clock.now = NOW + timedelta(seconds=71)
    assert await takes(q, "oB", 1) == [Verdict.NO_ALLOWANCE]  # its minute is over


async def test_a_refused_send_is_given_back_and_wechats_word_ends_the_allowance(db: Database) -> None:
    clock = Clock()
    q = quotas(db, clock)
    await wrote(db, "oC", NOW)
    assert await takes(q, "oC", 5) == [Verdict.SEND] * 5
    await q.give_back("oC")  # WeChat was busy: that one did not go out
    assert await takes(q, "oC", 2) == [Verdict.SEND, Verdict.NO_ALLOWANCE]
    await wrote(db, "oC", NOW + timedelta(minutes=1))
    await q.used_up("oC")  # WeChat said 45047 whatever we counted
    assert await takes(q, "oC", 1) == [Verdict.NO_ALLOWANCE]
    await wrote(db, "oC", NOW + timedelta(minutes=2))  # and the next message opens it again
    assert await takes(q, "oC", 1) == [Verdict.SEND]


async def test_the_days_quota_is_shared_in_blocks_and_refills_at_the_platforms_midnight(db: Database) -> None:
    clock = Clock()
    first, second = quotas(db, clock, daily=7, block=3), quotas(db, clock, daily=7, block=3)
    for n in range(4):
        await wrote(db, f"oD{n}", NOW)
    verdicts = [
        *(await takes(first, "oD0", 2)),  # block of 3, 1 left in hand
        *(await takes(second, "oD1", 4)),  # blocks of 3 and 1: the day is spent
        *(await takes(first, "oD2", 2)),  # its last one, then none
    ]
    assert verdicts.count(Verdict.SEND) == 7
    permit = await second.take("oD3")
    assert permit.verdict is Verdict.DAY_SPENT
    midnight = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # Beijing midnight
    assert permit.retry_after == (midnight - NOW).total_seconds()
    assert (await second.take("oD3")).verdict is Verdict.DAY_SPENT
    clock.now = midnight + timedelta(seconds=1)
    assert (await second.take("oD3")).verdict is Verdict.SEND  # a new day


async def test_two_processes_sending_at_once_never_spend_more_than_the_quota(postgres_url: str) -> None:
    empty_postgres(postgres_url)
    one, two = Database(postgres_url, pool_size=4), Database(postgres_url, pool_size=4)
    try:
        clock = Clock()
        a, b = quotas(one, clock, daily=25, block=4), quotas(two, clock, daily=25, block=4)
        # one customer, two processes, 20 sends at once: the customer's 5
        await wrote(one, "oSame", NOW)
        both = await asyncio.gather(*(q.take("oSame") for q in (a, b) for _ in range(10)))
        assert Counter(p.verdict for p in both)[Verdict.SEND] == 5
        # 12 customers with 5 each (60), 48 sends at once: the day's 25 at most, blocks aside all of it
        for n in range(12):
            await wrote(two, f"oMany{n}", NOW)
        many = await asyncio.gather(
            *(q.take(f"oMany{n}") for n in range(12) for q in (a, b) for _ in range(2))
        )
        sent = Counter(p.verdict for p in many)
        assert 25 - 5 - 2 * 3 <= sent[Verdict.SEND] <= 25 - 5, sent  # the first customer spent 5
        assert sent[Verdict.SEND] + sent[Verdict.DAY_SPENT] == 48
    finally:
        one.close()
        two.close()
