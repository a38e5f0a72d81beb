"""Webhook endpoints, the delivery queue (which is also the log) and the feed's cursors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from storage.models import Conversation, TicketEvent, WebhookCursor, WebhookDelivery, WebhookEndpoint
from storage.sql import insert_ignoring_conflicts

_DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]


def add_endpoint(
    session: Session, *, url: str, events: list[str], secret: str, now: datetime
) -> WebhookEndpoint:
    row = WebhookEndpoint(url=url, events=events, secret=secret, created_at=now)
    session.add(row)
    session.flush()
    return row


def endpoints(session: Session, *, active_only: bool = False) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(col(WebhookEndpoint.id))
    if active_only:
        query = query.where(col(WebhookEndpoint.active).is_(True))
    return session.exec(query).all()


def any_active(session: Session) -> bool:
    """Whether any endpoint wants events: without one the feed has nothing to do."""
    return (
        session.exec(select(WebhookEndpoint.id).where(col(WebhookEndpoint.active).is_(True)).limit(1)).first()
        is not None
    )


def remove_endpoint(session: Session, *, endpoint_id: int) -> bool:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        return False
    for delivery in session.exec(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)):
        session.delete(delivery)
    session.flush()
    session.delete(row)
    return True


def disable(session: Session, *, endpoint_id: int, reason: str, now: datetime) -> None:
    """Turn an endpoint off for ``reason``; what it had pending is cancelled."""
    session.execute(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id)
        .values(active=False, disabled_reason=reason[:200], disabled_at=now)
    )
    session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.endpoint_id) == endpoint_id, col(WebhookDelivery.status) == "pending")
        .values(status="cancelled")
    )


def enable(session: Session, *, endpoint_id: int) -> None:
    session.execute(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id)
        .values(active=True, disabled_reason=None, disabled_at=None)
    )


def cursor(session: Session, name: str, *, start: int) -> int:
    """The cursor's position, created at ``start`` the first time it is read."""
    row = session.get(WebhookCursor, name)
    if row is None:
        row = WebhookCursor(name=name, position=start)
        session.add(row)
        session.flush()
    return row.position


def move_cursor(session: Session, name: str, position: int) -> None:
    session.execute(update(WebhookCursor).where(col(WebhookCursor.name) == name).values(position=position))


def last_event_id(session: Session) -> int:
    return int(session.exec(select(func.max(TicketEvent.id))).one() or 0)


def events_after(session: Session, *, after: int, limit: int) -> Sequence[TicketEvent]:
    return session.exec(
        select(TicketEvent).where(col(TicketEvent.id) > after).order_by(col(TicketEvent.id)).limit(limit)
    ).all()


def handoffs_since(session: Session, *, since: datetime, limit: int) -> Sequence[Conversation]:
    return session.exec(
        select(Conversation)
        .where(col(Conversation.waiting_since) >= since)
        .order_by(col(Conversation.waiting_since))
        .limit(limit)
    ).all()


def queue(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert deliveries; one already queued for the same endpoint and event is left alone."""
    if rows:
        conn = session.connection()
        conn.execute(insert_ignoring_conflicts(conn, _DELIVERIES), rows)


def pending(session: Session, *, limit: int) -> Sequence[WebhookDelivery]:
    return session.exec(
        select(WebhookDelivery)
        .where(col(WebhookDelivery.status) == "pending")
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
    ).all()


def log(session: Session, *, endpoint_id: int, limit: int = 50, offset: int = 0) -> Sequence[WebhookDelivery]:
    """An endpoint's deliveries, newest first."""
    return session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(col(WebhookDelivery.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()


def log_size(session: Session, *, endpoint_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
        ).one()
    )


def send_again(session: Session, *, delivery_id: int, now: datetime) -> bool:
    """Queue a logged delivery once more (the same body and event id)."""
    result = session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id) == delivery_id)
        .values(status="pending", next_attempt_at=now, created_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def prune(session: Session, *, before: datetime) -> int:
    """Delete finished deliveries created before ``before``."""
    result = session.execute(
        delete(WebhookDelivery).where(
            col(WebhookDelivery.status) != "pending", col(WebhookDelivery.created_at) < before
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
