"""Tickets, their numbers and their audit trail, and the rows a ticket's lifecycle only ever
inserts (SLA clocks, follow-ups, staff alerts): those go straight to the session's connection,
as a new ticket writes a dozen of them and ORM objects cost more than the inserts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.models import FollowUp, StaffAlert, Ticket, TicketDeadline, TicketEvent, TicketSequence
from storage.sql import insert_ignoring_conflicts
from storage.types import utcnow

_EVENTS = TicketEvent.__table__  # type: ignore[attr-defined]
_SEQUENCES = TicketSequence.__table__  # type: ignore[attr-defined]
_DEADLINES = TicketDeadline.__table__  # type: ignore[attr-defined]
_FOLLOW_UPS = FollowUp.__table__  # type: ignore[attr-defined]
_ALERTS = StaffAlert.__table__  # type: ignore[attr-defined]


def next_number(session: Session, *, local_day: date) -> str:
    """Allocate YYMMDD + a 4-digit daily sequence inside the caller's transaction.

    The counter row is locked by the UPDATE until commit, so concurrent creators queue behind it
    and a rollback returns the number: numbers are unique and gapless on SQLite and PostgreSQL.
    """
    day = local_day.strftime("%y%m%d")
    conn = session.connection()
    conn.execute(insert_ignoring_conflicts(conn, _SEQUENCES), {"day": day, "last": 0})
    last = conn.execute(
        update(_SEQUENCES)
        .where(_SEQUENCES.c.day == day)
        .values(last=_SEQUENCES.c.last + 1)
        .returning(_SEQUENCES.c.last)
    ).scalar_one()
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
    session.connection().execute(
        insert(_EVENTS),
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


def add_deadlines(
    session: Session,
    *,
    ticket_id: int,
    started_at: datetime,
    deadlines: Sequence[tuple[str, datetime, datetime]],
) -> None:
    """A new ticket's SLA clocks (name, due, warn at), in one statement: nothing is there to
    look up or replace yet."""
    if not deadlines:
        return
    session.connection().execute(
        insert(_DEADLINES),
        [
            {
                "ticket_id": ticket_id,
                "name": name,
                "started_at": started_at,
                "due_at": due,
                "warn_at": warn_at,
                "met_at": None,
                "warned_at": None,
                "breached_at": None,
            }
            for name, due, warn_at in deadlines
        ],
    )


def add_follow_ups(
    session: Session, *, ticket_id: int, rows: Sequence[tuple[str, datetime, dict[str, Any]]], now: datetime
) -> None:
    """Pending follow-ups (kind, due, data) for the scheduler, in one statement."""
    if not rows:
        return
    session.connection().execute(
        insert(_FOLLOW_UPS),
        [
            {
                "ticket_id": ticket_id,
                "kind": kind,
                "due_at": due,
                "data": data,
                "status": "pending",
                "scheduled": False,
                "created_at": now,
                "fired_at": None,
                "outcome": None,
            }
            for kind, due, data in rows
        ],
    )


def add_alert(
    session: Session, *, username: str, ticket_id: int | None, kind: str, text: str, now: datetime
) -> None:
    """An unread alert in a staff member's console."""
    session.connection().execute(
        insert(_ALERTS),
        {
            "username": username,
            "ticket_id": ticket_id,
            "kind": kind,
            "text": text,
            "created_at": now,
            "read_at": None,
        },
    )


def count_other_customers(
    session: Session,
    *,
    target: str,
    category: str,
    kind: str,
    since: datetime,
    not_status: str,
    not_customer: int,
    not_channel: str,
    enough: int,
) -> int:
    """How many other customers have a ticket of ``kind`` on this category and target since
    ``since`` (not in ``not_status``, not from ``not_channel``), counted only up to ``enough``:
    the repeat rule needs to know whether its threshold is reached, not the total, and a count
    of every match grew with the table (780 us at 1 200 tickets on one target, bench/RESULTS.md).
    Served by ``ix_tickets_repeat``."""
    others = (
        sa_select(col(Ticket.customer_id))
        .distinct()
        .where(
            col(Ticket.target) == target,
            col(Ticket.category) == category,
            col(Ticket.kind) == kind,
            col(Ticket.created_at) >= since,
            col(Ticket.status) != not_status,
            col(Ticket.customer_id) != not_customer,
            col(Ticket.channel) != not_channel,
        )
        .limit(enough)
        .subquery()
    )
    return int(session.connection().execute(sa_select(func.count()).select_from(others)).scalar_one())


def open_load(session: Session, *, statuses: Collection[str]) -> dict[str, int]:
    """Tickets in ``statuses`` per assignee, read from ``ix_tickets_open_load`` alone (what the
    session flushed so far counts)."""
    rows = session.connection().execute(
        sa_select(col(Ticket.assignee), func.count())
        .where(col(Ticket.status).in_(sorted(statuses)), col(Ticket.assignee).is_not(None))
        .group_by(col(Ticket.assignee))
    )
    return {str(name): int(count) for name, count in rows}


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


def awaiting_answer(conn: Connection, *, customer_id: int) -> tuple[int, str] | None:
    """(id, what it waits for) of the customer's ticket most recently left waiting for their
    answer (``solution`` or ``survey``), if any."""
    row = conn.execute(
        sa_select(col(Ticket.id), col(Ticket.awaiting))
        .where(col(Ticket.customer_id) == customer_id, col(Ticket.awaiting).is_not(None))
        .order_by(col(Ticket.updated_at).desc(), col(Ticket.id).desc())
        .limit(1)
    ).first()
    return None if row is None or row[0] is None or row[1] is None else (int(row[0]), str(row[1]))


def customer_of(conn: Connection, *, ticket_id: int) -> int | None:
    """The customer a ticket belongs to (None when there is no such ticket)."""
    found = conn.execute(sa_select(col(Ticket.customer_id)).where(col(Ticket.id) == ticket_id)).scalar()
    return None if found is None else int(found)
