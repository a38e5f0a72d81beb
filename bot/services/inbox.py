"""The conversation manager: the only place where a message meets storage, NLU and the engine.

For each inbound message: store it (a duplicate delivery stops here), then under the
conversation's lock load the state, ask the NLU if the step wants it, run the pure engine, and
save state, transcript, outbox rows and the effects' database work in one transaction. Only
after the commit do the replies go to the delivery queues. A message stored but never answered
(a crash, a locked database) is found again by ``recover`` on start.

Several processes may share one PostgreSQL database, and a customer's consecutive messages may
reach different ones. Within a process an asyncio lock per conversation serialises its turns;
across processes the turn's transaction locks the conversation row first and saves only when
its message is still unanswered and nothing that arrived before it waits (else the turn is
recomputed or dropped, so each message is answered once, in arrival order). A turn whose
earlier messages another process stored waits for that process to answer them, and takes them
over (``adopt_after_s``) when it does not: that process died. Messages of a dead process with
nothing after them are taken by ``sweep``, run by the holder of the ``inbox-sweep`` lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from bot.channels.base import OutboundMessage
from bot.channels.passive import PassiveSlot
from bot.domain.catalog import Catalog
from bot.domain.enums import ConversationStatus
from bot.domain.privacy import mask_phones
from bot.domain.queue_rules import PRIORITY_ANGRY, QueueRules
from bot.services import desk_flows, turn_budget
from bot.services.delivery import Delivery, OutboxItem
from bot.services.effects import RELEASED, Effects
from bot.services.flow_catalog import FlowCatalog
from bot.services.lru import LruCache
from bot.services.outgoing import attachment_dict, queue_replies
from bot.services.ticket_intake import SeverityFn, no_severity
from bot.services.tickets import TicketService
from bot.services.work import Work
from dialogues import engine
from dialogues.engine import EngineOptions
from dialogues.state import (
    ConversationState,
    RequestHandoff,
    Turn,
)
from dialogues.types import Attachment, ConversationKey, InboundMessage, Language, Reply
from nlu.types import NluClient, NluResult
from storage.db import Database, session_on
from storage.models import UNANSWERED, Conversation, Customer, Message
from storage.repositories import leases, transcript

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(seconds=60)
T = TypeVar("T")
HandBack = Literal["resume", "menu", "idle"]


MAX_REPLAYS = 2
"""How often ``recover()`` replays one message whose turn never finished before giving up on it:
once for an ordinary crash, once more in case the crash was elsewhere."""

FAILED_TURN = "turn_failed"
"""The queue reason of a conversation whose turn failed and was recorded."""


class DatabaseBusy(Exception):
    """The database refused the turn on every retry; the message stays for recovery."""


class StaleConversation(Exception):
    """Another writer saved the conversation first; the turn is recomputed."""


class _AnsweredElsewhere(Exception):
    """Another process answered this message (it took it over with the chat's later one)."""


class _Earlier(Exception):
    """Messages of this chat that arrived before this one are still unanswered, stored by
    another process that did not answer them in time; this process takes them over."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(ids)
        self.ids = ids


SWEEP_LEASE = "inbox-sweep"


@dataclass(slots=True)
class _Pending:
    row_id: int
    inbound: InboundMessage
    conversation_id: int | None = None  # the row's, when stored
    passive: PassiveSlot | None = None  # the callback's open answer, if it may carry the replies
    record: TurnRecord | None = None  # what its turn produced, once processed


@dataclass(slots=True)
class _Cached:
    conversation_id: int
    customer_id: int
    version: int
    state: ConversationState | None
    status: str
    assigned_agent: str | None
    phone: str | None
    language: str
    touched: datetime | None = None  # when we last wrote Customer.last_inbound_at


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """What one processed message produced; handed to listeners (console, tests, metrics)."""

    key: ConversationKey
    conversation_id: int
    inbound: InboundMessage
    replies: tuple[OutboundMessage, ...]
    state: ConversationState | None
    handoff: str | None = None
    tickets: tuple[str, ...] = ()
    to_agent: bool = False


@dataclass(frozen=True, slots=True)
class Handled:
    """What handing in one message produced, for the channel that delivered it."""

    duplicate: bool
    record: TurnRecord | None = None
    """None for a duplicate, or when the turn could not even be recorded (the message stays
    stored and ``recover()`` answers it)."""

    @property
    def replies(self) -> tuple[OutboundMessage, ...]:
        return () if self.record is None else self.record.replies

    @property
    def to_agent(self) -> bool:
        """An agent holds the conversation: the message went to them, not to the bot."""
        return self.record is not None and self.record.to_agent


DUPLICATE = Handled(duplicate=True)


@dataclass(slots=True)
class _SaveResult:
    outbox: list[OutboxItem] = field(default_factory=list)
    replies: list[OutboundMessage] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)
    version: int = 0
    lifecycle: list[Work] = field(default_factory=list)


class ConversationManager:
    def __init__(
        self,
        *,
        db: Database,
        catalog: FlowCatalog,
        delivery: Delivery,
        nlu: NluClient | None,
        default_flow: str,
        tz: ZoneInfo,
        default_language: Language = "zh",
        options: EngineOptions | None = None,
        severity: SeverityFn = no_severity,
        clock: Callable[[], datetime],
        tickets: TicketService | None = None,
        queue_rules: QueueRules | None = None,
        cache_size: int = 10_000,
        turn_budget_s: float = 5.0,
        adopt_after_s: float | None = None,
        texts: Catalog,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.delivery = delivery
        self.nlu = nlu
        self.default_flow = default_flow
        self.tz = tz
        self.default_language: Language = default_language
        self.options = options or EngineOptions()
        self.severity = severity
        self.clock = clock
        self.tickets = tickets
        self.queue_rules = queue_rules or QueueRules()
        self.effects = Effects(
            tz=tz, severity=severity, tickets=tickets, queue_rules=self.queue_rules, texts=texts
        )
        self.turn_budget_s = turn_budget_s
        self.adopt_after_s = turn_budget_s + 2.0 if adopt_after_s is None else adopt_after_s
        """How long a turn waits for another process to answer the chat's earlier messages
        before it takes them over: longer than a turn may take (its budget), plus its commit."""
        self.shared = not db.is_sqlite  # other processes may handle this database's messages
        self.texts = texts
        self._steps = turn_budget.StepRunner(turn_budget_s)
        self.listeners: list[Callable[[TurnRecord], None]] = []
        self._locks: dict[ConversationKey, asyncio.Lock] = {}
        self._lock_users: dict[ConversationKey, int] = {}
        self._pending: dict[ConversationKey, list[_Pending]] = {}
        # states of recent conversations, bounded: a new chat identity costs one entry at most
        self._cache: LruCache[ConversationKey, _Cached] = LruCache(cache_size)
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------- intake of messages
    async def accept(self, inbound: InboundMessage) -> bool:
        """Store the message and process it in the background; False for a duplicate. Returns
        once the message is committed (channels acknowledge deliveries on that)."""
        stored = await self._store(inbound)
        if stored is None:
            return False
        await stored[1]
        task = asyncio.create_task(self._process_logged(inbound.key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def handle(self, inbound: InboundMessage, *, passive: PassiveSlot | None = None) -> Handled:
        """Store and process the message before returning: which replies it produced.

        The message's row is written first, but its commit may be the turn's own: the caller
        hears nothing before the turn's commit, which is the same as the message's or a later
        one (groups commit in order), and a failed turn leaves the message committed for
        recovery. One commit per turn instead of two (bench/RESULTS.md). ``passive``: the
        caller's open HTTP answer; its ``stored`` is set at the message's commit, and the turn
        may claim it for its replies (bot/channels/passive.py)."""
        stored = await self._store(inbound, passive)
        if stored is None:
            return DUPLICATE
        item, committed = stored
        if passive is not None:
            asyncio.ensure_future(committed).add_done_callback(partial(_on_stored, passive))
        try:
            await self.process(inbound.key)
        finally:
            await committed
        return Handled(duplicate=False, record=item.record)

    async def drain(self) -> None:
        """Wait for background processing started by ``accept``."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def recover(self, *, older_than: timedelta | None = None) -> int:
        """Process messages stored before a crash but never answered; returns how many.

        Each replay is counted on the row before it starts. A message whose turn stopped the
        process ``MAX_REPLAYS`` times (a hang, a crash in the turn itself) is recorded as failed
        instead of replayed again, so one poisonous message cannot stop the bot at every start.
        ``older_than``: only messages stored that long ago (on a shared database the younger
        ones may be another live process's turns in progress)."""
        if older_than is None and self.shared:
            older_than = timedelta(seconds=self.adopt_after_s)
        cutoff = None if older_than is None else self.clock() - older_than

        def load(session: Session) -> list[Message]:
            query = select(Message).where(UNANSWERED)  # as the partial index spells it
            if cutoff is not None:
                query = query.where(col(Message.created_at) < cutoff)
            return list(session.exec(query.order_by(col(Message.id))).all())

        rows = await self.db.run(load)
        if rows:
            ids = [row.id for row in rows if row.id is not None]
            await self.db.run_core(lambda c: transcript.count_replays(c, ids=ids))
        keys: list[ConversationKey] = []
        failed: list[tuple[ConversationKey, _Pending, str]] = []
        for row in rows:
            assert row.id is not None
            key = ConversationKey(row.channel, row.user_id)
            inbound = _inbound_of(row)
            if row.attempts >= MAX_REPLAYS:
                reason = f"the process stopped during this turn {row.attempts + 1} times"
                failed.append((key, _Pending(row.id, inbound), reason))
                continue
            queue = self._pending.setdefault(key, [])
            if all(p.row_id != row.id for p in queue):
                queue.append(_Pending(row.id, inbound))
            if key not in keys:
                keys.append(key)
        for key, item, reason in failed:
            await self._record_failure(key, item, reason)
        for key in keys:
            await self._process_logged(key)
        if rows:
            log.info("recovered %d unanswered message(s) in %d conversation(s)", len(rows), len(keys))
        return len(rows)

    async def sweep(self, *, holder: str, every: float) -> int:
        """One round of the orphan sweep on a shared database: the holder of the sweep lease
        answers messages older than ``adopt_after_s`` that nobody answered (their process died
        and nothing came after them); returns how many. Only one process sweeps, so a replay
        is counted once."""
        if not self.shared:
            return 0

        def lease(session: Session) -> bool:
            return leases.acquire(session, SWEEP_LEASE, holder=holder, now=self.clock(), seconds=every * 3)

        if not await self.db.run(lease):
            return 0
        return await self.recover(older_than=timedelta(seconds=self.adopt_after_s))

    async def sweep_forever(self, *, holder: str, every: float = 2.0) -> None:
        """``sweep`` every ``every`` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep(holder=holder, every=every)
            except Exception:
                log.exception("sweeping unanswered messages failed; will retry")

    def forget(self, key: ConversationKey) -> None:
        """Drop the cached state, e.g. after the console changed the conversation row."""
        self._cache.pop(key, None)

    def forget_customer(self, key: ConversationKey) -> int:
        """After an erasure: drop the cached state and the replies still queued in memory for
        this chat (their rows are gone); returns how many replies will not be sent."""
        self._cache.pop(key, None)
        return self.delivery.drop(key.channel, key.user_id)

    # ----------------------------------------------------------------- storing
    async def _store(
        self, inbound: InboundMessage, passive: PassiveSlot | None = None
    ) -> tuple[_Pending, Awaitable[None]] | None:
        """Write the message (None for a duplicate); the awaitable is its commit."""
        try:
            return await self._store_as(inbound, self._cache.get(inbound.key), passive)
        except transcript.StaleReference:
            self._cache.pop(inbound.key, None)
            return await self._store_as(inbound, None, passive)

    async def _store_as(
        self, inbound: InboundMessage, cached: _Cached | None, passive: PassiveSlot | None = None
    ) -> tuple[_Pending, Awaitable[None]] | None:
        language = _language_from_hint(inbound.language_hint, self.default_language)
        key = inbound.key
        # last_inbound_at feeds WeChat's 48-hour window; minute precision is plenty.
        touch = cached is None or cached.touched is None or inbound.received_at - cached.touched > TOUCH_EVERY
        conversation = None if cached is None else cached.conversation_id

        def store(conn: Connection) -> int:
            customer = (
                cached.customer_id
                if cached is not None
                else transcript.customer_id(
                    conn,
                    channel=key.channel,
                    external_id=key.user_id,
                    language=language,
                    name=inbound.display_name,
                    now=inbound.received_at,
                )
            )
            return transcript.insert_inbound(
                conn,
                customer=customer,
                channel=key.channel,
                user_id=key.user_id,
                channel_message_id=inbound.message_id,
                kind=inbound.kind,
                text=_storable(inbound.text),
                payload=inbound.payload,
                attachments=[attachment_dict(a) for a in inbound.attachments],
                received_at=inbound.received_at,
                touch_customer=touch,
                conversation_id=conversation,
            )

        try:
            row_id, committed = await self.db.start_core(store)
        except transcript.DuplicateMessage:
            log.info("duplicate delivery %s from %s ignored", inbound.message_id, key.channel)
            return None
        if touch and cached is not None:
            cached.touched = inbound.received_at
        item = _Pending(row_id, inbound, conversation, passive)
        self._pending.setdefault(key, []).append(item)
        return item, committed

    # ----------------------------------------------------------------- processing
    async def _process_logged(self, key: ConversationKey) -> None:
        try:
            await self.process(key)
        except Exception:
            log.exception("processing %s failed; the message stays stored for recovery", key.channel)

    async def process(self, key: ConversationKey) -> None:
        """Work through this conversation's stored, unanswered messages in arrival order."""
        async with self._locked(key):
            queue = self._pending.get(key)
            while queue:
                queue.sort(key=lambda p: p.row_id)
                item = queue[0]
                try:
                    await self._run_turn(key, item)
                except _Earlier as earlier:
                    await self._adopt(key, queue, earlier.ids)
                    continue  # the adopted messages come first
                except _AnsweredElsewhere:
                    self._cache.pop(key, None)  # that process changed the conversation
                except (DatabaseBusy, asyncio.CancelledError):
                    raise  # not the message's fault: it stays stored for recovery
                except Exception as exc:
                    await self._record_failure(key, item, _reason(exc))
                queue.remove(item)
            self._pending.pop(key, None)

    async def _adopt(self, key: ConversationKey, queue: list[_Pending], ids: list[int]) -> None:
        """Take over a dead process's unanswered messages of this chat (each replay counted,
        as ``recover`` counts them)."""
        log.warning(
            "taking over %d unanswered message(s) of a %s chat from another process", len(ids), key.channel
        )

        def load(session: Session) -> list[Message]:
            rows = list(session.exec(select(Message).where(col(Message.id).in_(ids))).all())
            transcript.count_replays(session.connection(), ids=ids)
            return rows

        for row in await self.db.run(load):
            assert row.id is not None
            item = _Pending(row.id, _inbound_of(row), row.conversation_id)
            if row.attempts >= MAX_REPLAYS:
                await self._record_failure(
                    key, item, f"the process stopped during this turn {row.attempts + 1} times"
                )
            elif all(p.row_id != row.id for p in queue):
                queue.append(item)

    async def _record_failure(self, key: ConversationKey, item: _Pending, reason: str) -> None:
        """A turn that raised or ran over its budget: the message is marked processed with the
        reason (``last_error``), the customer hears that it is kept and a person will answer,
        and the conversation joins the agents' queue. Never retried, so it cannot block the
        conversation or ``recover()``. If even this cannot be written, the message stays
        unanswered and the next start counts it as a replay."""
        log.error("turn for a %s conversation failed and was recorded: %s", key.channel, reason)
        self._cache.pop(key, None)
        try:
            conv = await self._load(key)
            now = self.clock()
            result = _SaveResult()
            language = _as_language(conv.language, self.default_language)

            def record(conn: Connection) -> None:
                if self.shared:
                    transcript.lock_conversation(conn, conv.conversation_id)
                    waiting = transcript.unanswered_up_to(
                        conn, channel=key.channel, user_id=key.user_id, message_id=item.row_id
                    )
                    if item.row_id not in waiting:
                        raise _AnsweredElsewhere()
                transcript.mark_failed(
                    conn,
                    message_id=item.row_id,
                    conversation_id=conv.conversation_id,
                    reason=reason,
                    now=now,
                )
                reply = Reply(self.texts.text("bot.internal_error", language))
                self._queue_replies(conn, key, conv, [reply], {}, result, now)
                transcript.flag_for_agents(
                    conn,
                    conversation_id=conv.conversation_id,
                    reason=FAILED_TURN,
                    priority=PRIORITY_ANGRY,
                    now=now,
                )

            await self.db.run_core(record)
        except _AnsweredElsewhere:
            return
        except Exception:
            log.exception("recording the failed turn failed; the message stays for recovery")
            return
        finally:
            self._cache.pop(key, None)
        self.delivery.enqueue(result.outbox)
        self._finish(
            item,
            TurnRecord(
                key=key,
                conversation_id=conv.conversation_id,
                inbound=item.inbound,
                replies=tuple(result.replies),
                state=conv.state,
                handoff=FAILED_TURN,
            ),
        )

    @contextlib.asynccontextmanager
    async def _locked(self, key: ConversationKey) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._lock_users[key] = self._lock_users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[key] -= 1
            if self._lock_users[key] == 0:
                del self._lock_users[key]
                del self._locks[key]

    async def _run_turn(self, key: ConversationKey, item: _Pending) -> None:
        for attempt in range(5):
            try:
                await self._turn_once(key, item)
                return
            except StaleConversation:
                self._cache.pop(key, None)
            except OperationalError as exc:  # e.g. database locked beyond busy_timeout
                log.warning(
                    "database busy during a turn (attempt %d): %s",
                    attempt + 1,
                    exc.__class__.__name__,
                )
                self._cache.pop(key, None)
                await asyncio.sleep(0.2 * (attempt + 1))
        raise DatabaseBusy(f"turn for a {key.channel} conversation failed after retries")

    async def _load(self, key: ConversationKey) -> _Cached:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        cached = await self.db.run_core(partial(self._read, key=key))
        self._cache[key] = cached
        return cached

    def _read(self, conn: Connection, *, key: ConversationKey) -> _Cached:
        """The conversation and its customer as the database has them (a first contact's
        conversation row is made here)."""
        conv = transcript.conversation_by_key(conn, channel=key.channel, user_id=key.user_id)
        customer = transcript.customer_profile(conn, channel=key.channel, external_id=key.user_id)
        if customer is None:  # erased by another process since: the ORM, same transaction
            with session_on(conn) as s:
                row = self._customer_again(s, key)
                s.commit()
                assert row.id is not None
                customer = transcript.CustomerProfile(row.id, row.phone, row.language)
        if conv is None:
            version, _flow = self.catalog.live_on(conn, name=self.default_flow)
            conversation_id = transcript.new_conversation(
                conn,
                channel=key.channel,
                user_id=key.user_id,
                customer=customer.id,
                flow=self.default_flow,
                flow_version=version,
                now=self.clock(),
            )
            conv = transcript.ConversationRow(conversation_id, 0, "", ConversationStatus.BOT, None)
        state = ConversationState.from_json(conv.state) if conv.state not in ("", "{}") else None
        return _Cached(
            conversation_id=conv.id,
            customer_id=customer.id,
            version=conv.version,
            state=state,
            status=conv.status,
            assigned_agent=conv.assigned_agent,
            phone=customer.phone,
            language=customer.language,
        )

    def _customer_again(self, session: Session, key: ConversationKey) -> Customer:
        """The customer row went away since this process cached it (erased by another process):
        the person writing now is a new customer, and their waiting messages move to that row."""
        new_id = transcript.customer_id(
            session.connection(),
            channel=key.channel,
            external_id=key.user_id,
            language=self.default_language,
            name=None,
            now=self.clock(),
        )
        session.execute(
            update(Message)
            .where(col(Message.channel) == key.channel, col(Message.user_id) == key.user_id)
            .where(col(Message.processed_at).is_(None))
            .values(customer_id=new_id)
        )
        customer = session.get(Customer, new_id)
        assert customer is not None
        return customer

    async def _wait_for_earlier(self, key: ConversationKey, item: _Pending) -> _Cached:
        """On a shared database: once this message's turn may run (nothing that arrived before
        it waits), the conversation as it is now; raise ``_AnsweredElsewhere`` when another
        process answered it, and ``_Earlier`` when the earlier messages were not answered in
        ``adopt_after_s``.

        The transaction that looks for earlier messages also checks the cached conversation's
        version, and reads the row again only when another process changed it. A customer whose
        messages alternate between processes would otherwise have every turn computed on a
        stale state, refused at the save and computed again (bench/RESULTS.md, issue 24)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.adopt_after_s
        pause = 0.02
        while True:
            cached = self._cache.get(key)
            mine = {p.row_id for p in self._pending.get(key, ())}
            waiting, current = await self.db.run_core(
                partial(self._ready, key=key, item=item, mine=mine, cached=cached)
            )
            if item.row_id not in waiting:
                raise _AnsweredElsewhere()
            if current is not None:
                if current is not cached:
                    if cached is not None and cached.conversation_id == current.conversation_id:
                        current.touched = cached.touched
                    self._cache[key] = current
                return current
            earlier = [i for i in waiting if i not in mine]
            if loop.time() >= deadline:
                raise _Earlier(earlier)
            self._cache.pop(key, None)  # the other process's turn changes the conversation
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)

    def _ready(
        self,
        conn: Connection,
        *,
        key: ConversationKey,
        item: _Pending,
        mine: set[int],
        cached: _Cached | None,
    ) -> tuple[list[int], _Cached | None]:
        """The chat's unanswered messages up to this one, and, when none of them is another
        process's, the conversation: ``cached`` while its version is current, else read again."""
        waiting = transcript.unanswered_up_to(
            conn, channel=key.channel, user_id=key.user_id, message_id=item.row_id
        )
        if item.row_id not in waiting or any(i not in mine for i in waiting):
            return waiting, None
        if (
            cached is not None
            and transcript.conversation_version(conn, cached.conversation_id) == cached.version
        ):
            return waiting, cached
        return waiting, self._read(conn, key=key)

    def _own_turn(self, conn: Connection, key: ConversationKey, conversation_id: int, item: _Pending) -> None:
        """First in the turn's transaction on a shared database: lock the conversation, then
        make sure the message is still unanswered and the first one waiting."""
        if not self.shared:
            return
        transcript.lock_conversation(conn, conversation_id)
        waiting = transcript.unanswered_up_to(
            conn, channel=key.channel, user_id=key.user_id, message_id=item.row_id
        )
        if item.row_id not in waiting:
            raise _AnsweredElsewhere()
        if len(waiting) > 1:  # one stored before it committed meanwhile: wait for it
            raise StaleConversation()

    async def _turn_once(self, key: ConversationKey, item: _Pending) -> None:
        conv = await self._wait_for_earlier(key, item) if self.shared else await self._load(key)
        inbound = item.inbound
        if conv.status == ConversationStatus.AGENT and conv.assigned_agent:
            await self._to_agent(key, conv, item)
            return
        state = conv.state
        fresh = state is None or state.status == "closed" or desk_flows.between(state)
        language: Language = (
            state.language if state is not None else _as_language(conv.language, self.default_language)
        )
        # An answer to the desk (a proposal, a survey) goes to its flow: bot/services/desk_flows.py
        button = desk_flows.is_button(inbound.payload)
        ask_desk = self.tickets is not None and (fresh or button)
        desk: desk_flows.DeskEntry | None = None

        def resolve(conn: Connection) -> tuple[Any, ConversationState]:
            nonlocal desk
            if ask_desk:
                desk = desk_flows.entry(
                    conn,
                    self.catalog,
                    customer_id=conv.customer_id,
                    inbound=inbound,
                    idle=fresh,
                    language=language,
                )
            if fresh:
                version, flow = self.catalog.live_on(conn, name=self.default_flow)
                return flow, engine.new_state(flow, version=version, language=language)
            assert state is not None
            return self.catalog.get_on(conn, name=state.flow, version=state.flow_version), state

        cached = None if ask_desk or state is None else self.catalog.cached(state.flow, state.flow_version)
        if cached is not None and state is not None:
            flow, current = cached, state
        else:
            flow, current = await self.db.run_core(resolve)
        profile = {"phone_on_file": conv.phone} if conv.phone else {}
        if current.profile != profile:
            current = current.evolve(profile=profile)
        now = self.clock()
        turn = await self._desk_turn(desk, current, now)

        nlu_result: NluResult | None = None
        nlu_text = engine.wants_nlu(flow, current, inbound, options=self.options) if turn is None else None
        if nlu_text and self.nlu is not None:
            nlu_result = await self.nlu.parse(nlu_text)
        unsure = _unsure(nlu_text, nlu_result, self.options.confidence_threshold)
        if turn is None:
            now = self.clock()
            turn = await self._steps.run(
                lambda: engine.step(flow, current, inbound, nlu_result, now, options=self.options),
            )
        try:
            saved = await self.db.run_core(lambda c: self._save(c, key, conv, item, turn, unsure))
        except Exception:
            if item.passive is not None:
                item.passive.release()  # rolled back: the claimed rows were never written
            raise
        conv.version = saved.version
        conv.state = turn.state
        conv.status = ConversationStatus.AGENT if turn.state.status == "agent" else ConversationStatus.BOT
        self.delivery.enqueue(saved.outbox)
        if self.tickets is not None:
            for work in saved.lifecycle:
                self.tickets.after_commit(work)
        handoff = next((e.reason for e in turn.effects if isinstance(e, RequestHandoff)), None)
        self._finish(
            item,
            TurnRecord(
                key=key,
                conversation_id=conv.conversation_id,
                inbound=inbound,
                replies=tuple(saved.replies),
                state=turn.state,
                handoff=handoff,
                tickets=tuple(saved.tickets),
            ),
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("turn %s step=%s text=%s", key.channel, turn.state.step, mask_phones(inbound.text[:80]))

    def _save(
        self,
        conn: Connection,
        key: ConversationKey,
        conv: _Cached,
        item: _Pending,
        turn: Turn,
        unsure: dict[str, Any] | None = None,
    ) -> _SaveResult:
        self._own_turn(conn, key, conv.conversation_id, item)
        now = self.clock()
        result = _SaveResult()
        state = turn.state
        language = state.language
        done = self.effects.apply(
            conn,
            effects=turn.effects,
            channel=key.channel,
            conversation_id=conv.conversation_id,
            customer_id=conv.customer_id,
            held_by_agent=conv.status == ConversationStatus.AGENT,
            language=language,
            now=now,
        )
        result.tickets, result.lifecycle = done.tickets, done.lifecycle
        if done.phone_on_file:
            conv.phone = done.phone_on_file
        values = done.values
        if state.status == "bot" and "status" not in values and conv.status == ConversationStatus.AGENT:
            values.update(RELEASED)
        flag = self.queue_rules.flag(item.inbound.text, turn, major=done.major)
        saved = transcript.save_state(
            conn,
            conversation_id=conv.conversation_id,
            expected_version=conv.version,
            values={
                "state": state.to_json(),
                "step": state.step,
                "slots": _json_safe(state.slots),
                "flow": state.flow,
                "flow_version": state.flow_version,
                "updated_at": now,
                **values,
            },
        )
        if not saved:
            raise StaleConversation()
        result.version = conv.version + 1
        if flag is not None:
            transcript.flag_for_agents(
                conn, conversation_id=conv.conversation_id, reason=flag[0], priority=flag[1], now=now
            )
        if conv.language != language:
            transcript.set_language(conn, customer_id=conv.customer_id, language=language)
            conv.language = language
        transcript.mark_processed(
            conn,
            message_id=item.row_id,
            conversation_id=None if item.conversation_id == conv.conversation_id else conv.conversation_id,
            now=now,
        )
        if unsure is not None:  # for the admins' NLU review
            transcript.add_nlu_sample(conn, sample=unsure, now=now)
        replies = done.replies(turn.replies)
        self._queue_replies(conn, key, conv, replies, done.placeholders, result, now)
        # Last, after every statement that may wait for a lock: what remains is the commit.
        passive = item.passive
        if (
            passive is not None
            and result.outbox
            and not any(o.message.attachments for o in result.outbox)
            and passive.claim([o.message for o in result.outbox])
        ):
            ids = [o.id for o in result.outbox]
            transcript.mark_passive(conn, ids=ids, answer_to=item.inbound.message_id, now=now)
            result.outbox = []  # answered in the callback's HTTP response, never by the outbox
        return result

    def _queue_replies(
        self,
        conn: Connection,
        key: ConversationKey,
        conv: _Cached,
        replies: list[Reply],
        placeholders: dict[str, str],
        result: _SaveResult,
        now: datetime,
        *,
        author: str = "bot",
    ) -> None:
        messages, outbox = queue_replies(
            conn,
            key=key,
            conversation_id=conv.conversation_id,
            customer_id=conv.customer_id,
            replies=replies,
            placeholders=placeholders,
            now=now,
            author=author,
        )
        result.replies.extend(messages)
        result.outbox.extend(outbox)

    async def _desk_turn(
        self, desk: desk_flows.DeskEntry | None, current: ConversationState, now: datetime
    ) -> Turn | None:
        """The desk flow's turn for an answer to the desk; None when there is no such flow or it
        let the message go (then the conversation's own flow answers it)."""
        if desk is None:
            return None
        turn = await self._steps.run(
            lambda: engine.step(desk.flow, desk.state, desk.inbound, None, now, options=self.options)
        )
        if desk_flows.passed(turn):
            return None
        return desk_flows.kept(turn, current) if desk.keeps_place else turn

    async def _to_agent(self, key: ConversationKey, conv: _Cached, item: _Pending) -> None:
        """An agent holds the conversation: store it as processed and let the console show it."""
        now = self.clock()

        def mark(session: Session) -> None:
            self._own_turn(session.connection(), key, conv.conversation_id, item)
            session.execute(
                update(Message)
                .where(col(Message.id) == item.row_id)
                .values(processed_at=now, conversation_id=conv.conversation_id)
            )
            session.execute(
                update(Conversation)
                .where(col(Conversation.id) == conv.conversation_id)
                .values(updated_at=now)
            )

        await self.db.run(mark)
        self._finish(
            item,
            TurnRecord(
                key=key,
                conversation_id=conv.conversation_id,
                inbound=item.inbound,
                replies=(),
                state=conv.state,
                to_agent=True,
            ),
        )

    async def send_as(
        self, key: ConversationKey, replies: list[Reply], *, author: str
    ) -> list[OutboundMessage]:
        """Queue messages written by someone other than the engine (an agent, a follow-up job)."""
        conv = await self._load(key)
        now = self.clock()
        result = _SaveResult()
        await self.db.run_core(
            lambda c: self._queue_replies(c, key, conv, replies, {}, result, now, author=author)
        )
        self.delivery.enqueue(result.outbox)
        return result.replies

    # ----------------------------------------------------------------- people taking over
    async def change_conversation(
        self, conversation_id: int, change: Callable[[Session, Conversation], T]
    ) -> T:
        """Change a conversation row for the console under the conversation's lock. The version
        is bumped, so a turn computed meanwhile in another process is recomputed."""
        key = await self._key_of(conversation_id)
        async with self._locked(key):

            def run(session: Session) -> T:
                conv = session.get(Conversation, conversation_id)
                assert conv is not None
                result = change(session, conv)
                conv.version += 1
                session.add(conv)
                return result

            try:
                return await self.db.run(run)
            finally:
                self._cache.pop(key, None)

    async def hand_back(
        self, conversation_id: int, *, point: HandBack, lead: list[Reply], author: str
    ) -> list[OutboundMessage]:
        """Give the conversation back to the bot: ``lead`` (the farewell) goes first, then the
        question the customer was at (``resume``), the greeting (``menu``), or nothing
        (``idle``: the next message starts afresh, e.g. after a survey went out)."""
        key = await self._key_of(conversation_id)
        async with self._locked(key):
            self._cache.pop(key, None)
            conv = await self._load(key)
            state = conv.state

            def resolve(conn: Connection) -> tuple[Any, ConversationState]:
                if state is not None:
                    return self.catalog.get_on(conn, name=state.flow, version=state.flow_version), state
                version, flow = self.catalog.live_on(conn, name=self.default_flow)
                return flow, engine.new_state(
                    flow, version=version, language=_as_language(conv.language, self.default_language)
                )

            flow, current = await self.db.run_core(resolve)
            now = self.clock()
            if point == "idle":
                turn = Turn(current.evolve(status="closed"), (), ())
            else:
                turn = engine.resume(flow, current, now, restart=point == "menu", options=self.options)
            result = _SaveResult()

            def save(conn: Connection) -> None:
                ok = transcript.save_state(
                    conn,
                    conversation_id=conv.conversation_id,
                    expected_version=conv.version,
                    values={
                        "state": turn.state.to_json(),
                        "step": turn.state.step,
                        "slots": _json_safe(turn.state.slots),
                        "flow": turn.state.flow,
                        "flow_version": turn.state.flow_version,
                        "updated_at": now,
                        **RELEASED,
                    },
                )
                if not ok:
                    raise StaleConversation()
                self._queue_replies(conn, key, conv, [*lead, *turn.replies], {}, result, now, author=author)

            try:
                await self.db.run_core(save)
            finally:
                self._cache.pop(key, None)
            self.delivery.enqueue(result.outbox)
            return result.replies

    async def _key_of(self, conversation_id: int) -> ConversationKey:
        def load(session: Session) -> ConversationKey:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise LookupError(f"no conversation {conversation_id}")
            return ConversationKey(conv.channel, conv.user_id)

        return await self.db.run(load)

    def _finish(self, item: _Pending, record: TurnRecord) -> None:
        """The message's outcome: kept for its ``handle()`` caller and told to the listeners."""
        item.record = record
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:
                log.exception("turn listener failed")


def _inbound_of(row: Message) -> InboundMessage:
    """A stored message as the turn takes it (recovery, or taken over from another process)."""
    return InboundMessage(
        key=ConversationKey(row.channel, row.user_id),
        text=row.text,
        message_id=row.channel_message_id or f"row-{row.id}",
        received_at=row.created_at,
        payload=row.payload,
        attachments=tuple(Attachment(**a) for a in row.attachments),
        kind=row.kind,
    )


def _reason(exc: Exception) -> str:
    """What the failed turn's row keeps: the kind of fault and its message, never the text."""
    message = str(exc)[:300]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _on_stored(passive: PassiveSlot, committed: asyncio.Future[None]) -> None:
    if not committed.cancelled() and committed.exception() is None:
        passive.stored.set()


def _unsure(text: str | None, result: NluResult | None, threshold: float) -> dict[str, Any] | None:
    """A sample for the NLU review when the NLU answered but was not sure enough."""
    if text is None or result is None:
        return None
    top = result.intent
    if top is not None and top.confidence >= threshold:
        return None
    return {
        "text": text[:2000],
        "predicted": top.name if top else None,
        "confidence": top.confidence if top else None,
        "source": "low_confidence",
        "classifier": result.classifier.value,  # Rasa's guess, or the built-in classifier's
    }


def _language_from_hint(hint: str | None, default: Language) -> Language:
    if hint:
        low = hint.lower()
        if low.startswith("zh"):
            return "zh"
        if low.startswith("en"):
            return "en"
    return default


def _as_language(value: str, default: Language) -> Language:
    return "en" if value == "en" else "zh" if value == "zh" else default


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL; everything else is stored exactly as received."""
    return text.replace("\x00", "\u2400")


def _json_safe(slots: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in slots.items() if isinstance(v, str | int | float | bool | list | dict) or v is None
    }
