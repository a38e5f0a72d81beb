"""Outbound delivery from the persistent outbox: the transcript's outgoing rows still pending.

Replies are written to the ``messages`` table in the turn's transaction, each with its own
delivery state (``Message.delivery``); this module sends them.
Per chat, messages go out strictly in order and no faster than the channel's per-chat interval;
per channel, no faster than its global rate. A failed send keeps its place at the head of its
chat's queue and is retried with exponential backoff (or after the platform's retry_after); a
permanent failure marks the row dead and the customer unreachable. On start every pending row is
loaded again, so a restart loses nothing; rows are marked sent right after the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.channels.base import Channel, DeliveryError, OutboundMessage
from bot.settings import OutboxSettings
from dialogues.types import Attachment, Button
from storage.db import Database
from storage.models import UNDELIVERED, Customer, Message
from storage.repositories import transcript

log = logging.getLogger(__name__)

MARK_SENT_DELAY_SECONDS = 0.05


@dataclass(slots=True)
class OutboxItem:
    id: int
    channel: str
    user_id: str
    message: OutboundMessage
    attempts: int = 0
    not_before: float = 0.0  # monotonic time
    written_at: datetime | None = None  # when the reply was written; None: at its first failure


def pending_rows(channels: Sequence[str]) -> SelectOfScalar[Message]:
    """Replies still to send on these channels, oldest first (through the partial index)."""
    return select(Message).where(UNDELIVERED, col(Message.channel).in_(channels)).order_by(col(Message.id))


def item_from_row(row: Message, now_mono: float, now: datetime) -> OutboxItem:
    assert row.id is not None
    # no retry time: never tried, send now
    wait = 0.0 if row.next_attempt_at is None else max(0.0, (row.next_attempt_at - now).total_seconds())
    return OutboxItem(
        id=row.id,
        channel=row.channel,
        user_id=row.user_id,
        message=OutboundMessage(
            text=row.text,
            buttons=tuple(Button(label=b["label"], payload=b["payload"]) for b in row.buttons),
            attachments=tuple(Attachment(**a) for a in row.attachments),
        ),
        attempts=row.attempts,
        not_before=now_mono + wait,
        written_at=row.created_at,
    )


@dataclass(slots=True)
class _ChatQueue:
    items: deque[OutboxItem] = field(default_factory=deque)
    next_allowed: float = 0.0
    scheduled: bool = False  # in the ready queue, waiting on a timer, or being sent
    sending: bool = False  # a worker is sending the head item right now


class _ChannelSender:
    """Schedules one channel's sends: ordered per chat, rate-limited per chat and overall.

    A chat with work is in exactly one place: the ready queue, a timer (until its per-chat
    interval or retry delay has passed), or a worker's hands. So adding a message is O(1) and a
    worker never scans the other chats.
    """

    def __init__(self, channel: Channel, owner: Delivery, concurrency: int) -> None:
        self.channel = channel
        self.owner = owner
        self.chats: dict[str, _ChatQueue] = {}
        self.known: set[int] = set()
        self.ready: asyncio.Queue[str] = asyncio.Queue()
        self.concurrency = concurrency
        self.next_global = 0.0
        self.paused_until = 0.0
        self.tasks: list[asyncio.Task[None]] = []
        self.timers: set[asyncio.TimerHandle] = set()

    def add(self, item: OutboxItem) -> None:
        if item.id in self.known:
            return
        self.known.add(item.id)
        chat = self.chats.setdefault(item.user_id, _ChatQueue())
        chat.items.append(item)
        if not chat.scheduled:
            self._schedule(item.user_id, chat)

    def drop(self, user_id: str) -> int:
        """Forget this chat's queued replies (their customer was erased); a reply a worker is
        sending this instant cannot be called back. The chat stays where it is scheduled: its
        worker finds it empty and lets it go."""
        chat = self.chats.get(user_id)
        if chat is None:
            return 0
        keep = [chat.items[0]] if chat.sending and chat.items else []
        dropped = [item for item in chat.items if item not in keep]
        chat.items = deque(keep)
        for item in dropped:
            self.known.discard(item.id)
        return len(dropped)

    def pause(self, seconds: float) -> None:
        """Hold every send on this channel (the platform asked us to slow down)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def _schedule(self, user_id: str, chat: _ChatQueue) -> None:
        chat.scheduled = True
        delay = max(chat.next_allowed, chat.items[0].not_before) - time.monotonic()
        if delay <= 0:
            self.ready.put_nowait(user_id)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self.timers.discard(handle)
            self.ready.put_nowait(user_id)

        handle = loop.call_later(delay, fire)
        self.timers.add(handle)

    def start(self) -> None:
        for i in range(self.concurrency):
            self.tasks.append(asyncio.create_task(self._worker(), name=f"send-{self.channel.name}-{i}"))

    async def stop(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()

    async def _wait_for_slot(self) -> None:
        limits = self.channel.limits
        now = time.monotonic()
        start = max(now, self.paused_until)
        if limits.global_rate:
            start = max(start, self.next_global)
            self.next_global = start + 1.0 / limits.global_rate
        if start > now:
            await asyncio.sleep(start - now)

    async def _worker(self) -> None:
        while True:
            user_id = await self.ready.get()
            chat = self.chats.get(user_id)
            if chat is None:
                continue
            if not chat.items:  # dropped while it waited
                chat.scheduled = False
                self.chats.pop(user_id, None)
                continue
            try:
                await self._wait_for_slot()
                if not chat.items:  # dropped while it waited for the channel's rate
                    continue
                item = chat.items[0]
                chat.sending = True
                try:
                    done = await self.owner.send_one(self.channel, item, self)
                finally:
                    chat.sending = False
                chat.next_allowed = time.monotonic() + self.channel.limits.per_chat_interval
                if done:
                    chat.items.popleft()
                    self.known.discard(item.id)
            finally:
                chat.scheduled = False
                if chat.items:
                    self._schedule(user_id, chat)
                else:
                    self.chats.pop(user_id, None)


class Delivery:
    """Owns one sender per channel and the replies' delivery state in the transcript."""

    def __init__(
        self,
        *,
        db: Database,
        channels: Mapping[str, Channel],
        settings: OutboxSettings,
        clock: Callable[[], datetime],
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.senders = {name: _ChannelSender(ch, self, concurrency) for name, ch in channels.items()}
        self._sent: list[tuple[int, str | None]] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_event = asyncio.Event()
        self._stopping = False
        self.listeners: list[Callable[[OutboxItem, str | None], None]] = []

    async def start(self) -> None:
        await self.reload()
        for sender in self.senders.values():
            sender.start()
        self._flush_task = asyncio.create_task(self._flusher(), name="outbox-flush")

    async def stop(self) -> None:
        for sender in self.senders.values():
            await sender.stop()
        # Never cancel a flush half-way: its batch would stay "pending" and be sent again.
        self._stopping = True
        self._flush_event.set()
        if self._flush_task is not None:
            await self._flush_task
            self._flush_task = None
        await self._flush()

    async def reload(self) -> int:
        """Queue every pending row (after a restart, or rows another process wrote)."""
        channels = list(self.senders)

        def load(session: Session) -> list[Message]:
            return list(session.exec(pending_rows(channels)).all())

        rows = await self.db.run(load)
        now_mono, now = time.monotonic(), self.clock()
        for row in rows:
            self.senders[row.channel].add(item_from_row(row, now_mono, now))
        return len(rows)

    def enqueue(self, items: Sequence[OutboxItem]) -> None:
        """Hand freshly committed rows to their senders (no database read needed)."""
        for item in items:
            sender = self.senders.get(item.channel)
            if sender is None:
                log.warning("no channel %r for reply %s; it stays pending", item.channel, item.id)
                continue
            sender.add(item)

    async def send_one(
        self, channel: Channel, item: OutboxItem, sender: _ChannelSender | None = None
    ) -> bool:
        """Send; True when the item is finished with (sent or dead), False to retry it later."""
        try:
            external_id = await channel.send(item.user_id, item.message)
        except DeliveryError as exc:
            if exc.retry_after is not None and sender is not None:
                sender.pause(exc.retry_after)  # a 429 applies to the whole bot, not one chat
            return await self._failed(item, str(exc), permanent=exc.permanent, retry_after=exc.retry_after)
        except Exception as exc:  # a bug or an unexpected transport error: retry, never crash
            log.exception("sending reply %s failed", item.id)
            return await self._failed(item, repr(exc), permanent=False, retry_after=None)
        self._sent.append((item.id, external_id))
        self._flush_event.set()
        for listener in self.listeners:
            listener(item, external_id)
        return True

    async def _failed(
        self, item: OutboxItem, error: str, *, permanent: bool, retry_after: float | None
    ) -> bool:
        item.attempts += 1
        now = self.clock()
        if item.written_at is None:
            item.written_at = now
        # A platform outage is transient however many tries it takes: only age gives up on it.
        dead = permanent or now - item.written_at >= timedelta(hours=self.settings.retry_hours)
        if retry_after is not None:
            delay = retry_after
        else:
            delay = min(
                self.settings.backoff_base_seconds * 2 ** (item.attempts - 1),
                self.settings.backoff_max_seconds,
            )
        item.not_before = time.monotonic() + delay
        next_at = now + timedelta(seconds=delay)

        def record(session: Session) -> None:
            row = session.get(Message, item.id)
            if row is None:
                return
            row.attempts = item.attempts
            row.last_error = error[:2000]
            row.delivery = "dead" if dead else "pending"
            row.next_attempt_at = next_at
            session.add(row)
            if permanent:
                session.execute(
                    update(Customer)
                    .where(
                        col(Customer.channel) == item.channel,
                        col(Customer.external_id) == item.user_id,
                    )
                    .values(unreachable=True)
                )

        await self.db.run(record)
        level = logging.WARNING if dead else logging.INFO
        log.log(
            level,
            "reply %s to %s failed (attempt %s%s): %s",
            item.id,
            item.channel,
            item.attempts,
            ", giving up" if dead else "",
            error,
        )
        return dead

    async def _flusher(self) -> None:
        while not self._stopping:
            await self._flush_event.wait()
            if not self._stopping:
                # Gather the sends of a moment into one write: marking rows sent is bookkeeping
                # (a restart in between resends them, as it would a moment earlier), and on
                # SQLite every separate write is a commit of its own.
                await asyncio.sleep(MARK_SENT_DELAY_SECONDS)
            self._flush_event.clear()
            try:
                await self._flush()
            except Exception:
                log.exception("marking replies sent failed; will retry")
                await asyncio.sleep(0.5)
                self._flush_event.set()

    async def _flush(self) -> None:
        if not self._sent:
            return
        batch, self._sent = self._sent, []
        now = self.clock()
        try:
            await self.db.run_core(lambda conn: self._mark_sent(conn, batch, now))
        except BaseException:
            self._sent[:0] = batch  # keep them for the next flush
            raise

    @staticmethod
    def _mark_sent(conn: Connection, batch: list[tuple[int, str | None]], now: datetime) -> None:
        transcript.mark_sent(conn, sent=batch, now=now)

    def drop(self, channel: str, user_id: str) -> int:
        """Drop one customer's replies still queued in memory (an erasure deleted their rows);
        returns how many will not be sent."""
        sender = self.senders.get(channel)
        return sender.drop(user_id) if sender is not None else 0

    def pending_count(self) -> int:
        return sum(len(c.items) for s in self.senders.values() for c in s.chats.values())
