"""One transaction of lifecycle work and the rows it writes besides the ticket: audit events,
staff alerts, customer messages (transcript + outbox) and follow-ups.

Everything happens in the caller's session, so a ticket change, its messages and its follow-ups
commit together or not at all; the outbox items and new follow-up ids are handed to delivery
and the scheduler only after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.channels.base import OutboundMessage
from bot.domain.routing import StaffMember, named_staff
from bot.domain.states import OPEN
from bot.services.delivery import OutboxItem
from dialogues.types import Button
from storage.models import Conversation, Customer, FollowUp, Ticket
from storage.repositories import staff as staff_repo
from storage.repositories import tickets as ticket_repo
from storage.repositories import transcript


@dataclass
class Work:
    session: Session
    now: datetime
    outbox: list[OutboxItem] = field(default_factory=list)
    follow_ups: int = 0
    """How many follow-ups this unit of work added, for the scheduler after the commit."""
    soonest_follow_up: datetime | None = None
    """When the first of them falls due: the scheduler wakes only for what is near."""

    def event(
        self,
        ticket: Ticket,
        action: str,
        *,
        actor: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        assert ticket.id is not None
        ticket_repo.add_event(
            self.session,
            ticket_id=ticket.id,
            actor=actor,
            action=action,
            before=before,
            after=after,
            note=note,
            at=self.now,
        )

    def alert(self, username: str | None, ticket: Ticket, kind: str, text: str) -> None:
        if not username:
            return
        ticket_repo.add_alert(
            self.session, username=username, ticket_id=ticket.id, kind=kind, text=text, now=self.now
        )

    def follow_up(self, ticket: Ticket, kind: str, due: datetime, **data: Any) -> None:
        self.follow_ups_at(ticket, [(kind, due, data)])

    def follow_ups_at(self, ticket: Ticket, rows: list[tuple[str, datetime, dict[str, Any]]]) -> None:
        """Add follow-ups (kind, due, data) in one statement: a new ticket brings ten."""
        assert ticket.id is not None
        if not rows:
            return
        ticket_repo.add_follow_ups(self.session, ticket_id=ticket.id, rows=rows, now=self.now)
        self.count_follow_ups(min(due for _, due, _ in rows), count=len(rows))

    def count_follow_ups(self, due: datetime, *, count: int = 1) -> None:
        """Count follow-ups (re)written for the scheduler, the first falling due at ``due``."""
        self.follow_ups += count
        if self.soonest_follow_up is None or due < self.soonest_follow_up:
            self.soonest_follow_up = due

    def cancel_follow_ups(self, ticket: Ticket, kinds: set[str], *, deadline: str | None = None) -> int:
        rows = self.session.exec(
            select(FollowUp).where(
                FollowUp.ticket_id == ticket.id,
                FollowUp.status == "pending",
                col(FollowUp.kind).in_(kinds),
            )
        ).all()
        cancelled = 0
        for row in rows:
            if deadline is not None and row.data.get("deadline") != deadline:
                continue
            row.status = "cancelled"
            row.outcome = "no longer needed"
            self.session.add(row)
            cancelled += 1
        return cancelled

    def tell(self, ticket: Ticket, text: str, buttons: tuple[Button, ...] = ()) -> None:
        """Queue a message to the ticket's customer on the channel they used."""
        customer = self.session.get(Customer, ticket.customer_id)
        if customer is None or customer.erased_at is not None:
            return
        conversation_id = ticket.conversation_id or self._conversation_id(customer)
        if conversation_id is None:
            return
        conn = self.session.connection()
        row = transcript.OutgoingRow(
            text=text,
            buttons=[{"label": b.label, "payload": b.payload} for b in buttons],
            attachments=[],
            author="system",
        )
        [outbox_id] = transcript.insert_outgoing(
            conn,
            conversation_id=conversation_id,
            customer=customer.id or 0,
            channel=customer.channel,
            user_id=customer.external_id,
            rows=[row],
            now=self.now,
        )
        self.outbox.append(
            OutboxItem(
                id=outbox_id,
                channel=customer.channel,
                user_id=customer.external_id,
                message=OutboundMessage(text=text, buttons=buttons),
            )
        )

    def _conversation_id(self, customer: Customer) -> int | None:
        conv = self.session.exec(
            select(Conversation).where(
                Conversation.channel == customer.channel, Conversation.user_id == customer.external_id
            )
        ).first()
        return None if conv is None else conv.id


def staff_directory(session: Session) -> list[StaffMember]:
    return [StaffMember(*row) for row in staff_repo.active(session.connection())]


def named_people(
    session: Session, texts: Iterable[str | None], staff: list[StaffMember] | None = None
) -> list[str]:
    """Who a customer's words name (回避): people of the staff table by display name, username or
    employee number (usernames that are common words, such as "admin", only as whole words)."""
    words = [t for t in texts if t]
    if not words:
        return []
    return named_staff(words, staff if staff is not None else staff_directory(session))


def open_load(session: Session, *, flush: bool = True) -> dict[str, int]:
    """Open tickets per assignee: routing gives new work to whoever has least. ``flush=False``
    when nothing in this unit of work assigned a ticket yet (a flush costs as much as the query)."""
    if flush:
        session.flush()  # an assignment made earlier in this unit of work counts
    return ticket_repo.open_load(session, statuses=OPEN)
