"""``/tickets``: the ticket list with the console's filters and a text search, one ticket with
its audit trail and clocks, and the desk's moves on it (status through the state machine,
classification, assignee, note, proposed solution). Like the console: a ticket the token may
not see is 404, one it sees but may not work on is 403, a move the procedure refuses is 409."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from sqlmodel import Session

from bot.domain.access import Action, can_see
from bot.domain.enums import Severity, TicketKind, TicketStatus
from bot.domain.intake_facts import facts
from bot.domain.states import TRANSITIONS, InvalidTransition
from bot.services.ticket_desk import LifecycleError, TicketDesk
from bot.services.tickets import TicketService
from bot.services.work import Work
from bot.web.api import paging
from bot.web.api.deps import AnnounceDep, Caller, CallerDep, DbDep, DeskDep, TicketsDep
from bot.web.api.schemas import (
    NO_NUL,
    Assignment,
    DeadlineOut,
    EventOut,
    IntakeFacts,
    NoteIn,
    ProposalIn,
    StatusChange,
    TicketEdit,
    TicketOut,
    TicketPage,
    TicketSummary,
)
from bot.web.console import cases, views
from storage.db import Database
from storage.models import Ticket
from storage.repositories import api_reads
from storage.repositories import tickets as ticket_repo

router = APIRouter(prefix="/tickets", tags=["tickets"])
Number = Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[0-9A-Za-z-]+$")]
NOT_FOUND = "no such ticket, or not this token's to see"
Operation = Callable[[Work, Ticket], None]


def summary(ticket: Ticket) -> TicketSummary:
    return TicketSummary.model_validate(ticket, from_attributes=True)


@router.get("", response_model=TicketPage)
async def list_tickets(
    caller: CallerDep,
    db: DbDep,
    status: TicketStatus | None = None,
    department: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    severity: Severity | None = None,
    assignee: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    kind: TicketKind | None = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="text in the number, description, ...")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> TicketPage:
    """Newest first; only the tickets the access policy lets the token see."""
    before = paging.decode("t", cursor)

    def load(session: Session) -> TicketPage:
        def fetch(position: int | None, size: int) -> Sequence[Ticket]:
            return api_reads.tickets_before(
                session,
                before=position,
                limit=size,
                status=status,
                department=department,
                severity=severity,
                assignee=assignee,
                kind=kind,
                text=q.strip() if q and q.strip() else None,
            )

        def keep(rows: Sequence[Ticket]) -> list[bool]:
            return [can_see(caller.viewer, case) for case in cases.cases_of_tickets(session, list(rows))]

        rows, last = paging.page(fetch, keep, before=before, limit=limit)
        return TicketPage(
            items=[summary(t) for t in rows], next_cursor=paging.encode("t", last) if last else None
        )

    return await db.read(load)


def _detail(session: Session, ticket: Ticket) -> TicketOut:
    assert ticket.id is not None
    return TicketOut.model_validate(
        {
            **ticket.model_dump(),
            "facts": IntakeFacts(**facts(ticket.details or {})),
            "next_statuses": sorted(TRANSITIONS.get(ticket.status, ())),
            "events": [
                EventOut.model_validate(e, from_attributes=True)
                for e in ticket_repo.events(session, ticket_id=ticket.id)
            ],
            "deadlines": [
                DeadlineOut.model_validate(d, from_attributes=True)
                for d in api_reads.deadlines(session, ticket_id=ticket.id)
            ],
        }
    )


async def _visible(db: Database, number: Number, caller: Caller) -> TicketOut:
    def load(session: Session) -> TicketOut | None:
        ticket = views.ticket_by_number(session, number, caller.agent)
        return None if ticket is None else _detail(session, ticket)

    found = await db.read(load)
    if found is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return found


@router.get("/{number}", response_model=TicketOut)
async def get_ticket(number: Number, caller: CallerDep, db: DbDep) -> TicketOut:
    return await _visible(db, number, caller)


class _NotYours(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TicketWork:
    """What the desk's work on a ticket needs, from the request's dependencies."""

    db: Database
    tickets: TicketService
    desk: TicketDesk
    announce: Callable[[int], None]


async def _ticket_work(db: DbDep, tickets: TicketsDep, desk: DeskDep, announce: AnnounceDep) -> TicketWork:
    return TicketWork(db, tickets, desk, announce)


TicketWorkDep = Annotated[TicketWork, Depends(_ticket_work)]


async def _work(work: TicketWork, number: str, caller: Caller, operation: Operation) -> TicketOut:
    """Run ``operation`` in the desk's transaction after the policy's WORK check (made again
    inside it, on the row it changes), and answer with the ticket as it is afterwards."""
    await _visible(work.db, number, caller)

    def guarded(unit: Work, ticket: Ticket) -> None:
        if views.ticket_by_number(unit.session, ticket.number, caller.agent, Action.WORK) is None:
            raise _NotYours()
        operation(unit, ticket)

    try:
        await work.tickets.on_ticket(number, guarded)
    except _NotYours as exc:
        raise HTTPException(status_code=403, detail="this ticket is not this token's to work on") from exc
    except (InvalidTransition, LifecycleError) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    after = await _visible(work.db, number, caller)
    if after.conversation_id is not None:
        work.announce(after.conversation_id)
    return after


def _status_move(desk: TicketDesk, change: StatusChange, actor: str) -> Operation:
    """The console's status form, move for move (bot/web/console/tickets.py)."""
    target = change.status
    note = (change.note or "").strip() or None

    def run(unit: Work, ticket: Ticket) -> None:
        if target is TicketStatus.RESOLVED:
            desk.resolve(unit, ticket, actor=actor, note=note)
        elif target is TicketStatus.CLOSED:
            desk.close(unit, ticket, actor=actor, note=note)
        elif target is TicketStatus.CANCELLED:
            desk.cancel(unit, ticket, actor=actor)
        elif target is TicketStatus.REOPENED:
            desk.reopen(unit, ticket, actor=actor, reason=note or "reopened", mishandled=False)
        elif target is TicketStatus.SOLUTION_PROPOSED:
            raise LifecycleError("propose a solution with POST /tickets/{number}/proposals")
        else:
            desk.move(unit, ticket, target, actor=actor, note=note)

    return run


@router.post("/{number}/status", response_model=TicketOut)
async def change_status(
    number: Number, change: StatusChange, caller: CallerDep, work: TicketWorkDep
) -> TicketOut:
    """Through the state machine: a move it does not allow from the current status is 409."""
    return await _work(work, number, caller, _status_move(work.desk, change, caller.actor))


@router.patch("/{number}", response_model=TicketOut)
async def edit_ticket(number: Number, edit: TicketEdit, caller: CallerDep, work: TicketWorkDep) -> TicketOut:
    """Category levels, department and severity; raising severity to major alerts a supervisor
    and a manager."""
    changes = {k: (str(v) if v is not None else None) for k, v in edit.model_dump(exclude_unset=True).items()}
    changes = {k: v for k, v in changes.items() if not (k == "severity" and v is None)}

    def run(unit: Work, ticket: Ticket) -> None:
        work.desk.reclassify(unit, ticket, changes, actor=caller.actor)

    return await _work(work, number, caller, run)


@router.post("/{number}/assign", response_model=TicketOut)
async def assign(number: Number, body: Assignment, caller: CallerDep, work: TicketWorkDep) -> TicketOut:
    """To a staff-directory member; never to someone the complaint names (409)."""

    def run(unit: Work, ticket: Ticket) -> None:
        work.desk.assign(unit, ticket, body.assignee, actor=caller.actor)

    return await _work(work, number, caller, run)


@router.post("/{number}/notes", response_model=TicketOut, status_code=201)
async def add_note(number: Number, body: NoteIn, caller: CallerDep, work: TicketWorkDep) -> TicketOut:
    """A staff note on the ticket's audit trail; the customer never sees it."""
    text = body.text.strip()
    if not text:
        raise HTTPException(status_code=400, detail="a note needs text")

    def run(unit: Work, ticket: Ticket) -> None:
        unit.event(ticket, "note", actor=caller.actor, note=text)

    return await _work(work, number, caller, run)


@router.post("/{number}/proposals", response_model=TicketOut, status_code=201)
async def propose(number: Number, body: ProposalIn, caller: CallerDep, work: TicketWorkDep) -> TicketOut:
    """Put a solution to the customer (with Accept / Not satisfied buttons)."""

    def run(unit: Work, ticket: Ticket) -> None:
        work.desk.propose(unit, ticket, body.solution, actor=caller.actor)

    return await _work(work, number, caller, run)
