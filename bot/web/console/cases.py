"""The facts the access policy (``bot.domain.access``) decides on, read from the database: the
staff account with every identity it goes by, and the case a conversation, ticket or customer
makes. The routes and views ask the policy with these; none decides access by itself."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from bot.domain.access import Case, Viewer
from bot.domain.routing import StaffMember, named_staff
from bot.domain.states import OPEN
from bot.services.people import customer_recused, viewer_for, viewer_of
from storage.models import Conversation, Ticket

__all__ = ["customer_recused", "viewer_for", "viewer_of"]


def as_members(viewer: Viewer) -> list[StaffMember]:
    """The viewer's names as staff-directory entries, to scan a text for them (NLU samples)."""
    return [StaffMember(username=viewer.username, name=name, departments=()) for name in sorted(viewer.names)]


def names_in(text: str, viewer: Viewer) -> bool:
    """Does this text (raw customer words) name the viewer by any of their identities?"""
    return bool(named_staff([text], as_members(viewer)))


def _holders(session: Session, customer_ids: Iterable[int]) -> dict[int, set[str]]:
    rows = session.exec(
        select(Conversation.customer_id, Conversation.assigned_agent).where(
            col(Conversation.customer_id).in_(list(set(customer_ids))),
            col(Conversation.assigned_agent).is_not(None),
        )
    ).all()
    out: dict[int, set[str]] = {}
    for customer_id, agent in rows:
        if agent:
            out.setdefault(customer_id, set()).add(agent)
    return out


def conversation_case(
    conv: Conversation, tickets: Iterable[tuple[frozenset[str], str | None, str]] = ()
) -> Case:
    """``tickets``: (recused, department, status) of the customer's tickets. The conversation
    belongs to the department it was transferred to, else to those of the open tickets."""
    rows = list(tickets)
    if conv.queue_department:
        departments = frozenset({conv.queue_department})
    else:
        departments = frozenset(d for _, d, status in rows if d and status in OPEN)
    return Case(
        departments=departments,
        holders=frozenset({conv.assigned_agent}) if conv.assigned_agent else frozenset(),
        waiting=conv.waiting_since is not None and conv.assigned_agent is None,
        recused=frozenset(n for names, _, _ in rows for n in names),
    )


def ticket_rows(
    session: Session, customer_ids: Iterable[int]
) -> dict[int, list[tuple[frozenset[str], str | None, str]]]:
    rows = session.exec(
        select(Ticket.customer_id, Ticket.recused, Ticket.department, Ticket.status).where(
            col(Ticket.customer_id).in_(list(set(customer_ids)))
        )
    ).all()
    out: dict[int, list[tuple[frozenset[str], str | None, str]]] = {}
    for customer_id, recused, department, status in rows:
        out.setdefault(customer_id, []).append((frozenset(recused or []), department, status))
    return out


def case_of_conversation(session: Session, conv: Conversation) -> Case:
    return conversation_case(conv, ticket_rows(session, [conv.customer_id]).get(conv.customer_id, []))


def ticket_case(ticket: Ticket, holders: Iterable[str] = ()) -> Case:
    """``holders``: who holds a conversation of the ticket's customer (they work its tickets)."""
    return Case(
        departments=frozenset({ticket.department}) if ticket.department else frozenset(),
        holders=frozenset(holders),
        assignee=ticket.assignee,
        recused=frozenset(ticket.recused or []),
    )


def case_of_ticket(session: Session, ticket: Ticket) -> Case:
    return ticket_case(ticket, _holders(session, [ticket.customer_id]).get(ticket.customer_id, set()))


def cases_of_tickets(session: Session, tickets: list[Ticket]) -> list[Case]:
    holders = _holders(session, [t.customer_id for t in tickets]) if tickets else {}
    return [ticket_case(t, holders.get(t.customer_id, set())) for t in tickets]


def case_of_customer(session: Session, customer_id: int) -> Case:
    """A customer record (data rights): every department their tickets are in, and everyone their
    complaints name."""
    rows = ticket_rows(session, [customer_id]).get(customer_id, [])
    return Case(
        departments=frozenset(d for _, d, _ in rows if d),
        recused=frozenset(n for names, _, _ in rows for n in names),
    )
