"""The console's ticket list: every filter of the list page as SQL, sorted, with the customer's
name beside each ticket. The caller passes the rows through the access policy, then pages them,
which is why this returns up to ``limit`` rows instead of a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Exists, and_, case, exists, func, or_
from sqlmodel import Session, col, select

from storage.models import Customer, SavedFilter, Ticket, TicketDeadline

SORTS = ("attention", "created", "-created", "updated", "-updated", "number", "-number", "due")
"""``attention`` (unassigned open tickets first, then newest), a column (``-``: descending), or
``due`` (the nearest open clock first)."""


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """What the list asks for; ``None`` or empty: no filter on that."""

    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    severity: str | None = None
    department: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    channel: str | None = None
    category: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    deadline: str | None = None
    """``near``: an open clock past its 80 % warning; ``past``: an open clock past due."""
    text: str | None = None
    sort: str = "attention"


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _open_clock(now: datetime, *, due: bool) -> Exists:
    """An open clock of the ticket past its due time (``due``) or its 80 % warning."""
    passed = col(TicketDeadline.due_at) if due else col(TicketDeadline.warn_at)
    return exists().where(
        col(TicketDeadline.ticket_id) == col(Ticket.id),
        col(TicketDeadline.met_at).is_(None),
        passed <= now,
    )


def find_tickets(
    session: Session, query: TicketQuery, *, now: datetime, open_statuses: Sequence[str], limit: int
) -> Sequence[tuple[Ticket, str | None]]:
    """Tickets matching ``query`` with their customer's name, in the asked order. The text is
    found in the number, description, contact or customer name, and the phone's digits (staff
    see the phone masked, but type the digits they were told)."""
    stmt = select(Ticket, Customer.name).join(Customer, col(Customer.id) == col(Ticket.customer_id))
    if query.statuses:
        stmt = stmt.where(col(Ticket.status).in_(query.statuses))
    if query.kinds:
        stmt = stmt.where(col(Ticket.kind).in_(query.kinds))
    for column, value in (
        (Ticket.severity, query.severity),
        (Ticket.department, query.department),
        (Ticket.channel, query.channel),
        (Ticket.category, query.category),
    ):
        if value:
            stmt = stmt.where(col(column) == value)
    if query.unassigned:
        stmt = stmt.where(col(Ticket.assignee).is_(None))
    elif query.assignee:
        stmt = stmt.where(col(Ticket.assignee) == query.assignee)
    if query.created_from is not None:
        stmt = stmt.where(col(Ticket.created_at) >= query.created_from)
    if query.created_to is not None:
        stmt = stmt.where(col(Ticket.created_at) < query.created_to)
    if query.deadline == "past":
        stmt = stmt.where(_open_clock(now, due=True))
    elif query.deadline == "near":
        stmt = stmt.where(and_(_open_clock(now, due=False), ~_open_clock(now, due=True)))
    if query.deadline:
        stmt = stmt.where(col(Ticket.status).in_(open_statuses))
    text = (query.text or "").strip()
    if text:
        pattern = _like(text)
        conditions = [
            col(Ticket.number).ilike(pattern, escape="\\"),
            col(Ticket.description).ilike(pattern, escape="\\"),
            col(Ticket.contact_name).ilike(pattern, escape="\\"),
            col(Customer.name).ilike(pattern, escape="\\"),
        ]
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 3:
            conditions.append(col(Ticket.contact_phone).like(_like(digits), escape="\\"))
            conditions.append(col(Customer.phone).like(_like(digits), escape="\\"))
        stmt = stmt.where(or_(*conditions))
    stmt = stmt.order_by(*_order(query.sort, open_statuses))
    return [(ticket, name) for ticket, name in session.exec(stmt.limit(limit)).all()]


def _order(sort: str, open_statuses: Sequence[str]) -> list[Any]:
    if sort == "due":
        nearest = (
            select(func.min(TicketDeadline.due_at))
            .where(col(TicketDeadline.ticket_id) == col(Ticket.id), col(TicketDeadline.met_at).is_(None))
            .correlate(Ticket)
            .scalar_subquery()
        )
        return [nearest.is_(None), nearest, col(Ticket.id).desc()]
    column = {"created": Ticket.created_at, "updated": Ticket.updated_at, "number": Ticket.number}
    name = sort.removeprefix("-")
    if name in column:
        chosen = col(column[name])
        return [chosen.desc() if sort.startswith("-") else chosen, col(Ticket.id).desc()]
    waiting = case((and_(col(Ticket.assignee).is_(None), col(Ticket.status).in_(open_statuses)), 0), else_=1)
    return [waiting, col(Ticket.created_at).desc(), col(Ticket.id).desc()]


def nearest_clocks(session: Session, ticket_ids: Sequence[int]) -> dict[int, TicketDeadline]:
    """Each ticket's open clock due first (the list's countdown)."""
    if not ticket_ids:
        return {}
    rows = session.exec(
        select(TicketDeadline)
        .where(col(TicketDeadline.ticket_id).in_(list(ticket_ids)), col(TicketDeadline.met_at).is_(None))
        .order_by(col(TicketDeadline.due_at))
    ).all()
    out: dict[int, TicketDeadline] = {}
    for row in rows:
        out.setdefault(row.ticket_id, row)
    return out


def saved_filters(session: Session, *, username: str) -> Sequence[SavedFilter]:
    return session.exec(
        select(SavedFilter).where(SavedFilter.username == username).order_by(col(SavedFilter.name))
    ).all()


def save_filter(session: Session, *, username: str, name: str, query: str) -> SavedFilter:
    """Save ``query`` under ``name`` for this person; the same name again replaces it."""
    row = session.exec(
        select(SavedFilter).where(SavedFilter.username == username, SavedFilter.name == name)
    ).first()
    if row is None:
        row = SavedFilter(username=username, name=name)
    row.query = query
    session.add(row)
    session.flush()
    return row


def delete_filter(session: Session, *, username: str, filter_id: int) -> bool:
    row = session.get(SavedFilter, filter_id)
    if row is None or row.username != username:
        return False
    session.delete(row)
    return True
