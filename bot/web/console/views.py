"""What the console pages show, read in one session each: the queue, a conversation with its
customer's tickets, the supervisor's overview. Every reader asks the one access policy
(``bot.domain.access``: role, department, held or assigned, recusal), so nobody sees a
conversation or ticket that is not theirs to see or that names them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.domain.access import Action, Viewer, allows, can_see
from bot.domain.states import OPEN, TRANSITIONS
from bot.web.console import cases
from bot.web.console.accounts import Agent, active_users
from storage.models import (
    CannedReply,
    Conversation,
    Customer,
    Message,
    StaffAlert,
    Ticket,
    TicketDeadline,
    TicketEvent,
)

WECHAT_WINDOW = timedelta(hours=48)
TRANSCRIPT_LIMIT = 500


@dataclass(frozen=True, slots=True)
class QueueRow:
    conversation_id: int
    channel: str
    customer: str
    reason: str | None
    priority: int
    major: bool
    waiting_since: datetime | None
    department: str | None
    last_text: str
    assigned_agent: str | None = None
    taken_at: datetime | None = None
    unread: int = 0
    """Customer messages since the desk last answered (a person or the bot)."""


@dataclass
class ConversationView:
    conv: Conversation
    customer: Customer
    messages: list[dict[str, Any]]
    current: Ticket | None
    earlier: list[Ticket]
    events: list[TicketEvent]
    deadlines: list[TicketDeadline]
    canned: list[tuple[str, str]]
    colleagues: list[tuple[str, str]]
    wechat_window_until: datetime | None
    next_statuses: list[str] = field(default_factory=list)

    @property
    def held_by(self) -> str | None:
        return self.conv.assigned_agent if self.conv.status == "agent" else None


def message_item(row: Message) -> dict[str, Any]:
    """One transcript line as the page's script draws it (as text, never as HTML)."""
    if row.direction == "in":
        who = "customer"
    elif row.direction == "note":
        who = "note"
    elif row.author.startswith("agent:"):
        who = "agent"
    else:
        who = "bot"
    return {
        "id": row.id,
        "from": who,
        "author": row.author,
        "text": row.text,
        "kind": row.kind,
        "at": row.created_at.isoformat(),
        "buttons": [b.get("label", "") for b in row.buttons],
        "attachments": [a.get("name") or a.get("kind") or "file" for a in row.attachments],
    }


def _rows(session: Session, convs: list[Conversation], agent: Agent) -> list[QueueRow]:
    """Queue rows in a few queries whatever their number: the lists are redrawn on live updates.
    Only the conversations the policy lets this agent see."""
    if not convs:
        return []
    viewer = cases.viewer_for(session, agent)
    customer_ids = {c.customer_id for c in convs}
    tickets = session.exec(
        select(Ticket.customer_id, Ticket.severity, Ticket.status).where(
            col(Ticket.customer_id).in_(customer_ids)
        )
    ).all()
    of_customer = cases.ticket_rows(session, customer_ids)
    convs = [
        c for c in convs if can_see(viewer, cases.conversation_case(c, of_customer.get(c.customer_id, [])))
    ]
    major = {cid for cid, severity, status in tickets if severity == "major" and status in OPEN}
    customers = {c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(customer_ids)))}
    latest = (
        select(func.max(Message.id))
        .where(col(Message.conversation_id).in_([c.id for c in convs]), Message.direction == "in")
        .group_by(col(Message.conversation_id))
    )
    last_text = dict(
        session.exec(select(Message.conversation_id, Message.text).where(col(Message.id).in_(latest))).all()
    )
    unread = _unread(session, [c.id for c in convs if c.id is not None])
    out: list[QueueRow] = []
    for conv in convs:
        assert conv.id is not None
        customer = customers.get(conv.customer_id)
        is_major = conv.customer_id in major
        out.append(
            QueueRow(
                conversation_id=conv.id,
                channel=conv.channel,
                customer=(customer.name if customer and customer.name else ""),
                reason=conv.handoff_reason,
                priority=max(conv.priority, 2 if is_major else 0),
                major=is_major,
                waiting_since=conv.waiting_since,
                department=conv.queue_department,
                last_text=_words_of(last_text.get(conv.id) or "")[:120],
                assigned_agent=conv.assigned_agent,
                taken_at=conv.taken_at,
                unread=unread.get(conv.id, 0),
            )
        )
    return out


def _unread(session: Session, conversation_ids: list[int]) -> dict[int, int]:
    """Per conversation, the customer's messages since a person last replied (all of them when
    nobody has yet; the bot's "please hold" answers are no reply). One query."""
    if not conversation_ids:
        return {}
    answer = aliased(Message)
    last_answer = (
        select(func.max(answer.id))
        .where(
            answer.conversation_id == Message.conversation_id,
            answer.direction == "out",
            col(answer.author).startswith("agent:"),
        )
        .correlate(Message)
        .scalar_subquery()
    )
    rows = session.exec(
        select(Message.conversation_id, func.count())
        .where(
            col(Message.conversation_id).in_(conversation_ids),
            Message.direction == "in",
            col(Message.id) > func.coalesce(last_answer, 0),
        )
        .group_by(col(Message.conversation_id))
    ).all()
    return {cid: n for cid, n in rows if cid is not None}


def _words_of(text: str) -> str:
    """What the customer wrote, less a platform command (Telegram's /start is no message)."""
    return "" if text.startswith("/") and " " not in text.strip() else text


def queue(session: Session, agent: Agent) -> list[QueueRow]:
    """Waiting for a person: highest severity first, then longest waiting."""
    convs = list(
        session.exec(
            select(Conversation)
            .where(col(Conversation.waiting_since).is_not(None), col(Conversation.assigned_agent).is_(None))
            .order_by(col(Conversation.priority).desc(), col(Conversation.waiting_since))
            .limit(500)
        ).all()
    )
    rows = _rows(session, convs, agent)
    return sorted(rows, key=lambda r: (-r.priority, r.waiting_since or datetime.max))


def held(session: Session, agent: Agent, *, everyone: bool = False) -> list[QueueRow]:
    """Conversations a person holds: the agent's own, or everybody's for a supervisor."""
    query = select(Conversation).where(
        Conversation.status == "agent", col(Conversation.assigned_agent).is_not(None)
    )
    if not everyone:
        query = query.where(Conversation.assigned_agent == agent.username)
    convs = list(session.exec(query.order_by(col(Conversation.taken_at))).all())
    return _rows(session, convs, agent)


def can_open(session: Session, conv: Conversation, agent: Agent, action: Action = Action.SEE) -> bool:
    """The policy's answer for this conversation (see ``bot.domain.access``)."""
    return allows(cases.viewer_for(session, agent), action, cases.case_of_conversation(session, conv))


def conversation(
    session: Session, conversation_id: int, agent: Agent, *, now: datetime
) -> ConversationView | None:
    conv = session.get(Conversation, conversation_id)
    if conv is None or not can_open(session, conv, agent):
        return None
    customer = session.get(Customer, conv.customer_id)
    assert customer is not None
    rows = session.exec(
        select(Message)
        .where(Message.conversation_id == conv.id)
        .order_by(col(Message.id).desc())
        .limit(TRANSCRIPT_LIMIT)
    ).all()
    tickets = list(
        session.exec(
            select(Ticket).where(Ticket.customer_id == customer.id).order_by(col(Ticket.created_at).desc())
        ).all()
    )
    current = next((t for t in tickets if t.status in OPEN), tickets[0] if tickets else None)
    earlier = [t for t in tickets if t is not current]
    events, deadlines, next_statuses = ticket_detail(session, current) if current else ([], [], [])
    values = {
        "customer_name": customer.name or "",
        "ticket_number": current.number if current else "",
        "agent_name": agent.display_name,
    }
    canned = [
        (c.title, fill(c.text, values))
        for c in session.exec(
            select(CannedReply)
            .where(or_(col(CannedReply.language) == customer.language, col(CannedReply.language) == "any"))
            .order_by(col(CannedReply.title))
        )
    ]
    recused = cases.customer_recused(session, customer.id or 0)
    colleagues = [
        (u.username, u.display_name)
        for u in active_users(session)
        if u.username != agent.username and not _named(session, u.username, recused)
    ]
    window = None
    if conv.channel == "wechat" and customer.last_inbound_at is not None:
        window = customer.last_inbound_at + WECHAT_WINDOW
    return ConversationView(
        conv=conv,
        customer=customer,
        messages=[message_item(r) for r in reversed(rows)],
        current=current,
        earlier=earlier,
        events=events,
        deadlines=deadlines,
        canned=canned,
        colleagues=colleagues,
        wechat_window_until=window,
        next_statuses=next_statuses,
    )


def ticket_detail(
    session: Session, ticket: Ticket
) -> tuple[list[TicketEvent], list[TicketDeadline], list[str]]:
    """The ticket's audit trail, its clocks and the statuses it may move to."""
    events = list(
        session.exec(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(col(TicketEvent.id))
        )
    )
    deadlines = list(
        session.exec(
            select(TicketDeadline)
            .where(TicketDeadline.ticket_id == ticket.id)
            .order_by(col(TicketDeadline.due_at))
        )
    )
    return events, deadlines, sorted(TRANSITIONS.get(ticket.status, ()))


def messages_after(session: Session, conversation_id: int, after: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, col(Message.id) > after)
        .order_by(col(Message.id))
        .limit(TRANSCRIPT_LIMIT)
    ).all()
    return [message_item(r) for r in rows]


def fill(template: str, values: dict[str, str]) -> str:
    """Fill ``{name}`` variables; unknown ones stay as written instead of failing."""
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out


@dataclass
class SupervisorView:
    handling: list[QueueRow]
    waiting: list[QueueRow]
    near: list[tuple[Ticket, TicketDeadline]]
    overdue: list[tuple[Ticket, TicketDeadline]]
    escalated: list[Ticket]


def supervisor(session: Session, agent: Agent, *, now: datetime) -> SupervisorView:
    clocks = session.exec(
        select(TicketDeadline, Ticket)
        .join(Ticket, col(Ticket.id) == col(TicketDeadline.ticket_id))
        .where(col(TicketDeadline.met_at).is_(None), col(TicketDeadline.warn_at) <= now)
        .where(col(Ticket.status).in_(OPEN))
        .order_by(col(TicketDeadline.due_at))
        .limit(300)
    ).all()
    viewer = cases.viewer_for(session, agent)
    near: list[tuple[Ticket, TicketDeadline]] = []
    overdue: list[tuple[Ticket, TicketDeadline]] = []
    clock_cases = cases.cases_of_tickets(session, [t for _, t in clocks])
    for (clock, ticket), case in zip(clocks, clock_cases, strict=True):
        if not can_see(viewer, case):
            continue
        (overdue if clock.due_at <= now else near).append((ticket, clock))
    candidates = list(
        session.exec(
            select(Ticket)
            .where(Ticket.status == "escalated")
            .order_by(col(Ticket.updated_at).desc())
            .limit(200)
        )
    )
    escalated = [
        t
        for t, case in zip(candidates, cases.cases_of_tickets(session, candidates), strict=True)
        if can_see(viewer, case)
    ]
    return SupervisorView(
        handling=held(session, agent, everyone=True),
        waiting=queue(session, agent),
        near=near,
        overdue=overdue,
        escalated=escalated,
    )


def alerts(session: Session, agent: Agent, *, limit: int = 50) -> list[StaffAlert]:
    """The agent's alerts, less those about a customer whose complaint has named them since
    (an alert quotes the ticket)."""
    rows = list(
        session.exec(
            select(StaffAlert)
            .where(StaffAlert.username == agent.username)
            .order_by(col(StaffAlert.id).desc())
            .limit(limit)
        )
    )
    ticket_ids = {a.ticket_id for a in rows if a.ticket_id is not None}
    if not ticket_ids:
        return rows
    me = cases.viewer_for(session, agent)
    owners = dict(
        session.exec(select(Ticket.id, Ticket.customer_id).where(col(Ticket.id).in_(ticket_ids))).all()
    )
    hidden = {
        tid
        for tid, customer_id in owners.items()
        if not me.names.isdisjoint({n.casefold() for n in cases.customer_recused(session, customer_id)})
    }
    return [a for a in rows if a.ticket_id not in hidden]


def ticket_by_number(
    session: Session, number: str, agent: Agent, action: Action = Action.SEE
) -> Ticket | None:
    """The ticket, when the policy lets this agent do ``action`` on it; numbers are sequential,
    so a number alone proves nothing."""
    ticket = session.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None or not allows(
        cases.viewer_for(session, agent), action, cases.case_of_ticket(session, ticket)
    ):
        return None
    return ticket


def _named(session: Session, username: str, recused: frozenset[str]) -> bool:
    viewer = cases.viewer_of(session, username)
    return viewer is not None and not viewer.names.isdisjoint({n.casefold() for n in recused})


def viewer(session: Session, agent: Agent) -> Viewer:
    return cases.viewer_for(session, agent)
