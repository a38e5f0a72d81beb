"""Outbound delivery from the persistent outbox: the transcript's outgoing rows still pending.

Replies are written to the ``messages`` table in the turn's transaction, each with its own
delivery state (``Message.delivery``); this module sends them.
Per chat, messages go out strictly in order and no faster than the channel's per-chat interval;
per channel, no faster than its global rate. A failed send keeps its place at the head of its
chat's queue and is retried with exponential backoff (or after the platform's retry_after); a
permanent failure marks the row dead and the customer unreachable; rows are marked sent right
after the send.

Several processes may share one database, so a process sends only the replies it has claimed
(``claimed_by``/``claimed_until`` on the row, storage/repositories/transcript.claim_replies):
a chat's pending replies are claimed whole, by one process, which renews its claims while it
lives. Replies a process writes are claimed right after their commit; every second it also
claims the chats nobody holds: rows written by processes without a sender (the CLI), and
the rows of a process that died, once its claims ran out. A process never sends a row whose
claim it may have lost (not renewed for two thirds of the claim's life), so a reply goes out
once; a channel with work of its own before the platform call (WeChat spends its shared quota)
asks ``claim_held()`` right before the call and lets the reply go (``ClaimLost``) when that work
outlasted the claim. The one window left is a send whose "sent" mark died with its process
(the platform call's answer and one commit: neither WeChat nor Telegram takes an idempotency
key, so a reply the platform accepted just before a kill -9 is sent once more by the process
that takes the chat over), or a platform call slower than the claim.

The platforms' limits hold across processes: a chat's replies go out from the one process that
claimed the chat, so its per-chat interval holds as it does in one process; and each sending
process announces itself with a lease (``senders:<holder>``, renewed with its claims), so each
takes an equal share of a channel's global rate (Telegram's 30/s split over the live senders).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.channels.base import CLAIM_HELD, Channel, ClaimLost, DeliveryError, OutboundMessage
from bot.settings import OutboxSettings
from dialogues.types import Attachment, Button
from storage.db import Database
from storage.models import UNDELIVERED, Customer, Message
from storage.repositories import leases, transcript
from storage.repositories.transcript import PendingReply

log = logging.getLogger(__name__)

LOST_CLAIM_RETRY_SECONDS = 0.2
SENDERS = "senders:"
"""The lease name prefix by which sending processes count each other."""


@dataclass(slots=True)
class OutboxItem:
    id: int
    channel: str
    user_id: str
    message: OutboundMessage
    attempts: int = 0
    not_before: float = 0.0  # monotonic time
    written_at: datetime | None = None  # when the reply was written; None: at its first failure
    claim_valid: float = float("inf")  # monotonic time until which this process surely holds it


def pending_rows(channels: Sequence[str]) -> SelectOfScalar[Message]:
    """Replies still to send on these channels, oldest first (through the partial index)."""
    return select(Message).where(UNDELIVERED, col(Message.channel).in_(channels)).order_by(col(Message.id))


def item_from_row(row: Message | PendingReply, now_mono: float, now: datetime) -> OutboxItem:
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
            author=row.author,
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
        if chat.items and chat.items[-1].id > item.id:  # an older row committed late: in id order
            first = 1 if chat.sending else 0
            at = next(
                (i for i in range(first, len(chat.items)) if chat.items[i].id > item.id), len(chat.items)
            )
            chat.items.insert(at, item)
        else:
            chat.items.append(item)
        if not chat.scheduled:
            self._schedule(item.user_id, chat)

    def keep_only(self, held: Collection[int], valid: float) -> int:
        """After renewing the claims: items still held are valid until ``valid``; the others
        (taken over by another process) are forgotten, except one being sent this instant."""
        lost = 0
        for chat in self.chats.values():
            kept: deque[OutboxItem] = deque()
            for index, item in enumerate(chat.items):
                if item.id in held:
                    item.claim_valid = valid
                    kept.append(item)
                elif index == 0 and chat.sending:
                    kept.append(item)
                else:
                    self.known.discard(item.id)
                    lost += 1
            chat.items = kept
        return lost

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
            self.next_global = start + self.owner.peers / limits.global_rate  # this process's share
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
                if item.claim_valid <= time.monotonic():  # not renewed lately: maybe not ours
                    item.not_before = time.monotonic() + LOST_CLAIM_RETRY_SECONDS
                    continue
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
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.senders = {name: _ChannelSender(ch, self, concurrency) for name, ch in channels.items()}
        self._sent: list[tuple[int, str | None]] = []
        # Finished with (sent or dead) but perhaps still "pending" to a claim reading now: never
        # queued again. Ids whose new state committed go at the start of the next claim.
        self._unmarked: set[int] = set()
        self._committed: set[int] = set()
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_event = asyncio.Event()
        self._to_claim: list[int] = []
        self._claim_event = asyncio.Event()
        self._claim_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.peers = 1  # sending processes on this database, this one included
        self.listeners: list[Callable[[OutboxItem, str | None], None]] = []

    async def start(self) -> None:
        await self._announce()
        await self.reload()
        for sender in self.senders.values():
            sender.start()
        self._flush_task = asyncio.create_task(self._flusher(), name="outbox-flush")
        self._claim_task = asyncio.create_task(self._claimer(), name="outbox-claim")

    async def stop(self) -> None:
        if self._claim_task is not None:
            self._claim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._claim_task
            self._claim_task = None
        for sender in self.senders.values():
            await sender.stop()
        # Never cancel a flush half-way: its batch would stay "pending" and be sent again.
        self._stopping = True
        self._flush_event.set()
        if self._flush_task is not None:
            await self._flush_task
            self._flush_task = None
        await self._flush()
        # What is still pending goes to the other processes now, not when the claims run out.
        with contextlib.suppress(Exception):
            await self.db.run_core(lambda c: transcript.release_claims(c, holder=self.holder))
        with contextlib.suppress(Exception):
            await self.db.run(lambda s: leases.release(s, self._presence, holder=self.holder))

    @property
    def _presence(self) -> str:
        return f"{SENDERS}{self.holder}"[:64]

    async def _announce(self) -> None:
        """Renew this process's presence among the senders and count them (for the rate share)."""
        now = self.clock()
        seconds = self.settings.claim_seconds

        def run(session: Session) -> int:
            leases.acquire(session, self._presence, holder=self.holder, now=now, seconds=seconds)
            leases.forget(session, prefix=SENDERS, before=now - timedelta(hours=1))
            return leases.count_live(session, prefix=SENDERS, now=now)

        peers = max(1, await self.db.run(run))
        if peers != self.peers:
            log.info("%d process(es) send replies; this one takes 1/%d of each global rate", peers, peers)
        self.peers = peers

    async def reload(self) -> int:
        """Claim and queue every chat's pending rows that no live process holds (at start, and
        every ``claim_poll_seconds``: rows the CLI wrote, a dead process's); returns how many."""
        return await self._claim(None)

    def enqueue(self, items: Sequence[OutboxItem]) -> None:
        """Claim freshly committed rows for this process and queue them (a chat another process
        is sending to stays with it)."""
        for item in items:
            if item.channel not in self.senders:
                log.warning("no channel %r for reply %s; it stays pending", item.channel, item.id)
                continue
            self._to_claim.append(item.id)
        self._claim_event.set()

    async def _claim(self, ids: list[int] | None) -> int:
        self._unmarked -= self._committed  # committed before this claim reads: it cannot see them
        self._committed = set()
        started = time.monotonic()
        claim_s = self.settings.claim_seconds
        channels = list(self.senders)
        now = self.clock()
        until = now + timedelta(seconds=claim_s)
        rows = await self.db.run_core(
            lambda c: transcript.claim_replies(
                c, holder=self.holder, channels=channels, now=now, until=until, message_ids=ids
            )
        )
        valid = started + claim_s * 2 / 3
        now_mono, now = time.monotonic(), self.clock()
        added = 0
        for row in rows:
            sender = self.senders[row.channel]
            if row.id in sender.known or row.id in self._unmarked:
                continue
            item = item_from_row(row, now_mono, now)
            item.claim_valid = valid
            sender.add(item)
            added += 1
        return added

    async def _renew(self) -> None:
        started = time.monotonic()
        claim_s = self.settings.claim_seconds
        until = self.clock() + timedelta(seconds=claim_s)
        held = await self.db.run_core(lambda c: transcript.renew_claims(c, holder=self.holder, until=until))
        lost = sum(s.keep_only(held, started + claim_s * 2 / 3) for s in self.senders.values())
        if lost:
            log.warning("%d pending repl(ies) were taken over by another process", lost)

    async def _claimer(self) -> None:
        """One task does all claiming and renewing, so a renewal never races a claim."""
        poll = self.settings.claim_poll_seconds
        renew_every = self.settings.claim_seconds / 4
        loop = asyncio.get_running_loop()
        next_poll, next_renew = loop.time() + poll, loop.time() + renew_every  # start() claimed
        while True:
            timeout = max(0.0, min(next_poll, next_renew) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claim_event.wait(), timeout)
            self._claim_event.clear()
            try:
                if loop.time() >= next_renew:
                    next_renew = loop.time() + renew_every
                    await self._renew()
                    await self._announce()
                if self._to_claim:
                    ids, self._to_claim = self._to_claim, []
                    try:
                        await self._claim(ids)
                    except BaseException:
                        self._to_claim[:0] = ids  # a chat nobody takes now is taken by a poll
                        raise
                if loop.time() >= next_poll:
                    next_poll = loop.time() + poll
                    await self._claim(None)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming replies failed; will retry")
                await asyncio.sleep(0.5)

    async def send_one(
        self, channel: Channel, item: OutboxItem, sender: _ChannelSender | None = None
    ) -> bool:
        """Send; True when the item is finished with (sent or dead), False to retry it later."""
        held = CLAIM_HELD.set(lambda: item.claim_valid > time.monotonic())  # renewals extend it
        try:
            external_id = await channel.send(item.user_id, item.message)
        except ClaimLost:  # the channel's own work outlasted the claim: not sent, nor failed
            item.not_before = time.monotonic() + LOST_CLAIM_RETRY_SECONDS
            return False
        except DeliveryError as exc:
            if exc.retry_after is not None and sender is not None:
                sender.pause(exc.retry_after)  # a 429 applies to the whole bot, not one chat
            return await self._failed(item, str(exc), permanent=exc.permanent, retry_after=exc.retry_after)
        except Exception as exc:  # a bug or an unexpected transport error: retry, never crash
            log.exception("sending reply %s failed", item.id)
            return await self._failed(item, repr(exc), permanent=False, retry_after=None)
        finally:
            CLAIM_HELD.reset(held)
        self._sent.append((item.id, external_id))
        self._unmarked.add(item.id)
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
        if dead:
            self._unmarked.add(item.id)
            self._committed.add(item.id)
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
            # No waiting to gather more: a row sent but not yet marked is sent again by whoever
            # takes its claim over after a kill -9, so the mark goes out at once; the sends that
            # finish while one mark commits share the next.
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
        self._committed.update(i for i, _ in batch)

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
