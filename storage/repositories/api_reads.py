"""The REST API's reads: tickets and conversations a batch at a time by falling id (a cursor
page is "ids below this one"), a transcript after a message id, a customer's tickets. The
caller filters each batch through the access policy, which is why these return rows, not pages."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_
from sqlmodel import Session, col, select

from storage.models import Conversation, Message, Ticket, TicketDeadline


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def tickets_before(
    session: Session,
    *,
    before: int | None,
    limit: int,
    status: str | None = None,
    department: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    kind: str | None = None,
    text: str | None = None,
) -> Sequence[Ticket]:
    """Up to ``limit`` tickets with an id below ``before``, newest first, matching every filter
    given; ``text`` is found in the number, description, category, target or contact name."""
    query = select(Ticket).order_by(col(Ticket.id).desc())
    if before is not None:
        query = query.where(col(Ticket.id) < before)
    for column, value in (
        (Ticket.status, status),
        (Ticket.department, department),
        (Ticket.severity, severity),
        (Ticket.assignee, assignee),
        (Ticket.kind, kind),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    if text:
        pattern = _like(text)
        query = query.where(
            or_(
                col(Ticket.number).ilike(pattern, escape="\\"),
                col(Ticket.description).ilike(pattern, escape="\\"),
                col(Ticket.category).ilike(pattern, escape="\\"),
                col(Ticket.target).ilike(pattern, escape="\\"),
                col(Ticket.contact_name).ilike(pattern, escape="\\"),
            )
        )
    return session.exec(query.limit(limit)).all()


def deadlines(session: Session, *, ticket_id: int) -> Sequence[TicketDeadline]:
    return session.exec(
        select(TicketDeadline)
        .where(TicketDeadline.ticket_id == ticket_id)
        .order_by(col(TicketDeadline.due_at))
    ).all()


def conversations_before(
    session: Session, *, before: int | None, limit: int, status: str | None = None, waiting: bool = False
) -> Sequence[Conversation]:
    query = select(Conversation).order_by(col(Conversation.id).desc())
    if before is not None:
        query = query.where(col(Conversation.id) < before)
    if status is not None:
        query = query.where(col(Conversation.status) == status)
    if waiting:
        query = query.where(col(Conversation.waiting_since).is_not(None))
    return session.exec(query.limit(limit)).all()


def messages_after(session: Session, *, conversation_id: int, after: int, limit: int) -> Sequence[Message]:
    return session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, col(Message.id) > after)
        .order_by(col(Message.id))
        .limit(limit)
    ).all()


def customer_links(session: Session, *, customer_id: int) -> tuple[list[str], list[int]]:
    """The customer's ticket numbers (newest first) and conversation ids."""
    numbers = session.exec(
        select(Ticket.number).where(Ticket.customer_id == customer_id).order_by(col(Ticket.id).desc())
    ).all()
    conversations = session.exec(
        select(Conversation.id).where(Conversation.customer_id == customer_id).order_by(col(Conversation.id))
    ).all()
    return list(numbers), [c for c in conversations if c is not None]
