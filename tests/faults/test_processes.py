"""Several real ``tousu`` processes on one PostgreSQL database (issue 24): customers whose WeChat
callbacks and Telegram webhook updates are spread round-robin over three app processes, each
delivered twice, while one process is killed with ``kill -9`` and restarted; and the scheduler
run apart from the app."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from storage.db import make_unpooled_engine
from storage.models import Lease, Ticket
from tests.databases import empty_postgres
from tests.fakes import wechat_api as wx
from tests.fakes.telegram_api import TOKEN as TG_TOKEN
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wechat_api import FakeWeChat
from tests.faults.bot_process import BotProcess, Customer, settled

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(420)]

CUSTOMERS = 120
TELEGRAM_CUSTOMERS = 30  # 150 customers in all
TG_SECRET = "proc-s3cret"
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
    ("1", "工单"),  # the ticket number, whichever way the desk words it
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


async def _update(
    client: httpx.AsyncClient, bots: list[BotProcess], start: int, update: dict[str, object]
) -> None:
    """Post one Telegram webhook update to the next process (the one after it when it is down)."""
    deadline = time.monotonic() + 90
    for n in itertools.count(start):
        bot = bots[n % len(bots)]
        try:
            response = await client.post(
                f"{bot.url}/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
                timeout=5,
            )
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        if response.status_code >= 500:  # Telegram redelivers
            await asyncio.sleep(0.2)
            continue
        assert response.status_code == 200, (response.status_code, response.text)
        return


async def _tg_wait(tg: FakeTelegram, chat: int, expected: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(expected in t for t in tg.texts_to(chat)):
        if time.monotonic() > deadline:
            raise AssertionError(f"Telegram chat {chat} never saw {expected!r}: {tg.texts_to(chat)}")
        await asyncio.sleep(0.05)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    try:
        yield server
    finally:
        server.stop()


async def test_three_processes_serve_spread_callbacks_through_a_kill_9(
    postgres_url: str, tmp_path: Path, fake: FakeWeChat, tg: FakeTelegram
) -> None:
    empty_postgres(postgres_url)
    telegram = {
        "TOUSU_TELEGRAM__TOKEN": TG_TOKEN,
        "TOUSU_TELEGRAM__MODE": "webhook",
        "TOUSU_TELEGRAM__BASE_URL": f"{tg.url}/bot",
        "TOUSU_TELEGRAM__BASE_FILE_URL": f"{tg.url}/file/bot",
        "TOUSU_TELEGRAM__WEBHOOK_URL": "https://bot.example.com/telegram/webhook",
        "TOUSU_TELEGRAM__SECRET_TOKEN": TG_SECRET,
    }
    bots = [
        BotProcess(tmp_path, postgres_url, fake, name=f"app{n}", env={**FAST, **telegram})
        for n in range(PROCESSES)
    ]
    for bot in bots:
        bot.start()
    customers = [Customer(f"oProc{n:03d}") for n in range(CUSTOMERS)]
    chats = [9000 + n for n in range(TELEGRAM_CUSTOMERS)]
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

        update_ids = itertools.count(1000)

        async def tg_intake(chat: int, client: httpx.AsyncClient) -> None:
            nonlocal answered
            for content, expected in STEPS:
                update = {"update_id": next(update_ids), "message": tg.message(chat, text=content)}
                at = next(turn)
                await asyncio.gather(_update(client, bots, at, update), _update(client, bots, at + 1, update))
                await _tg_wait(tg, chat, expected)
                answered += 1
                if answered == KILL_AFTER:
                    killed.set()

        async def crash_and_restart() -> None:
            await killed.wait()
            bots[1].kill()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(bots[1].start)

        started = time.monotonic()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1000)) as client:
            await asyncio.gather(
                crash_and_restart(),
                *(intake(c, client) for c in customers),
                *(tg_intake(chat, client) for chat in chats),
            )
        await settled(fake, quiet=4.0)
        took = time.monotonic() - started
    finally:
        for bot in bots:
            bot.stop()
    print(
        f"{CUSTOMERS} WeChat and {TELEGRAM_CUSTOMERS} Telegram intakes over {PROCESSES} processes "
        f"with a kill -9 in {took:.1f} s"
    )
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
    prompts = [expected for _, expected in STEPS]
    for chat in chats:
        texts = tg.texts_to(chat)
        assert [t for t, n in Counter(texts).items() if n > 1] == [], (chat, texts)
        assert _in_order(texts, prompts), (chat, texts)  # the whole intake, in order
    engine = make_unpooled_engine(postgres_url)
    with Session(engine) as session:
        numbers = sorted(t.number for t in session.exec(select(Ticket)))
    engine.dispose()
    total = CUSTOMERS + TELEGRAM_CUSTOMERS
    assert len(numbers) == total and len(set(numbers)) == total
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, total + 1))  # gap-free


def _in_order(texts: list[str], prompts: list[str]) -> bool:
    """Whether the prompts show in this order, each in a later message than the one before."""
    at = 0
    for prompt in prompts:
        while at < len(texts) and prompt not in texts[at]:
            at += 1
        if at == len(texts):
            return False
        at += 1
    return True


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
