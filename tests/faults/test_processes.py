"""Several real ``tousu`` processes on one PostgreSQL database (issue 24): customers whose WeChat
callbacks are spread round-robin over three app processes, each delivered twice, while one
process is killed with ``kill -9`` and restarted; and the scheduler run apart from the app."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from storage.db import make_unpooled_engine
from storage.models import Lease, Ticket
from tests.databases import empty_postgres
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat
from tests.faults.bot_process import BotProcess, Customer, settled

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(420)]

CUSTOMERS = 150
PROCESSES = 3
STEPS = (
    ("你好", "客户服务中心"),
    ("1", "请描述"),
    ("我买的电热水壶用了两天就漏水了，订单号 A20261120001", "类型"),
    ("1", "什么时候"),
    ("昨天", "哪里"),
    ("北京朝阳门店", "产品"),
    ("电热水壶", "工作人员"),
    ("1", "照片"),
    ("2", "希望"),
    ("1", "电话"),
    ("13800138000", "核对"),
    ("1", "已受理"),
)
KILL_AFTER = CUSTOMERS * len(STEPS) // 3
FAST = {
    "TOUSU_OUTBOX__PER_CHAT_INTERVAL_SECONDS": "0.05",
    "TOUSU_OUTBOX__CLAIM_SECONDS": "3",
    "TOUSU_DATABASE__POOL_SIZE": "4",
}


def _lease_holder(db_url: str, name: str) -> str | None:
    engine = make_unpooled_engine(db_url)
    try:
        with Session(engine) as session:
            row = session.get(Lease, name)
            return None if row is None else row.holder
    finally:
        engine.dispose()


async def _deliver(client: httpx.AsyncClient, bots: list[BotProcess], start: int, body: str) -> str | None:
    """Post one callback as a load balancer would: to the next process, the one after it when
    that one is down. Returns the response text (``success`` or the passive XML)."""
    deadline = time.monotonic() + 90
    for n in itertools.count(start):
        bot = bots[n % len(bots)]
        try:
            response = await client.post(
                f"{bot.url}/wechat/callback", params=wx.signed_query(), content=body.encode(), timeout=5
            )
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        if response.status_code >= 500:
            await asyncio.sleep(0.2)
            continue
        assert response.status_code == 200, (response.status_code, response.text)
        return response.text
    return None


async def test_three_processes_serve_spread_callbacks_through_a_kill_9(
    postgres_url: str, tmp_path: Path, fake: FakeWeChat
) -> None:
    empty_postgres(postgres_url)
    bots = [BotProcess(tmp_path, postgres_url, fake, name=f"app{n}", env=FAST) for n in range(PROCESSES)]
    for bot in bots:
        bot.start()
    customers = [Customer(f"oProc{n:03d}") for n in range(CUSTOMERS)]
    ids = itertools.count(int(time.time()) * 1000)
    turn = itertools.count()
    answered = 0
    killed = asyncio.Event()
    try:

        async def intake(customer: Customer, client: httpx.AsyncClient) -> None:
            nonlocal answered
            for content, expected in STEPS:
                body = wx.xml_message(customer.openid, "text", Content=content, MsgId=next(ids))
                at = next(turn)
                first, second = await asyncio.gather(
                    _deliver(client, bots, at, body), _deliver(client, bots, at + 1, body)
                )
                for text in (first, second):
                    if text and text != "success":
                        reply = wx_content(text)
                        if reply is not None:
                            customer.passive.append(reply)
                await customer.wait_for(fake, expected, timeout=60)
                answered += 1
                if answered == KILL_AFTER:
                    killed.set()

        async def crash_and_restart() -> None:
            await killed.wait()
            bots[1].kill()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(bots[1].start)

        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            await asyncio.gather(crash_and_restart(), *(intake(c, client) for c in customers))
        await settled(fake, quiet=4.0)
        took = time.monotonic() - started
    finally:
        for bot in bots:
            bot.stop()
    print(f"{CUSTOMERS} intakes over {PROCESSES} processes with a kill -9 in {took:.1f} s")
    assert bots[1].starts == 2
    for customer in customers:
        seen = customer.seen(fake)
        prompts = [expected for _, expected in STEPS]
        shown = [p for p in prompts if any(p in t for t in seen)]
        assert shown == prompts, (customer.openid, seen)
        # a passive answer given twice (two copies of one callback) is one answer; the API never repeats
        api = fake.texts_to(customer.openid)
        assert [t for t, n in Counter(api).items() if n > 1] == [], (customer.openid, api)
        assert not set(api) & set(customer.passive), (customer.openid, api, customer.passive)
        order = [
            next(i for i, p in enumerate(prompts) if p in t) for t in api if any(p in t for p in prompts)
        ]
        assert order == sorted(order), (customer.openid, api)  # the API's replies came in order
    engine = make_unpooled_engine(postgres_url)
    with Session(engine) as session:
        numbers = sorted(t.number for t in session.exec(select(Ticket)))
    engine.dispose()
    assert len(numbers) == CUSTOMERS and len(set(numbers)) == CUSTOMERS
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, CUSTOMERS + 1))  # gap-free


def wx_content(xml: str) -> str | None:
    import xmltodict

    reply = xmltodict.parse(xml)["xml"]
    return str(reply.get("Content") or "") or None


async def test_the_scheduler_runs_apart_from_app_processes_started_without_it(
    postgres_url: str, tmp_path: Path, fake: FakeWeChat
) -> None:
    empty_postgres(postgres_url)
    scheduler = BotProcess(tmp_path, postgres_url, fake, name="scheduler", args=("scheduler",))
    app = BotProcess(tmp_path, postgres_url, fake, name="app", args=("run", "--no-nlu", "--no-scheduler"))
    scheduler.start(ready="Tousu scheduler")
    try:
        deadline = time.monotonic() + 20
        while f":{scheduler.pid}:" not in (_lease_holder(postgres_url, "scheduler") or ""):
            assert time.monotonic() < deadline, scheduler.tail()
            await asyncio.sleep(0.2)
        app.start()
        scheduler.stop()  # hands the lease back
        await asyncio.sleep(3.0)
        assert _lease_holder(postgres_url, "scheduler") is None  # the app never competes for it
        assert app.process is not None and app.process.poll() is None
    finally:
        app.stop()
        scheduler.stop()
