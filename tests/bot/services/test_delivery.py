"""The outbox (replies pending in the transcript): order per chat, rate limits, retries, permanent
failures, restart."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot.channels.base import Channel, DeliveryError, DeliveryLimits, OutboundMessage
from bot.services.delivery import Delivery, OutboxItem, pending_rows
from bot.settings import OutboxSettings
from storage import migrate
from storage.db import Database
from storage.models import Conversation, Customer, Message
from storage.types import utcnow


class RecordingChannel(Channel):
    """Records (monotonic time, user, text); ``fail`` decides per call whether to raise."""

    name = "rec"

    def __init__(
        self, limits: DeliveryLimits, fail: Callable[[str, int], DeliveryError | None] | None = None
    ):
        self.limits = limits
        self.sent: list[tuple[float, str, str]] = []
        self.calls = 0
        self.fail = fail

    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        self.calls += 1
        error = self.fail(message.text, self.calls) if self.fail else None
        if error is not None:
            raise error
        self.sent.append((time.monotonic(), user_id, message.text))
        return f"ext-{self.calls}"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate.upgrade(url)
    database = Database(url)
    yield database
    database.close()


def _rows(db: Database, items: list[tuple[str, str]]) -> list[OutboxItem]:
    """Replies pending delivery, each to its own customer's chat."""

    def add(session: Session) -> list[OutboxItem]:
        out = []
        customers: dict[str, tuple[int, int]] = {}
        for user, text in items:
            if user not in customers:
                customer = session.exec(
                    select(Customer).where(Customer.channel == "rec", Customer.external_id == user)
                ).first() or Customer(channel="rec", external_id=user)
                session.add(customer)
                session.flush()
                assert customer.id is not None
                conv = session.exec(
                    select(Conversation).where(Conversation.channel == "rec", Conversation.user_id == user)
                ).first() or Conversation(
                    channel="rec", user_id=user, customer_id=customer.id, flow="f", flow_version=1
                )
                session.add(conv)
                session.flush()
                assert conv.id is not None
                customers[user] = (customer.id, conv.id)
            row = Message(
                customer_id=customers[user][0],
                conversation_id=customers[user][1],
                channel="rec",
                user_id=user,
                direction="out",
                author="bot",
                text=text,
                delivery="pending",
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            out.append(OutboxItem(id=row.id, channel="rec", user_id=user, message=OutboundMessage(text)))
        return out

    return db.run_sync(add)


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def _settings(**kw: float) -> OutboxSettings:
    return OutboxSettings(**{"backoff_base_seconds": 0.05, **kw})


async def test_order_per_chat_and_per_chat_interval(db: Database) -> None:
    channel = RecordingChannel(DeliveryLimits(per_chat_interval=0.1, global_rate=None))
    delivery = Delivery(db=db, channels={"rec": channel}, settings=_settings(), clock=utcnow)
    await delivery.start()
    try:
        delivery.enqueue(_rows(db, [("a", f"a{i}") for i in range(4)] + [("b", f"b{i}") for i in range(4)]))
        await _until(lambda: len(channel.sent) == 8)
    finally:
        await delivery.stop()
    for user in "ab":
        mine = [(t, text) for t, u, text in channel.sent if u == user]
        assert [text for _, text in mine] == [f"{user}{i}" for i in range(4)]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(mine)]
        assert min(gaps) >= 0.09
    statuses = db.run_sync(lambda s: {r.delivery for r in s.exec(select(Message))})
    assert statuses == {"sent"}


async def test_global_rate_is_respected(db: Database) -> None:
    channel = RecordingChannel(DeliveryLimits(per_chat_interval=0.0, global_rate=50))
    delivery = Delivery(db=db, channels={"rec": channel}, settings=_settings(), clock=utcnow)
    await delivery.start()
    try:
        delivery.enqueue(_rows(db, [(f"u{i}", "x") for i in range(40)]))
        await _until(lambda: len(channel.sent) == 40)
    finally:
        await delivery.stop()
    times = sorted(t for t, _, _ in channel.sent)
    # 40 messages at 50/s cannot take less than 39/50 s
    assert times[-1] - times[0] >= 39 / 50 * 0.95


async def test_transient_failure_is_retried_in_place_and_keeps_order(db: Database) -> None:
    def fail(text: str, call: int) -> DeliveryError | None:
        return DeliveryError("503", retry_after=None) if text == "first" and call == 1 else None

    channel = RecordingChannel(DeliveryLimits(), fail)
    delivery = Delivery(db=db, channels={"rec": channel}, settings=_settings(), clock=utcnow)
    await delivery.start()
    try:
        delivery.enqueue(_rows(db, [("a", "first"), ("a", "second")]))
        await _until(lambda: len(channel.sent) == 2)
    finally:
        await delivery.stop()
    assert [text for _, _, text in channel.sent] == ["first", "second"]
    rows = db.run_sync(lambda s: list(s.exec(select(Message).order_by(Message.id))))  # type: ignore[arg-type]
    assert [r.delivery for r in rows] == ["sent", "sent"]
    assert rows[0].attempts == 1 and rows[0].last_error == "503"
    assert [r.external_id for r in rows] == ["ext-2", "ext-3"]  # the platform's ids, on the replies
    assert all(r.sent_at is not None and r.direction == "out" for r in rows)


async def test_an_outage_is_waited_out_however_many_tries_it_takes(db: Database) -> None:
    channel = RecordingChannel(
        DeliveryLimits(), lambda text, call: DeliveryError("503", retry_after=None) if call <= 15 else None
    )
    settings = _settings(backoff_base_seconds=0.01, backoff_max_seconds=0.02)
    delivery = Delivery(db=db, channels={"rec": channel}, settings=settings, clock=utcnow)
    await delivery.start()
    try:
        delivery.enqueue(_rows(db, [("a", "after the outage")]))
        await _until(lambda: len(channel.sent) == 1)
    finally:
        await delivery.stop()
    row = db.run_sync(lambda s: s.exec(select(Message)).one())
    assert row.delivery == "sent" and row.attempts == 15


async def test_a_reply_still_failing_after_retry_hours_is_given_up(db: Database) -> None:
    channel = RecordingChannel(DeliveryLimits(), lambda text, call: DeliveryError("503", retry_after=None))
    clock = [utcnow()]
    settings = _settings(backoff_base_seconds=0.01, backoff_max_seconds=0.02, retry_hours=1)
    delivery = Delivery(db=db, channels={"rec": channel}, settings=settings, clock=lambda: clock[0])
    await delivery.start()
    try:
        delivery.enqueue(_rows(db, [("a", "never")]))
        await _until(lambda: channel.calls >= 3)
        assert db.run_sync(lambda s: s.exec(select(Message)).one().delivery) == "pending"
        clock[0] += timedelta(hours=1, seconds=1)  # an hour after the reply was written
        await _until(lambda: db.run_sync(lambda s: s.exec(select(Message)).one().delivery) == "dead")
    finally:
        await delivery.stop()
    customer = db.run_sync(lambda s: s.exec(select(Customer)).one())
    assert not customer.unreachable  # an outage says nothing about the customer


async def test_permanent_failure_marks_dead_and_customer_unreachable(db: Database) -> None:
    channel = RecordingChannel(
        DeliveryLimits(), lambda text, call: DeliveryError("403 blocked", permanent=True)
    )
    delivery = Delivery(db=db, channels={"rec": channel}, settings=_settings(), clock=utcnow)
    await delivery.start()
    try:
        delivery.enqueue(_rows(db, [("blocked", "hello")]))
        await _until(lambda: db.run_sync(lambda s: s.exec(select(Message)).one().delivery) == "dead")
    finally:
        await delivery.stop()
    assert channel.calls == 1
    customer = db.run_sync(lambda s: s.exec(select(Customer)).one())
    assert customer.unreachable


async def test_pending_rows_are_sent_after_restart_exactly_once(db: Database) -> None:
    _rows(db, [("a", "left over 1"), ("a", "left over 2")])  # written, never handed to a sender
    channel = RecordingChannel(DeliveryLimits())
    delivery = Delivery(db=db, channels={"rec": channel}, settings=_settings(), clock=utcnow)
    await delivery.start()
    try:
        await _until(lambda: len(channel.sent) == 2)
    finally:
        await delivery.stop()
    again = RecordingChannel(DeliveryLimits())
    second = Delivery(db=db, channels={"rec": again}, settings=_settings(), clock=utcnow)
    await second.start()
    await asyncio.sleep(0.2)
    await second.stop()
    assert [text for _, _, text in channel.sent] == ["left over 1", "left over 2"]
    assert again.sent == []


async def test_pending_rows_are_found_through_the_partial_index(db: Database) -> None:
    _rows(db, [("a", "sent now")])
    channel = RecordingChannel(DeliveryLimits())
    delivery = Delivery(db=db, channels={"rec": channel}, settings=_settings(), clock=utcnow)
    await delivery.start()
    try:
        await _until(lambda: len(channel.sent) == 1)
    finally:
        await delivery.stop()
    _rows(db, [("b", "still to send")])
    query = pending_rows(["rec", "other"])

    def read(session: Session) -> tuple[list[str], str]:
        texts = [row.text for row in session.exec(query).all()]
        # planned with its parameters bound, as at run time
        compiled = query.compile(db.engine, compile_kwargs={"render_postcompile": True})
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
        return texts, " ".join(str(step[-1]) for step in plan)

    texts, plan = db.run_sync(read)
    assert texts == ["still to send"]
    assert "ix_messages_undelivered" in plan


async def test_an_erased_customers_queued_replies_are_dropped(db: Database) -> None:
    channel = RecordingChannel(DeliveryLimits(per_chat_interval=0.3, global_rate=None))
    delivery = Delivery(db=db, channels={"rec": channel}, settings=_settings(), clock=utcnow)
    await delivery.start()
    try:
        delivery.enqueue(_rows(db, [("gone", "g0"), ("gone", "g1"), ("gone", "g2"), ("stays", "s0")]))
        await _until(lambda: {u for _, u, _ in channel.sent} == {"gone", "stays"})
        db.run_sync(lambda s: s.execute(delete(Message).where(col(Message.user_id) == "gone")))  # erased
        assert delivery.drop("rec", "gone") == 2  # g0 went before the erasure; g1 and g2 wait
        assert delivery.drop("rec", "nobody") == 0 and delivery.drop("other", "gone") == 0
        # a later reply to the same chat id goes out; the dropped ones, queued before it, do not
        delivery.enqueue(_rows(db, [("gone", "new")]))
        await _until(lambda: any(text == "new" for _, _, text in channel.sent))
    finally:
        await delivery.stop()
    assert [text for _, u, text in channel.sent if u == "gone"] == ["g0", "new"]
    assert delivery.pending_count() == 0
