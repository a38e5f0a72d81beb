"""Tickets, their numbers and their audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from storage.models import Ticket, TicketEvent, TicketSequence
from storage.prepared import Prepared, insert_ignoring_conflicts
from storage.types import utcnow

_EVENT_INSERT = Prepared(insert(TicketEvent.__table__))  # type: ignore[attr-defined]
_SEQUENCES = TicketSequence.__table__  # type: ignore[attr-defined]
_SEQUENCE_START = insert_ignoring_conflicts(_SEQUENCES)
_SEQUENCE_NEXT = Prepared(
    update(_SEQUENCES)
    .where(_SEQUENCES.c.day == bindparam("k_day"))
    .values(last=_SEQUENCES.c.last + bindparam("k_step"))
    .returning(_SEQUENCES.c.last)
)


def next_number(session: Session, *, local_day: date) -> str:
    """Allocate YYMMDD + a 4-digit daily sequence inside the caller's transaction.

    The counter row is locked by the UPDATE until commit, so concurrent creators queue behind it
    and a rollback returns the number: numbers are unique and gapless on SQLite and PostgreSQL.
    """
    day = local_day.strftime("%y%m%d")
    conn = session.connection()
    _SEQUENCE_START[conn.dialect.name].execute(conn, {"day": day, "last": 0})
    [last] = _SEQUENCE_NEXT.execute(conn, {"k_day": day, "k_step": 1}).fetchone()
    return f"{day}{int(last):04d}"


def add_event(
    session: Session,
    *,
    ticket_id: int,
    actor: str,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append to the audit trail, written at once on the session's connection: events are never
    changed, so building an ORM object for each (a new ticket writes several) was pure cost."""
    _EVENT_INSERT.execute(
        session.connection(),
        {
            "ticket_id": ticket_id,
            "at": at or utcnow(),
            "actor": actor,
            "action": action,
            "before": before or {},
            "after": after or {},
            "note": note,
        },
    )


def by_number(session: Session, *, number: str) -> Ticket | None:
    return session.exec(select(Ticket).where(Ticket.number == number)).first()


def for_customer(session: Session, *, customer_id: int, limit: int = 5) -> Sequence[Ticket]:
    return session.exec(
        select(Ticket)
        .where(Ticket.customer_id == customer_id)
        .order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
        .limit(limit)
    ).all()


def listing(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> Sequence[Ticket]:
    query = select(Ticket).order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    if status:
        query = query.where(Ticket.status == status)
    if kind:
        query = query.where(Ticket.kind == kind)
    return session.exec(query.limit(limit)).all()


def events(session: Session, *, ticket_id: int) -> Sequence[TicketEvent]:
    return session.exec(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(col(TicketEvent.id))
    ).all()
