"""Outbound webhooks: ticket and conversation events, signed, to the endpoints admins register.

The events come from what the desk already writes in its own transactions: the ticket audit
trail (created, status, assigned, SLA warning and breach, severity raised, survey) and the
conversations' ``waiting_since`` (a handoff). A feed reads them after a cursor and queues one
``webhook_deliveries`` row per subscribed endpoint, so nothing is lost when a process stops and
every retry sends the same body and event id. The sender posts the oldest pending row of each
ticket or conversation first (in order per ticket), retries with backoff for 24 hours, and
turns an endpoint off when it answers 410. One process at a time runs it (the ``webhooks`` lease).

Signature: ``X-Tousu-Signature: sha256=<hex>``, the HMAC-SHA256 with the endpoint's secret of
``X-Tousu-Timestamp`` + "." + the body, so a receiver can refuse replays outside a window."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from sqlmodel import Session

from storage.db import Database
from storage.models import Conversation, Ticket, TicketEvent, WebhookDelivery, WebhookEndpoint
from storage.repositories import leases
from storage.repositories import webhooks as repo

log = logging.getLogger(__name__)

EVENTS = (
    "ticket.created",
    "ticket.status_changed",
    "ticket.assigned",
    "ticket.deadline_warning",
    "ticket.breached",
    "ticket.major",
    "conversation.handoff",
    "survey.answered",
)
AUDIT_EVENTS = {
    "created": "ticket.created",
    "status": "ticket.status_changed",
    "assigned": "ticket.assigned",
    "sla_warning": "ticket.deadline_warning",
    "sla_breached": "ticket.breached",
    "severity_raised": "ticket.major",
    "survey": "survey.answered",
}
RETRY_FOR = timedelta(hours=24)
HANDOFF_OVERLAP = timedelta(minutes=5)
"""Handoffs are re-read this far back: one committed late is still found (queueing is idempotent)."""
GAP_WAIT_S = 10.0
"""A hole in the audit trail's ids may be a transaction still committing: wait this long before
reading past it (a rolled-back one leaves the hole for good)."""
LEASE = "webhooks"
PRUNE_EVERY = 1000
KEEP_LOG = timedelta(days=30)
"""Finished deliveries (delivered, failed, cancelled) stay in the log this long."""


class Refused(StrEnum):
    """Why an endpoint was refused (the console says it in its reader's words)."""

    BAD_URL = "bad_url"
    UNKNOWN_EVENTS = "unknown_events"


class WebhookError(ValueError):
    """A refused endpoint, with a message fit to print and its reason."""

    def __init__(self, message: str, reason: Refused) -> None:
        super().__init__(message)
        self.reason = reason


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up after ``RETRY_FOR`` of tries."""
    CANCELLED = "cancelled"
    """Not sent: its endpoint went off."""


class Disabled(StrEnum):
    """Why an endpoint is off (``disabled_reason``)."""

    GONE = "gone"
    """The receiver answered 410 Gone."""


class Answer(StrEnum):
    """What a delivery's last try got, as a person reads it."""

    NOT_TRIED = "not_tried"
    OK = "ok"
    GONE = "gone"
    REFUSED = "refused"
    """4xx other than 410: the receiver refused the request."""
    RECEIVER_ERROR = "receiver_error"
    """5xx: the receiver failed."""
    UNEXPECTED = "unexpected"
    """1xx/3xx: not a success, not an error (a redirect is not followed)."""
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    NETWORK = "network"


def answer(status: int | None, error: str | None) -> Answer:
    """The kind of the last answer a delivery got (``last_status``, ``last_error`` as ``_post``
    writes them: the HTTP status, or the transport error's class name first)."""
    if status is not None:
        if 200 <= status < 300:
            return Answer.OK
        if status == 410:
            return Answer.GONE
        if 400 <= status < 500:
            return Answer.REFUSED
        return Answer.RECEIVER_ERROR if status >= 500 else Answer.UNEXPECTED
    if not error:
        return Answer.NOT_TRIED
    kind = error.split(":", 1)[0]
    if kind.endswith("Timeout"):
        return Answer.TIMEOUT
    return Answer.UNREACHABLE if kind == "ConnectError" else Answer.NETWORK


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... at most an hour between tries."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def add_endpoint(session: Session, *, url: str, events: Sequence[str], now: datetime) -> WebhookEndpoint:
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        raise WebhookError(
            "the URL must start with http:// or https:// (at most 500 characters)", Refused.BAD_URL
        )
    wanted = list(EVENTS) if list(events) in (["all"], []) else list(dict.fromkeys(events))
    unknown = sorted(set(wanted) - set(EVENTS))
    if unknown:
        raise WebhookError(
            f"unknown events {', '.join(unknown)} (known: {', '.join(EVENTS)}, or all)",
            Refused.UNKNOWN_EVENTS,
        )
    _from_now_if_idle(session, now)
    secret = "whsec_" + secrets.token_hex(24)
    return repo.add_endpoint(session, url=url, events=wanted, secret=secret, now=now)


def enable_endpoint(session: Session, *, endpoint_id: int, now: datetime) -> bool:
    """Turn an endpoint that went off on again; it gets the events from now on (what happened
    while it was off is not sent). False when there is no such endpoint."""
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        return False
    if not row.active:
        _from_now_if_idle(session, now)
        repo.enable(session, endpoint_id=endpoint_id)
    return True


def _from_now_if_idle(session: Session, now: datetime) -> None:
    """With no endpoint on, the feed idled: start its cursors at now, so an endpoint turned on
    gets the events from now on, not everything since the feed stopped."""
    if repo.any_active(session):
        return
    latest = repo.last_event_id(session)
    repo.cursor(session, "audit", start=latest)
    repo.move_cursor(session, "audit", latest)
    stamp = int(now.timestamp() * 1_000_000)
    repo.cursor(session, "handoff", start=stamp)
    repo.move_cursor(session, "handoff", stamp)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _ticket(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "kind": ticket.kind,
        "status": ticket.status,
        "severity": ticket.severity,
        "category": ticket.category,
        "department": ticket.department,
        "assignee": ticket.assignee,
        "channel": ticket.channel,
        "customer_id": ticket.customer_id,
        "conversation_id": ticket.conversation_id,
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
    }


def _body(event_id: str, kind: str, at: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {"id": event_id, "type": kind, "created_at": _iso(at), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )


def audit_events(event: TicketEvent) -> list[tuple[str, str]]:
    """The webhook events an audit row is, with their ids: a complaint filed as major is both
    ``ticket.created`` and ``ticket.major``, a reclassification to major is ``ticket.major``."""
    out: list[tuple[str, str]] = []
    kind = AUDIT_EVENTS.get(event.action)
    if kind is not None:
        out.append((kind, f"evt_{event.id}"))
    major = (event.after or {}).get("severity") == "major"
    if major and event.action in ("created", "reclassified"):
        out.append(("ticket.major", f"evt_{event.id}_major"))
    return out


@dataclass(frozen=True, slots=True)
class _Send:
    """A delivery to post, read out of its transaction."""

    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    event: str
    event_id: str
    body: str


@dataclass
class _Gap:
    after: int
    seen_at: float


class WebhookDispatcher:
    def __init__(
        self,
        *,
        db: Database,
        clock: Callable[[], datetime],
        every: float = 2.0,
        timeout: float = 10.0,
        batch: int = 200,
    ) -> None:
        self.db = db
        self.clock = clock
        self.every = every
        self.timeout = timeout
        self.batch = batch
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._gap: _Gap | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    # -- the feed ----------------------------------------------------------------------------------
    def feed(self, session: Session) -> int:
        """Queue deliveries for the events after the cursors; how many were queued."""
        now = self.clock()
        endpoints = list(repo.endpoints(session, active_only=True))
        after = repo.cursor(session, "audit", start=repo.last_event_id(session))
        rows: list[dict[str, Any]] = []
        position = after
        for event in repo.events_after(session, after=after, limit=self.batch):
            assert event.id is not None
            if event.id != position + 1 and not self._gap_passed(position):
                break
            position = event.id
            found = [
                (kind, event_id)
                for kind, event_id in audit_events(event)
                if any(kind in e.events for e in endpoints)
            ]
            ticket = session.get(Ticket, event.ticket_id) if found else None
            if ticket is None:
                continue
            data = {
                "ticket": _ticket(ticket),
                "actor": event.actor,
                "before": event.before,
                "after": event.after,
                "note": event.note,
            }
            for kind, event_id in found:
                body = _body(event_id, kind, event.at, data)
                wanted = [e for e in endpoints if kind in e.events]
                rows += [self._row(e, event_id, kind, f"ticket:{ticket.id}", body, now) for e in wanted]
        if position != after:
            repo.move_cursor(session, "audit", position)
            self._gap = None
        rows += self._handoffs(session, endpoints, now)
        repo.queue(session, rows)
        return len(rows)

    def _gap_passed(self, position: int) -> bool:
        wall = time.monotonic()
        if self._gap is None or self._gap.after != position:
            self._gap = _Gap(position, wall)
        return wall - self._gap.seen_at >= GAP_WAIT_S

    def _handoffs(
        self, session: Session, endpoints: list[WebhookEndpoint], now: datetime
    ) -> list[dict[str, Any]]:
        start = int(now.timestamp() * 1_000_000)
        mark = repo.cursor(session, "handoff", start=start)
        since = datetime.fromtimestamp(mark / 1_000_000, now.tzinfo) - HANDOFF_OVERLAP
        wanted = [e for e in endpoints if "conversation.handoff" in e.events]
        rows: list[dict[str, Any]] = []
        latest = mark
        for conv in repo.handoffs_since(session, since=since, limit=self.batch):
            assert conv.waiting_since is not None and conv.id is not None
            stamp = int(conv.waiting_since.timestamp() * 1_000_000)
            latest = max(latest, stamp)
            if not wanted:
                continue
            event_id = f"hof_{conv.id}_{stamp}"
            body = _body(
                event_id, "conversation.handoff", conv.waiting_since, {"conversation": _conversation(conv)}
            )
            rows += [
                self._row(e, event_id, "conversation.handoff", f"conversation:{conv.id}", body, now)
                for e in wanted
            ]
        if latest != mark:
            repo.move_cursor(session, "handoff", latest)
        return rows

    @staticmethod
    def _row(
        endpoint: WebhookEndpoint, event_id: str, kind: str, order_key: str, body: str, now: datetime
    ) -> dict[str, Any]:
        return {
            "endpoint_id": endpoint.id,
            "event_id": event_id,
            "event": kind,
            "order_key": order_key,
            "body": body,
            "status": DeliveryState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    # -- sending -----------------------------------------------------------------------------------
    def _due(self, session: Session) -> list[_Send]:
        """The oldest pending delivery of each ticket or conversation per endpoint, when due."""
        now = self.clock()
        first: dict[tuple[int, str], WebhookDelivery] = {}
        for row in repo.pending(session, limit=self.batch * 5):
            first.setdefault((row.endpoint_id, row.order_key), row)
        endpoints = {e.id: e for e in repo.endpoints(session, active_only=True)}
        due: list[_Send] = []
        for row in first.values():
            endpoint = endpoints.get(row.endpoint_id)
            if endpoint is not None and row.next_attempt_at <= now:
                assert row.id is not None
                due.append(
                    _Send(
                        row.id,
                        row.endpoint_id,
                        endpoint.url,
                        endpoint.secret,
                        row.event,
                        row.event_id,
                        row.body,
                    )
                )
        return due

    async def send_due(self) -> int:
        """Post what is due; how many were delivered."""
        due = await self.db.run(self._due)
        if not due:
            return 0
        client = self._client or httpx.AsyncClient(timeout=self.timeout)
        try:
            results = await asyncio.gather(*(self._post(client, item) for item in due))
        finally:
            if client is not self._client:
                await client.aclose()
        outcomes = [(item, status, error) for item, (status, error) in zip(due, results, strict=True)]
        await self.db.run(lambda s: self._record(s, outcomes))
        return sum(1 for status, _ in results if status is not None and 200 <= status < 300)

    async def _post(self, client: httpx.AsyncClient, item: _Send) -> tuple[int | None, str | None]:
        body = item.body.encode()
        timestamp = str(int(self.clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Tousu-Webhooks/1",
            "X-Tousu-Event": item.event,
            "X-Tousu-Event-Id": item.event_id,
            "X-Tousu-Timestamp": timestamp,
            "X-Tousu-Signature": sign(item.secret, timestamp, body),
        }
        try:
            response = await client.post(item.url, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            return None, f"{exc.__class__.__name__}: {exc}"[:500]
        return response.status_code, None if response.is_success else response.text[:500]

    def _record(self, session: Session, outcomes: list[tuple[_Send, int | None, str | None]]) -> None:
        now = self.clock()
        for item, status, error in outcomes:
            live = session.get(WebhookDelivery, item.delivery_id)
            if live is None or live.status != DeliveryState.PENDING:
                continue
            live.attempts += 1
            live.last_status = status
            live.last_error = error
            if status is not None and 200 <= status < 300:
                live.status = DeliveryState.DELIVERED
                live.delivered_at = now
            elif status == 410:
                live.status = DeliveryState.CANCELLED
                session.add(live)
                session.flush()
                repo.disable(session, endpoint_id=item.endpoint_id, reason=Disabled.GONE, now=now)
                log.warning("webhook endpoint %s answered 410: disabled", item.url)
                continue
            elif now - live.created_at >= RETRY_FOR:
                live.status = DeliveryState.FAILED
            else:
                live.next_attempt_at = now + backoff(live.attempts)
            session.add(live)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Feed, then send (tests call this with their own clock)."""
        await self.db.run(self.feed)
        return await self.send_due()

    def prune(self, session: Session) -> int:
        """Drop finished deliveries older than ``KEEP_LOG``; how many."""
        return repo.prune(session, before=self.clock() - KEEP_LOG)

    def _lease(self, session: Session) -> bool:
        return leases.acquire(
            session, LEASE, holder=self.holder, now=self.clock(), seconds=max(30, 5 * self.every)
        )

    async def _loop(self) -> None:
        rounds = 0
        while True:
            try:
                if await self.db.check(repo.any_active) and await self.db.run(self._lease):
                    await self.run_once()
                    rounds += 1
                    if rounds % PRUNE_EVERY == 1:
                        await self.db.run(self.prune)
            except Exception:  # a database or receiver hiccup: the next round tries again
                log.exception("webhook round failed")
            await asyncio.sleep(self.every)

    async def start(self) -> None:
        if self._task is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            holder = self.holder
            with contextlib.suppress(Exception):
                await self.db.run(lambda s: leases.release(s, LEASE, holder=holder))
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _conversation(conv: Conversation) -> dict[str, Any]:
    return {
        "id": conv.id,
        "channel": conv.channel,
        "customer_id": conv.customer_id,
        "handoff_reason": conv.handoff_reason,
        "queue_department": conv.queue_department,
        "waiting_since": _iso(conv.waiting_since),
    }
