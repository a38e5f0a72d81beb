"""Shared send quotas: one row per quota, read under its row lock and written in the same
transaction, so processes spending from one quota at once take turns (PostgreSQL's
``SELECT ... FOR UPDATE``; SQLite's single writer does the same)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from storage.models import Customer, Message, SendQuota

ACTIONS_READ = 50
"""The newest inbound rows read when counting a customer's actions: enough to find their newest
message and their newest event."""


def locked(session: Session, name: str) -> SendQuota:
    """The quota's row (an empty one the first time), locked until the transaction ends."""
    insert_fn = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert_fn(SendQuota).values(name=name, remaining=0, until=None, seen=0).on_conflict_do_nothing()
    )
    mine = select(SendQuota).where(col(SendQuota.name) == name).with_for_update()
    row: SendQuota = session.execute(mine).scalar_one()
    return row


def save(session: Session, row: SendQuota, *, remaining: int, until: datetime | None, seen: int) -> None:
    row.remaining, row.until, row.seen = remaining, until, seen
    session.add(row)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a customer sent: its row id, when it arrived, and the platform's id for it."""

    id: int
    at: datetime
    channel_message_id: str | None


def inbound_after(session: Session, *, channel: str, user_id: str, after: int) -> list[Inbound]:
    """The customer's newest inbound rows with an id above ``after`` (at most ``ACTIONS_READ``)."""
    rows = session.execute(
        select(col(Message.id), col(Message.created_at), col(Message.channel_message_id))
        .join(Customer, col(Customer.id) == col(Message.customer_id))
        .where(
            col(Customer.channel) == channel,
            col(Customer.external_id) == user_id,
            col(Message.direction) == "in",
            col(Message.id) > after,
        )
        .order_by(col(Message.id).desc())
        .limit(ACTIONS_READ)
    ).all()
    return [Inbound(id=int(r[0]), at=r[1], channel_message_id=r[2]) for r in rows]
