"""Firing one follow-up: claim it, reload the ticket, do what its kind says.

The claim (pending -> done) and the work share one transaction, so a follow-up fires once even
if two schedulers, a sweep and a retried job all reach it: the loser's UPDATE matches no row.
Work that would message a customer during quiet hours is moved to the morning instead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from bot.domain.enums import FollowUpKind, FollowUpStatus
from bot.domain.routing import supervisor_for
from bot.domain.states import OPEN, TRANSITIONS
from bot.services.ticket_desk import CUSTOMER_FACING, TicketDesk, language_of, survey_buttons
from bot.services.work import Work, open_load, staff_directory
from storage.models import FollowUp, Ticket, TicketDeadline


def fire(desk: TicketDesk, work: Work, follow_up_id: int) -> str:
    """Run follow-up ``follow_up_id`` if still pending; returns what happened (for the log)."""
    row = work.session.get(FollowUp, follow_up_id)
    if row is None or row.status != FollowUpStatus.PENDING:
        return "already handled"
    if row.kind in CUSTOMER_FACING and desk.quiet.contains(work.now):
        later = desk.quiet.shift(work.now)
        moved = work.session.execute(
            update(FollowUp)
            .where(col(FollowUp.id) == follow_up_id, col(FollowUp.status) == FollowUpStatus.PENDING)
            .values(due_at=later, scheduled=False)
        )
        if moved.rowcount:  # type: ignore[attr-defined]
            work.count_follow_ups(later)  # the scheduler gives it a new job
        return "moved out of quiet hours"
    claimed = work.session.execute(
        update(FollowUp)
        .where(col(FollowUp.id) == follow_up_id, col(FollowUp.status) == FollowUpStatus.PENDING)
        .values(status=FollowUpStatus.DONE, fired_at=work.now)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return "already handled"
    ticket = work.session.get(Ticket, row.ticket_id)
    if ticket is None:
        return "ticket gone"
    outcome = _KINDS[FollowUpKind(row.kind)](desk, work, ticket, row)
    work.session.execute(update(FollowUp).where(col(FollowUp.id) == follow_up_id).values(outcome=outcome))
    return outcome


def _running_clock(work: Work, ticket: Ticket, row: FollowUp) -> TicketDeadline | None:
    """The follow-up's SLA clock if it is still running on a live ticket."""
    query = select(TicketDeadline).where(
        TicketDeadline.ticket_id == ticket.id, TicketDeadline.name == str(row.data.get("deadline"))
    )
    clock = work.session.exec(query).first()
    if clock is None or clock.met_at is not None or ticket.status not in OPEN | {"resolved"}:
        return None
    return clock


def _warn(desk: TicketDesk, work: Work, ticket: Ticket, row: FollowUp) -> str:
    """Near the deadline: warn the handler, and only now write the breach follow-up (a met clock
    never needs one). It shares the warning's transaction, so a restart loses neither."""
    clock = _running_clock(work, ticket, row)
    if clock is None:
        return "deadline met"
    clock.warned_at = work.now
    work.session.add(clock)
    work.follow_up(ticket, FollowUpKind.SLA_BREACH, clock.due_at, deadline=clock.name)
    work.event(ticket, "sla_warning", actor="system", after={"deadline": clock.name})
    who = ticket.assignee or _supervisor(work, ticket)
    work.alert(
        who,
        ticket,
        "warning",
        desk.to_staff(
            "warning",
            number=ticket.number,
            deadline=desk.deadline_name(clock.name),
            due=desk.moment(clock.due_at),
        ),
    )
    return "handler warned"


def _breach(desk: TicketDesk, work: Work, ticket: Ticket, row: FollowUp) -> str:
    """Past the deadline: urge the handler and escalate to the supervisor."""
    clock = _running_clock(work, ticket, row)
    if clock is None:
        return "deadline met"
    if clock.breached_at is not None:  # a breach follow-up written before warnings wrote them
        return "already breached"
    clock.breached_at = work.now
    work.session.add(clock)
    name = desk.deadline_name(clock.name)
    work.event(ticket, "sla_breached", actor="system", after={"deadline": clock.name})
    work.event(ticket, "urged", actor="system", after={"to": ticket.assignee}, note=clock.name)
    work.alert(ticket.assignee, ticket, "urge", desk.to_staff("urge", number=ticket.number, deadline=name))
    sup = _supervisor(work, ticket)
    if sup is not None:
        ticket.escalated_to = sup
        work.alert(sup, ticket, "breach", desk.to_staff("breach", number=ticket.number, deadline=name))
        work.event(ticket, "escalated_to_supervisor", actor="system", after={"to": sup}, note=clock.name)
    if ticket.status != "escalated" and "escalated" in TRANSITIONS[ticket.status]:
        desk.move(work, ticket, "escalated", actor="system", note=f"deadline {clock.name} missed")
    work.session.add(ticket)
    return "urged and escalated"


def _callback(desk: TicketDesk, work: Work, ticket: Ticket, row: FollowUp) -> str:
    """回访: ask how it went, with the 1-5 survey, and one reminder later."""
    return "survey sent" if desk.ask_survey(work, ticket, actor="system") else "nothing to ask"


def _remind(desk: TicketDesk, work: Work, ticket: Ticket, row: FollowUp) -> str:
    if ticket.awaiting != "survey":
        return "already answered"
    language = language_of(ticket)
    work.tell(
        ticket,
        desk.to_customer("survey_reminder", language, number=ticket.number),
        buttons=survey_buttons(ticket),
    )
    return "reminded"


def _auto_close(desk: TicketDesk, work: Work, ticket: Ticket, row: FollowUp) -> str:
    if ticket.status != "resolved":
        return "not resolved"
    language = language_of(ticket)
    desk.move(work, ticket, "closed", actor="system", note="no answer from the customer", tell=False)
    work.tell(
        ticket,
        desk.to_customer(
            "auto_closed", language, number=ticket.number, appeal_until=desk.appeal_until(ticket, language)
        ),
    )
    return "closed"


def _supervisor(work: Work, ticket: Ticket) -> str | None:
    staff = staff_directory(work.session)
    sup = supervisor_for(
        staff, department=ticket.department or "", recused=ticket.recused, load=open_load(work.session)
    )
    return None if sup is None else sup.username


def due_ids(work: Work, now: datetime, *, limit: int = 500) -> list[int]:
    """Pending follow-ups already due, oldest first (the sweep's and the tests' view)."""
    query = (
        select(FollowUp.id)
        .where(FollowUp.status == FollowUpStatus.PENDING, col(FollowUp.due_at) <= now)
        .order_by(col(FollowUp.due_at), col(FollowUp.id))
        .limit(limit)
    )
    return [int(i) for i in work.session.exec(query).all() if i is not None]


_KINDS = {
    FollowUpKind.SLA_WARN: _warn,
    FollowUpKind.SLA_BREACH: _breach,
    FollowUpKind.CALLBACK: _callback,
    FollowUpKind.SURVEY_REMINDER: _remind,
    FollowUpKind.AUTO_CLOSE: _auto_close,
}
