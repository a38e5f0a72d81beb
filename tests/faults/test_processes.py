"""Several real ``tousu`` processes on one PostgreSQL database (issue 24): customers whose WeChat
callbacks and Telegram webhook updates are spread round-robin over three app processes, each
delivered twice, while one process is killed with ``kill -9`` and restarted; their tickets then
resolved through the REST API of any process, so each ticket's callback follow-up (the survey)
falls due seconds later, while the process holding the scheduler lease is killed too; a console
page on process 1 sees, live, a message that reached process 2; and the scheduler run apart from
the app."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select

from bot.domain.enums import FollowUpKind
from bot.services import people
from bot.web.api import tokens
from bot.web.console import accounts
from storage import models
from storage.db import make_unpooled_engine
from storage.models import Conversation, FollowUp, Lease, Ticket
from storage.types import utcnow
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
    ("北京朝阳门店", "工作人员"),  # the product was in the description
    ("1", "照片"),
    ("2", "希望"),
    ("1", "电话"),
    ("13800138000", "核对"),
    ("1", "工单"),  # the ticket number, whichever way the desk words it
)
KILL_AFTER = CUSTOMERS * len(STEPS) // 3
CALLBACK_SECONDS = 15.0
"""How long after its resolution a ticket's callback (the survey) falls due here (24 h by default)."""
SURVEY = "请为本次处理打分"  # the survey's words (catalog bot.survey)
FAST = {
    "TOUSU_OUTBOX__PER_CHAT_INTERVAL_SECONDS": "0.05",
    "TOUSU_OUTBOX__CLAIM_SECONDS": "3",
    "TOUSU_DATABASE__POOL_SIZE": "4",
    "TOUSU_LIFECYCLE__CALLBACK_AFTER_HOURS": str(CALLBACK_SECONDS / 3600),
    "TOUSU_LIFECYCLE__QUIET_HOURS": "",  # the survey is never moved to the morning, whenever CI runs
    "TOUSU_SCHEDULER__LEASE_SECONDS": "5",
    "TOUSU_SCHEDULER__SWEEP_SECONDS": "1",
}
RESOLVED_WECHAT, RESOLVED_TELEGRAM = 20, 10
"""How many tickets of each channel are resolved after the intakes, for their callbacks."""
LEAD, LEAD_PASSWORD = "lead", "proof-of-processes-7"
API_TOKENS = 4


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


def _seed_desk(db_url: str) -> list[str]:
    """A supervisor with a console login (sees every conversation) and API tokens acting for
    them; returns the tokens' secrets."""
    engine = make_unpooled_engine(db_url)
    try:
        with Session(engine) as session:
            people.save(session, username=LEAD, display_name="组长", add_roles=["supervisor"])
            accounts.add_user(session, username=LEAD, password=LEAD_PASSWORD, role="supervisor")
            secrets = [
                tokens.create(
                    session, name=f"{LEAD}-{n}", role="supervisor", department=None, now=utcnow()
                ).secret
                for n in range(API_TOKENS)
            ]
            session.commit()
            return secrets
    finally:
        engine.dispose()


def _tickets_by_customer(db_url: str) -> dict[str, str]:
    """Each customer's (WeChat openid, Telegram chat id) ticket number."""
    engine = make_unpooled_engine(db_url)
    try:
        with Session(engine) as session:
            rows = session.exec(
                select(models.Customer.external_id, Ticket.number).join(
                    Ticket, col(Ticket.customer_id) == col(models.Customer.id)
                )
            ).all()
            return {str(external): str(number) for external, number in rows}
    finally:
        engine.dispose()


def _callbacks(db_url: str) -> list[FollowUp]:
    engine = make_unpooled_engine(db_url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(FollowUp).where(FollowUp.kind == FollowUpKind.CALLBACK)).all())
    finally:
        engine.dispose()


def _conversation_of(db_url: str, user_id: str) -> int:
    engine = make_unpooled_engine(db_url)
    try:
        with Session(engine) as session:
            conv = session.exec(select(Conversation).where(Conversation.user_id == user_id)).one()
            assert conv.id is not None
            return conv.id
    finally:
        engine.dispose()


def _scheduler_holder(db_url: str, bots: list[BotProcess]) -> BotProcess | None:
    holder = _lease_holder(db_url, "scheduler") or ""
    return next((b for b in bots if b.process is not None and f":{b.pid}:" in holder), None)


async def _api(
    client: httpx.AsyncClient,
    bots: list[BotProcess],
    start: int,
    token: str,
    path: str,
    body: dict[str, object],
) -> None:
    """One REST call to the next process (the one after it while it is down or refusing). After a
    call that died with its process, a 409 says that call went through."""
    deadline = time.monotonic() + 60
    lost = False
    for n in itertools.count(start):
        bot = bots[n % len(bots)]
        try:
            response = await client.post(
                f"{bot.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
        except httpx.TransportError:
            response, lost = None, True
        if response is not None and (response.status_code == 200 or (lost and response.status_code == 409)):
            return
        assert response is None or response.status_code in (429, 502, 503), (
            response.status_code,
            response.text,
        )
        assert time.monotonic() < deadline, f"{path} never went through"
        await asyncio.sleep(0.2)


async def _console_login(console: httpx.AsyncClient) -> None:
    form = await console.get("/console/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found is not None, form.text[:500]
    done = await console.post(
        "/console/login", data={"username": LEAD, "password": LEAD_PASSWORD, "csrf_token": found.group(1)}
    )
    assert done.status_code == 303 and done.headers["location"] == "/console", (
        done.status_code,
        done.text[:300],
    )


async def _watch(
    console: httpx.AsyncClient, seen: list[tuple[float, dict[str, object]]], ready: asyncio.Event
) -> None:
    """A console page's live stream: every event with the moment it arrived."""
    async with console.stream("GET", "/console/events", timeout=httpx.Timeout(5, read=None)) as response:
        assert response.status_code == 200
        ready.set()
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                seen.append((time.monotonic(), json.loads(line[len("data: ") :])))


async def test_three_processes_serve_spread_callbacks_through_a_kill_9(
    postgres_url: str, tmp_path: Path, fake: FakeWeChat, tg: FakeTelegram
) -> None:
    empty_postgres(postgres_url)
    api_tokens = _seed_desk(postgres_url)
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
    kill_moment: list[float] = []
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
            kill_moment.append(time.monotonic())
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
        assert bots[1].starts == 2
        twice = _check_intakes(postgres_url, fake, tg, customers, chats, kill_moment[0])
        assert twice <= 3  # a chat sends one reply at a time: a few chats at most had one in flight
        print(
            f"{CUSTOMERS} WeChat and {TELEGRAM_CUSTOMERS} Telegram intakes over {PROCESSES} processes "
            f"with a kill -9 in {took:.1f} s; {twice} repl(ies) in flight at the kill sent twice"
        )

        # A console page on process 1 (logged in as the supervisor), live.
        seen: list[tuple[float, dict[str, object]]] = []
        ready = asyncio.Event()
        async with httpx.AsyncClient(base_url=bots[0].url, follow_redirects=False) as console:
            await _console_login(console)
            page = asyncio.create_task(_watch(console, seen, ready))
            try:
                await asyncio.wait_for(ready.wait(), 10)
                await asyncio.sleep(0.3)  # the page's stream subscribed to the hub
                live = Customer("oLiveOnTwo")
                async with httpx.AsyncClient() as client:
                    posted = time.monotonic()
                    await live.say(client, bots[1], "你好", next(ids))  # reaches process 2 only
                conversation = await asyncio.to_thread(_conversation_of, postgres_url, live.openid)
                deadline = time.monotonic() + 5
                while not any(e.get("type") == "activity" and e.get("id") == conversation for _, e in seen):
                    assert time.monotonic() < deadline, f"process 1's console never heard of it: {seen}"
                    await asyncio.sleep(0.02)
            finally:
                page.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await page
        arrived = min(at for at, e in seen if e.get("type") == "activity" and e.get("id") == conversation)
        print(f"a message posted to process 2 reached process 1's console page in {arrived - posted:.3f} s")
        assert arrived - posted < 1.0

        # Every ticket resolved through the REST API of any process: each callback falls due
        # CALLBACK_SECONDS later; half-way the process holding the scheduler lease dies.
        tickets = await asyncio.to_thread(_tickets_by_customer, postgres_url)
        assert len(tickets) == CUSTOMERS + TELEGRAM_CUSTOMERS  # the live customer filed none
        resolved = [c.openid for c in customers[:RESOLVED_WECHAT]] + [
            str(c) for c in chats[:RESOLVED_TELEGRAM]
        ]
        numbers = {who: tickets[who] for who in resolved}
        resolved_at = time.monotonic()
        half = asyncio.Event()
        done = 0
        victim: list[BotProcess] = []
        killed_at: list[datetime] = []

        async def resolve(n: int, number: str, client: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
            nonlocal done
            token = api_tokens[n % API_TOKENS]
            async with gate:
                for status in ("in_progress", "resolved"):
                    await _api(client, bots, n, token, f"/api/v1/tickets/{number}/status", {"status": status})
            done += 1
            if done == len(numbers) // 2:
                half.set()

        async def kill_the_scheduler() -> None:
            await half.wait()
            holder = await asyncio.to_thread(_scheduler_holder, postgres_url, bots)
            assert holder is not None, "no process holds the scheduler lease"
            holder.kill()
            victim.append(holder)
            killed_at.append(utcnow())
            await asyncio.sleep(1.0)
            await asyncio.to_thread(holder.start)

        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
            gate = asyncio.Semaphore(24)
            await asyncio.gather(
                kill_the_scheduler(),
                *(resolve(n, number, client, gate) for n, number in enumerate(numbers.values())),
            )
        print(f"{len(numbers)} tickets resolved in {time.monotonic() - resolved_at:.1f} s")

        def surveys(user: str) -> int:
            texts = [
                *fake.texts_to(user),
                *(t["data"]["first"]["value"] for t in fake.templates if t["touser"] == user),
            ]
            return sum(SURVEY in t for t in texts)

        def surveyed() -> int:
            return sum(surveys(c.openid) > 0 for c in customers) + sum(
                any(SURVEY in t for t in tg.texts_to(chat)) for chat in chats
            )

        deadline = time.monotonic() + CALLBACK_SECONDS + 60
        while surveyed() < len(numbers):
            assert time.monotonic() < deadline, f"{surveyed()} of {len(numbers)} surveys arrived"
            await asyncio.sleep(0.2)
        await settled(fake, quiet=3.0)
        print(f"every callback fired, {time.monotonic() - resolved_at:.1f} s after the first resolution")
    finally:
        for bot in bots:
            bot.stop()
    assert victim[0].starts == (3 if victim[0] is bots[1] else 2)
    for customer in customers:
        expected = 1 if customer.openid in numbers else 0
        assert surveys(customer.openid) == expected, (customer.openid, fake.texts_to(customer.openid))
    for chat in chats:
        expected = 1 if str(chat) in numbers else 0
        assert sum(SURVEY in t for t in tg.texts_to(chat)) == expected, (chat, tg.texts_to(chat))
    callbacks = await asyncio.to_thread(_callbacks, postgres_url)
    assert len(callbacks) == len(numbers)  # one per ticket
    assert all(c.status == "done" and c.fired_at is not None for c in callbacks)
    assert {c.outcome for c in callbacks} == {"survey sent"}
    after_kill = sum(c.fired_at is not None and c.fired_at > killed_at[0] for c in callbacks)
    print(f"{after_kill} of {len(callbacks)} callbacks fired after the scheduler's holder was killed")
    assert after_kill > 0  # another process took the lease over and fired them


IN_FLIGHT = (-0.5, 0.2)
"""When, relative to the kill, the first copy of a reply the killed process had in flight reached
the platform: sent just before the kill, its "sent" mark died with the process."""


def _repeats(times: list[tuple[float, str]], killed: float, in_flight: list[str]) -> list[str]:
    """Each text that reached the platform more than once, with its moments relative to the kill
    (s), except one that was in flight at the kill (added to ``in_flight``): a second copy of that,
    sent by the process that took the chat over once the claim ran out, is the one repeat no
    platform API lets a sender rule out (neither WeChat nor Telegram takes an idempotency key)."""
    moments: dict[str, list[float]] = {}
    for at, text in times:
        moments.setdefault(text, []).append(round(at - killed, 3))
    repeated = {text: seen for text, seen in moments.items() if len(seen) > 1}
    for text, seen in list(repeated.items()):
        if len(seen) == 2 and IN_FLIGHT[0] <= seen[0] <= IN_FLIGHT[1] and seen[1] > 1.0:
            in_flight.append(text)
            del repeated[text]
    return [f"{text[:30]!r} at {seen}" for text, seen in repeated.items()]


def _check_intakes(
    db_url: str,
    fake: FakeWeChat,
    tg: FakeTelegram,
    customers: list[Customer],
    chats: list[int],
    killed: float,
) -> int:
    """Checks every intake; returns how many replies in flight at the kill reached the platform
    twice."""
    in_flight: list[str] = []
    for customer in customers:
        seen = customer.seen(fake)
        prompts = [expected for _, expected in STEPS]
        shown = [p for p in prompts if any(p in t for t in seen)]
        assert shown == prompts, (customer.openid, seen)
        # a passive answer given twice (two copies of one callback) is one answer; the API never
        # repeats, but for a reply in flight at the kill
        api = fake.texts_to(customer.openid)
        assert _repeats(fake.text_times(customer.openid), killed, in_flight) == [], (customer.openid, api)
        assert not set(api) & set(customer.passive), (customer.openid, api, customer.passive)
    prompts = [expected for _, expected in STEPS]
    for chat in chats:
        texts = tg.texts_to(chat)
        assert _repeats(tg.text_times(chat), killed, in_flight) == [], (chat, texts)
        assert _in_order(texts, prompts), (chat, texts)  # the whole intake, in order
    engine = make_unpooled_engine(db_url)
    with Session(engine) as session:
        numbers = sorted(t.number for t in session.exec(select(Ticket)))
    engine.dispose()
    total = CUSTOMERS + TELEGRAM_CUSTOMERS
    assert len(numbers) == total and len(set(numbers)) == total
    assert sorted(int(n[-4:]) for n in numbers) == list(range(1, total + 1))  # gap-free
    return len(in_flight)


def _write_alert(db_url: str, username: str) -> None:
    """A staff alert as a job writes one (the scheduler's notifier fans it out)."""
    engine = make_unpooled_engine(db_url)
    try:
        with Session(engine) as session:
            session.add(
                models.StaffAlert(username=username, kind="warning", text="时限提醒 / deadline warning")
            )
            session.commit()
    finally:
        engine.dispose()


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
    _seed_desk(postgres_url)
    fast = {"TOUSU_NOTIFICATIONS__POLL_SECONDS": "0.5"}
    scheduler = BotProcess(tmp_path, postgres_url, fake, name="scheduler", args=("scheduler",), env=fast)
    app = BotProcess(
        tmp_path, postgres_url, fake, name="app", args=("run", "--no-nlu", "--no-scheduler"), env=fast
    )
    scheduler.start(ready="Tousu scheduler")
    try:
        deadline = time.monotonic() + 20
        while f":{scheduler.pid}:" not in (_lease_holder(postgres_url, "scheduler") or ""):
            assert time.monotonic() < deadline, scheduler.tail()
            await asyncio.sleep(0.2)
        app.start()
        # An alert the scheduler fans out (written by a job there, say a breach) reaches a console
        # page served by the app at once, not at the page's 30 s poll.
        seen: list[tuple[float, dict[str, object]]] = []
        ready = asyncio.Event()
        async with httpx.AsyncClient(base_url=app.url, follow_redirects=False) as console:
            await _console_login(console)
            page = asyncio.create_task(_watch(console, seen, ready))
            try:
                await asyncio.wait_for(ready.wait(), 10)
                await asyncio.sleep(0.3)
                written = time.monotonic()
                _write_alert(postgres_url, LEAD)
                deadline = time.monotonic() + 5
                while not any(event.get("type") == "alerts" for _, event in seen):
                    assert time.monotonic() < deadline, (seen, scheduler.tail())
                    await asyncio.sleep(0.05)
                at = next(t for t, event in seen if event.get("type") == "alerts")
                assert at - written < 2.0  # the fan-out's poll (0.5 s) and the relay
            finally:
                page.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await page
        scheduler.stop()  # hands the lease back
        await asyncio.sleep(3.0)
        assert _lease_holder(postgres_url, "scheduler") is None  # the app never competes for it
        assert app.process is not None and app.process.poll() is None
    finally:
        app.stop()
        scheduler.stop()
