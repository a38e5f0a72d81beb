"""Customer messages that answer the desk rather than the intake flow: Accept / Not satisfied on a
proposal, a 1-5 survey score with a comment, and "申诉 <number>" (appeal).

Buttons carry ``lc:<ticket id>:<answer>`` payloads and always count. Typed answers ("1", "2",
"4 quick help", "不满意") count only while the customer is not in the middle of an intake, so a
menu choice is never mistaken for a survey score.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from bot.services.ticket_desk import (
    ACCEPT_WORDS,
    APPEAL,
    REJECT_WORDS,
    SCORE,
    LifecycleError,
    TicketDesk,
    language_of,
)
from bot.services.work import Work
from storage.models import Ticket
from storage.repositories import tickets as ticket_repo

PREFIX = "lc:"


def wants(payload: str | None, text: str, *, idle: bool) -> bool:
    """Cheap check before any database work: could this message be an answer?"""
    if payload and payload.startswith(PREFIX):
        return True
    if not idle or len(text) > 500:
        return False
    return looks_like_answer(text)


def looks_like_answer(text: str) -> bool:
    """A score, an accept/reject word or an appeal; anything else (a greeting, a new complaint)
    goes straight to the flow without a database lookup."""
    cleaned = text.strip().lower()
    return bool(SCORE.match(text) or APPEAL.match(text) or cleaned in ACCEPT_WORDS | REJECT_WORDS)


def answer(desk: TicketDesk, work: Work, *, customer_id: int, text: str, payload: str | None) -> bool:
    """Apply the answer; False when the message is not one (the flow handles it)."""
    if payload and payload.startswith(PREFIX):
        return _by_payload(desk, work, customer_id, payload)
    appeal = APPEAL.match(text)
    if appeal:
        original = ticket_repo.by_number(work.session, number=appeal.group(1))
        if original is None or original.customer_id != customer_id:
            return False
        reason = appeal.group(2) or ""
        _guarded(desk, work, original, lambda: desk.appeal(work, original, reason))
        return True
    ticket = work.session.exec(
        select(Ticket)
        .where(Ticket.customer_id == customer_id, col(Ticket.awaiting).is_not(None))
        .order_by(col(Ticket.updated_at).desc())
    ).first()
    if ticket is None or ticket.awaiting is None:
        return False
    read = desk.read_answer(ticket.awaiting, text)
    if read is None:
        return False
    _apply(desk, work, ticket, *read)
    return True


def _by_payload(desk: TicketDesk, work: Work, customer_id: int, payload: str) -> bool:
    parts = payload[len(PREFIX) :].split(":")
    if not parts[0].isdigit() or len(parts) < 2:
        return False
    ticket = work.session.get(Ticket, int(parts[0]))
    if ticket is None or ticket.customer_id != customer_id:
        return False
    if parts[1] == "score" and len(parts) == 3 and parts[2] in {"1", "2", "3", "4", "5"}:
        _apply(desk, work, ticket, "score", int(parts[2]), None)
        return True
    if parts[1] in ("accept", "reject"):
        _apply(desk, work, ticket, parts[1], None, None)
        return True
    return False


def _apply(
    desk: TicketDesk, work: Work, ticket: Ticket, what: str, score: int | None, comment: str | None
) -> None:
    if what == "accept":
        _guarded(desk, work, ticket, lambda: desk.accept(work, ticket))
    elif what == "reject":
        _guarded(desk, work, ticket, lambda: desk.reject(work, ticket, comment=comment))
    elif score is not None:
        _guarded(desk, work, ticket, lambda: desk.survey_answer(work, ticket, score, comment))


def _guarded(desk: TicketDesk, work: Work, ticket: Ticket, action: Callable[[], object]) -> None:
    """Run the answer; a refusal (a stale button, a closed appeal period) is told, not raised."""
    queued, scheduled, soonest = len(work.outbox), work.follow_ups, work.soonest_follow_up
    savepoint = work.session.begin_nested()
    try:
        action()
        savepoint.commit()
    except LifecycleError as exc:
        savepoint.rollback()
        del work.outbox[queued:]
        work.follow_ups, work.soonest_follow_up = scheduled, soonest
        language = language_of(ticket)
        work.tell(
            ticket, exc.customer_text or desk.to_customer("stale_answer", language, number=ticket.number)
        )
