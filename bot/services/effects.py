"""The database side of a turn's effects: a ticket filed, a progress question answered, an answer
to the desk (a proposal accepted or rejected, a survey score, an appeal), a request for a person,
a wait given up.

Runs inside the turn's transaction (the inbox owns it), so an effect and the conversation state
that produced it commit together or not at all. What it returns tells the inbox what to add to
the replies and to the conversation row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from bot.domain.catalog import Catalog
from bot.domain.enums import ConversationStatus
from bot.domain.queue_rules import QueueRules
from bot.services import departments
from bot.services.ticket_desk import LifecycleError, TicketDesk, language_of
from bot.services.ticket_intake import SeverityFn, create_ticket, format_local
from bot.services.tickets import TicketService
from bot.services.work import Work
from dialogues.state import CreateTicket, DeskAnswer, Effect, EndConversation, RequestHandoff, ShowProgress
from dialogues.types import Button, Language, Reply
from storage.db import session_on
from storage.models import Staff, Ticket, TicketDeadline
from storage.repositories import tickets as ticket_repo
from storage.repositories import transcript

RELEASED: dict[str, Any] = {
    "status": ConversationStatus.BOT,
    "assigned_agent": None,
    "handoff_reason": None,
    "waiting_since": None,
    "priority": 0,
    "queue_department": None,
    "taken_at": None,
}
"""The conversation columns of a conversation no person holds or waits for."""


@dataclass(slots=True)
class Outcome:
    """What the effects add to the turn."""

    values: dict[str, Any] = field(default_factory=dict)  # conversation columns to set
    before: list[Reply] = field(default_factory=list)  # replies ahead of the flow's own
    after: list[Reply] = field(default_factory=list)  # replies after them
    placeholders: dict[str, str] = field(default_factory=dict)  # {ticket_number}, {reply_by}
    tickets: list[str] = field(default_factory=list)  # numbers filed
    lifecycle: list[Work] = field(default_factory=list)  # desk work to finish after the commit
    major: bool = False
    phone_on_file: str | None = None
    acknowledged: bool = False  # the desk told the customer about the new ticket itself

    def replies(self, flow_replies: Sequence[Reply]) -> list[Reply]:
        """The turn's replies in order. When the desk acknowledged a new ticket (number,
        department, handler, when they will hear back), the flow's own ``{ticket_number}``
        reply would say the same again: the customer gets the desk's one message instead."""
        if self.acknowledged:
            flow_replies = [r for r in flow_replies if "{ticket_number}" not in r.text]
        return [*self.before, *flow_replies, *self.after]


@dataclass(frozen=True, slots=True)
class Effects:
    tz: ZoneInfo
    severity: SeverityFn
    tickets: TicketService | None
    queue_rules: QueueRules
    texts: Catalog

    def apply(
        self,
        conn: Connection,
        *,
        effects: tuple[Effect, ...],
        channel: str,
        conversation_id: int,
        customer_id: int,
        held_by_agent: bool,
        language: Language,
        now: datetime,
    ) -> Outcome:
        out = Outcome()
        session: Session | None = None
        for effect in effects:
            if isinstance(effect, CreateTicket | ShowProgress | DeskAnswer) and session is None:
                # Rare, richer work gets the ORM, in the same transaction as the turn.
                session = session_on(conn)
            if isinstance(effect, CreateTicket):
                assert session is not None
                self._file(session, out, effect, channel, conversation_id, customer_id, language, now)
            elif isinstance(effect, ShowProgress):
                assert session is not None
                out.before.extend(self.progress(session, customer_id, effect.number, language))
            elif isinstance(effect, DeskAnswer):
                assert session is not None
                self._answer(session, out, effect, customer_id, language, now)
            elif isinstance(effect, RequestHandoff):
                out.values.update(
                    status=ConversationStatus.AGENT, handoff_reason=effect.reason, waiting_since=now
                )
                back = self.queue_rules.agents_back(now)
                if back is not None:
                    back_at = format_local(back, self.tz, language)
                    out.after.append(Reply(self.texts.text("bot.agents_away", language, back=back_at)))
            elif isinstance(effect, EndConversation) and held_by_agent:
                # the customer gave up waiting for a person (cancel): out of the queue
                out.values.update(RELEASED)
        if session is not None:
            session.commit()  # into the turn's transaction (the session works in a savepoint)
            session.close()
        return out

    def _file(
        self,
        session: Session,
        out: Outcome,
        effect: CreateTicket,
        channel: str,
        conversation_id: int,
        customer_id: int,
        language: Language,
        now: datetime,
    ) -> None:
        customer = transcript.customer_by_id(session.connection(), customer_id)
        assert customer is not None
        created = create_ticket(
            session,
            effect=effect,
            customer=customer,
            conversation_id=conversation_id,
            channel=channel,
            now=now,
            tz=self.tz,
            severity=self.severity,
        )
        out.tickets.append(created.ticket.number)
        out.placeholders["{ticket_number}"] = created.ticket.number
        reply_by = created.reply_by
        if self.tickets is not None:
            work = Work(session, now)
            intake = self.tickets.desk.on_created(work, created.ticket, dict(effect.fields))
            reply_by = intake.reply_by
            out.after.extend(Reply(text) for text in intake.replies)
            out.acknowledged = out.acknowledged or bool(intake.replies)
            out.lifecycle.append(work)
        out.placeholders["{reply_by}"] = format_local(reply_by, self.tz, language)
        out.major = out.major or created.ticket.severity == "major"
        if created.phone_on_file:
            out.phone_on_file = created.phone_on_file

    def _answer(
        self,
        session: Session,
        out: Outcome,
        effect: DeskAnswer,
        customer_id: int,
        language: Language,
        now: datetime,
    ) -> None:
        """The customer's answer, applied by the desk with all its rules; what the desk tells
        the customer comes first in the turn's replies. A refusal (a stale button, a closed
        appeal period) is told and changes nothing."""
        if self.tickets is None:
            return
        desk = self.tickets.desk
        ticket = _ticket_for(session, effect, customer_id)
        if ticket is None:
            number = effect.number or "-"
            out.before.append(Reply(self.texts.text("bot.progress_not_found", language, number=number)))
            return
        work = TurnWork(session, now, customer_id=customer_id)
        action = _action(desk, work, ticket, effect)
        if action is None:
            return
        savepoint = session.begin_nested()
        try:
            action()
            savepoint.commit()
        except LifecycleError as exc:
            savepoint.rollback()
            told = exc.customer_text or desk.to_customer(
                "stale_answer", language_of(ticket), number=ticket.number
            )
            out.before.append(Reply(told))
            return
        out.before.extend(work.replies)
        out.lifecycle.append(work)

    def progress(
        self, session: Session, customer_id: int, number: str | None, language: Language
    ) -> list[Reply]:
        """Only the customer's own tickets; someone else's number reads as not found."""
        if number:
            ticket = ticket_repo.by_number(session, number=number)
            found = [ticket] if ticket is not None and ticket.customer_id == customer_id else []
            if not found:
                return [Reply(self.texts.text("bot.progress_not_found", language, number=number))]
        else:
            found = list(ticket_repo.for_customer(session, customer_id=customer_id))
            if not found:
                return [Reply(self.texts.text("bot.progress_none", language))]
        lines = [self.texts.text("bot.progress_header", language)]
        for ticket in found:
            lines.extend(self._progress_of(session, ticket, language))
        lines.append(self.texts.text("bot.progress_footer", language))
        return [Reply("\n".join(lines))]

    def _progress_of(self, session: Session, ticket: Ticket, language: Language) -> list[str]:
        """One ticket as the customer asks about it: its status, who has it, and when they will
        hear from us next (the soonest open deadline, none once it is finished)."""
        text = self.texts.text
        lines = [
            text(
                "bot.progress_line",
                language,
                number=ticket.number,
                kind=self.texts.name("kind", ticket.kind, language),
                status=self.texts.name("status", ticket.status, language),
                created=format_local(ticket.created_at, self.tz, language),
            )
        ]
        if ticket.status in FINISHED:
            return lines
        department = departments.name(session, ticket.department, language, self.texts)
        handler = session.exec(select(Staff).where(Staff.username == ticket.assignee)).first()
        if handler is not None:
            lines.append(
                text("bot.progress_handler", language, handler=handler.display_name, department=department)
            )
        else:
            lines.append(text("bot.progress_department", language, department=department))
        open_clocks = session.exec(
            select(TicketDeadline).where(
                TicketDeadline.ticket_id == ticket.id, col(TicketDeadline.met_at).is_(None)
            )
        ).all()
        due = [c.due_at for c in open_clocks if c.name != "acknowledge"] or [c.due_at for c in open_clocks]
        if due:
            lines.append(text("bot.progress_due", language, due=format_local(min(due), self.tz, language)))
        return lines


FINISHED = frozenset({"resolved", "closed", "cancelled"})
"""Statuses after which nobody works the ticket: no handler or next deadline to tell."""


class TurnWork(Work):
    """Desk work inside a customer's turn: what the desk tells this customer joins the turn's
    replies (queued, ordered and delivered with them) instead of a message of its own."""

    def __init__(self, session: Session, now: datetime, *, customer_id: int) -> None:
        super().__init__(session, now)
        self.customer_id = customer_id
        self.replies: list[Reply] = []

    def tell(self, ticket: Ticket, text: str, buttons: tuple[Button, ...] = ()) -> None:
        if ticket.customer_id == self.customer_id:
            self.replies.append(Reply(text, buttons))
        else:
            super().tell(ticket, text, buttons)


def _ticket_for(session: Session, effect: DeskAnswer, customer_id: int) -> Ticket | None:
    """The customer's own ticket the answer is about; someone else's reads as not found."""
    if effect.kind == "appeal":
        ticket = ticket_repo.by_number(session, number=effect.number or "")
    else:
        ticket = session.get(Ticket, effect.ticket) if effect.ticket is not None else None
    return ticket if ticket is not None and ticket.customer_id == customer_id else None


def _action(desk: TicketDesk, work: Work, ticket: Ticket, effect: DeskAnswer) -> Callable[[], object] | None:
    if effect.kind == "accept":
        return lambda: desk.accept(work, ticket)
    if effect.kind == "reject":
        return lambda: desk.reject(work, ticket, comment=effect.comment)
    if effect.kind == "survey" and effect.score is not None:
        score = effect.score
        return lambda: desk.survey_answer(work, ticket, score, effect.comment)
    if effect.kind == "appeal":
        return lambda: desk.appeal(work, ticket, effect.comment or "")
    return None
