"""Delivery shared by several processes on one database: each pending reply is claimed by one
live process, a chat stays with one sender, and a dead process's replies are taken over once its
claims run out, never sent twice. Each Delivery here stands for one process (its own holder)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.channels.base import Channel, ClaimLost, DeliveryLimits, OutboundMessage, claim_held
from bot.services.delivery import Delivery, OutboxItem
from bot.settings import OutboxSettings
from storage.db import Database
from storage.models import Conversation, Customer, Message
from storage.repositories import transcript
from storage.types import utcnow


class Recorder(Channel):
    name = "rec"

    def __init__(self, sent: list[tuple[str, str, str]], who: str, interval: float = 0.0) -> None:
        self.limits = DeliveryLimits(per_chat_interval=interval, global_rate=None)
        self.sent = sent
        self.who = who

    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        self.sent.append((self.who, user_id, message.text))
        await asyncio.sleep(0)
        return None


class Preparing(Recorder):
    """A channel with slow work of its own before the platform call (WeChat spends its shared
    quota first), asking right before the call whether the reply is still this process's."""

    def __init__(self, sent: list[tuple[str, str, str]], who: str, prepare: float) -> None:
        super().__init__(sent, who)
        self.prepare = prepare

    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        await asyncio.sleep(self.prepare)
        if not claim_held():
            raise ClaimLost()
        return await super().send(user_id, message)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, pool_size=4)
    yield database
    database.close()


def _write(db: Database, chats: dict[str, int]) -> list[int]:
    """``count`` pending replies per chat, as a turn writes them; returns their ids."""

    def add(session: Session) -> list[int]:
        ids: list[int] = []
        for user, count in chats.items():
            customer = Customer(channel="rec", external_id=user)
            session.add(customer)
            session.flush()
            assert customer.id is not None
            conv = Conversation(
                channel="rec", user_id=user, customer_id=customer.id, flow="f", flow_version=1
            )
            session.add(conv)
            session.flush()
            assert conv.id is not None
            rows = [
                transcript.OutgoingRow(text=f"{user}-{n}", buttons=[], attachments=[]) for n in range(count)
            ]
            ids += transcript.insert_outgoing(
                session.connection(),
                conversation_id=conv.id,
                customer=customer.id,
                channel="rec",
                user_id=user,
                rows=rows,
                now=utcnow(),
            )
        return ids

    return db.run_sync(add)


def _delivery(
    db: Database, channel: Channel, holder: str, claim_seconds: float = 10.0, poll: float = 0.1
) -> Delivery:
    settings = OutboxSettings(claim_seconds=claim_seconds, claim_poll_seconds=poll)
    return Delivery(db=db, channels={"rec": channel}, settings=settings, clock=utcnow, holder=holder)


async def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def _pending(db: Database) -> int:
    return len(db.run_sync(lambda s: list(s.exec(select(Message).where(Message.delivery == "pending")))))


async def test_two_processes_send_every_reply_once_each_chat_from_one_in_order(db: Database) -> None:
    chats = {f"u{n}": 4 for n in range(30)}
    sent: list[tuple[str, str, str]] = []
    a = _delivery(db, Recorder(sent, "a"), "proc-a")
    b = _delivery(db, Recorder(sent, "b"), "proc-b")
    await asyncio.gather(a.start(), b.start())
    try:
        # each process wrote half the chats; both also race for every reply (and both poll)
        ids = _write(db, chats)
        items = [OutboxItem(id=i, channel="rec", user_id="", message=OutboundMessage("")) for i in ids]
        a.enqueue(items[:60])
        b.enqueue(items[60:])
        a.enqueue(items[60:])
        b.enqueue(items[:60])
        await _until(lambda: len(sent) >= 120 and _pending(db) == 0)
        await asyncio.sleep(0.3)  # time for a second send, if there were one
    finally:
        await asyncio.gather(a.stop(), b.stop())
    assert sorted(text for _, _, text in sent) == sorted(f"{u}-{n}" for u in chats for n in range(4))
    for user in chats:
        mine = [(who, text) for who, u, text in sent if u == user]
        assert [text for _, text in mine] == [f"{user}-{n}" for n in range(4)]  # in order
        assert len({who for who, _ in mine}) == 1  # one sender per chat


async def test_a_dead_processes_replies_go_out_from_another_once_its_claim_ran_out(db: Database) -> None:
    ids = _write(db, {"x": 3, "y": 1})
    now = utcnow()
    # a process claimed them, then died (kill -9): nothing renews or releases the claims
    claimed = db.run_sync(
        lambda s: transcript.claim_replies(
            s.connection(), holder="dead", channels=["rec"], now=now, until=now + timedelta(seconds=1.5)
        )
    )
    assert [r.id for r in claimed] == ids
    sent: list[tuple[str, str, str]] = []
    live = _delivery(db, Recorder(sent, "live"), "proc-live")
    started = time.monotonic()
    await live.start()
    try:
        await asyncio.sleep(0.8)
        assert sent == []  # the dead process's claim still holds
        await _until(lambda: len(sent) == 4, timeout=5.0)
        took = time.monotonic() - started
        await asyncio.sleep(0.3)
    finally:
        await live.stop()
    assert took < 3.0
    assert [t for _, u, t in sent if u == "x"] == ["x-0", "x-1", "x-2"] and len(sent) == 4
    assert _pending(db) == 0


async def test_a_live_process_keeps_its_chat_by_renewing_its_claims(db: Database) -> None:
    sent: list[tuple[str, str, str]] = []
    slow = _delivery(db, Recorder(sent, "slow", interval=0.4), "proc-slow", claim_seconds=1.0)
    other = _delivery(db, Recorder(sent, "other"), "proc-other", claim_seconds=1.0)
    await slow.start()
    try:
        ids = _write(db, {"z": 6})  # 6 replies at 0.4 s apiece: longer than two claims last
        slow.enqueue([OutboxItem(id=i, channel="rec", user_id="z", message=OutboundMessage("")) for i in ids])
        await _until(lambda: len(sent) == 1)
        await other.start()
        await _until(lambda: len(sent) == 6, timeout=10.0)
        await asyncio.sleep(0.3)
    finally:
        await asyncio.gather(slow.stop(), other.stop())
    assert sent == [("slow", "z", f"z-{n}") for n in range(6)]


async def test_a_reply_taken_over_meanwhile_is_not_sent_by_the_process_that_lost_it(db: Database) -> None:
    sent: list[tuple[str, str, str]] = []
    a = _delivery(db, Recorder(sent, "a", interval=0.6), "proc-a", claim_seconds=1.0)
    await a.start()
    try:
        ids = _write(db, {"w": 3})
        a.enqueue([OutboxItem(id=i, channel="rec", user_id="w", message=OutboundMessage("")) for i in ids])
        await _until(lambda: len(sent) == 1)

        def steal(session: Session) -> None:  # what another process does once a's claim ran out
            session.execute(
                update(Message)
                .where(col(Message.id).in_(ids[1:]))
                .values(claimed_by="proc-b", claimed_until=utcnow() + timedelta(minutes=5))
            )

        db.run_sync(steal)
        await asyncio.sleep(1.5)
    finally:
        await a.stop()
    assert sent == [("a", "w", "w-0")]
    assert _pending(db) == 2  # still proc-b's to send


async def test_two_processes_share_a_channels_global_rate(db: Database) -> None:
    sent: list[tuple[str, str, str]] = []
    times: list[float] = []

    class Timed(Recorder):
        def __init__(self, who: str) -> None:
            super().__init__(sent, who)
            self.limits = DeliveryLimits(per_chat_interval=0.0, global_rate=10.0)

        async def send(self, user_id: str, message: OutboundMessage) -> str | None:
            times.append(time.monotonic())
            return await super().send(user_id, message)

    # no polls: each process sends the chats it wrote, as a turn's replies are claimed
    a = _delivery(db, Timed("a"), "proc-a", claim_seconds=2.0, poll=60.0)
    b = _delivery(db, Timed("b"), "proc-b", claim_seconds=2.0, poll=60.0)
    await a.start()
    await b.start()
    try:
        await _until(lambda: a.peers == 2 and b.peers == 2, timeout=5.0)
        ids = _write(db, {f"r{n}": 1 for n in range(30)})
        items = [OutboxItem(id=i, channel="rec", user_id="", message=OutboundMessage("")) for i in ids]
        a.enqueue(items[:15])
        b.enqueue(items[15:])
        await _until(lambda: len(sent) == 30)
    finally:
        await asyncio.gather(a.stop(), b.stop())
    assert Counter(who for who, _, _ in sent) == {"a": 15, "b": 15}
    # 30 sends at 10/s between them take about 3 s (each alone at 10/s would take 1.5 s)
    assert times[-1] - times[0] >= 2.4
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 12


async def test_a_send_whose_own_work_outlasts_the_claim_is_left_to_the_process_holding_it(
    db: Database,
) -> None:
    _write(db, {"x": 1})
    sent: list[tuple[str, str, str]] = []
    slow = _delivery(db, Preparing(sent, "slow", prepare=2.5), "proc-slow", claim_seconds=1.5)
    await slow.start()  # claims x-0 and starts its 2.5 s of preparation
    other = _delivery(db, Recorder(sent, "other"), "proc-other", claim_seconds=1.5)
    try:
        await asyncio.sleep(0.2)
        assert slow._claim_task is not None
        slow._claim_task.cancel()  # the slow process stalls: nothing renews its claims
        await other.start()
        await _until(lambda: bool(sent), timeout=10)
        await asyncio.sleep(2.5)  # the slow process's preparation is over: it must not send
    finally:
        await asyncio.gather(slow.stop(), other.stop())
    assert sent == [("other", "x", "x-0")]
