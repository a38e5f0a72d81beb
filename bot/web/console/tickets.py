"""A ticket in the console: its page and the desk's work on it (classify, move its status,
propose a solution, record a contact with the customer or an investigation). A ticket the agent
may not see is 404; one they see but may not work on is refused by the desk's transaction, which
checks again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select

from bot.domain.access import Action
from bot.services.ticket_desk import LifecycleError, TicketDesk
from bot.services.tickets import TicketService
from bot.services.work import Work
from bot.web.console import history, ticket_panel, views
from bot.web.console.accounts import Agent
from bot.web.console.answers import act
from bot.web.console.context import Console
from bot.web.console.deps import (
    CatalogDep,
    ConsoleDep,
    CurrentAgent,
    DbDep,
    DeskDep,
    NowDep,
    TicketsDep,
)
from bot.web.console.security import role_extra
from bot.web.console.ticket_panel import LOCAL_MINUTE
from storage.db import Database
from storage.models import Ticket

router = APIRouter(prefix="/console/tickets")


@router.get("/{number}", openapi_extra=role_extra("agent"))
async def ticket_page(
    number: str,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
    catalog: CatalogDep,
) -> HTMLResponse:
    def load(session: Session) -> dict[str, Any] | None:
        ticket = views.ticket_by_number(session, number, agent)
        if ticket is None:
            return None
        events, deadlines, next_statuses = views.ticket_detail(session, ticket)
        words = history.wording(
            session,
            catalog,
            console.words(agent),
            console.labels(agent),
            agent.language,
            when=lambda moment: console.when(moment, agent.language),
        )
        return {
            "ticket": ticket,
            "words": words,
            "lines": history.sentences(events, words),
            "categories": list(words.categories.items()),
            "deadlines": deadlines,
            "next_statuses": next_statuses,
            "panel": ticket_panel.panel(
                ticket,
                now=now,
                tz=console.tz,
                tree=ticket_panel.category_tree(session, catalog),
                language=agent.language,
            ),
        }

    data = await db.run(load)
    if data is None:
        raise HTTPException(status_code=404, detail="no such ticket, or not yours to see")
    return console.render(
        "ticket.html",
        agent,
        now=now,
        error=request.query_params.get("error"),
        departments=console.department_codes(keep=data["ticket"].department),
        **data,
    )


@dataclass(frozen=True, slots=True)
class TicketWork:
    """What the desk's work on a ticket needs, from the request's dependencies."""

    console: Console
    db: Database
    desk: TicketDesk
    tickets: TicketService


async def _ticket_work(console: ConsoleDep, db: DbDep, desk: DeskDep, tickets: TicketsDep) -> TicketWork:
    return TicketWork(console, db, desk, tickets)


TicketWorkDep = Annotated[TicketWork, Depends(_ticket_work)]


@router.post("/{number}/classify", openapi_extra=role_extra("agent"))
async def classify(number: str, agent: CurrentAgent, request: Request, work: TicketWorkDep) -> Response:
    return await ticket_action(number, "classify", agent, request, work)


@router.post("/{number}/status", openapi_extra=role_extra("agent"))
async def status(number: str, agent: CurrentAgent, request: Request, work: TicketWorkDep) -> Response:
    return await ticket_action(number, "status", agent, request, work)


@router.post("/{number}/propose", openapi_extra=role_extra("agent"))
async def propose(number: str, agent: CurrentAgent, request: Request, work: TicketWorkDep) -> Response:
    return await ticket_action(number, "propose", agent, request, work)


@router.post("/{number}/contact", openapi_extra=role_extra("agent"))
async def contact(number: str, agent: CurrentAgent, request: Request, work: TicketWorkDep) -> Response:
    return await ticket_action(number, "contact", agent, request, work)


@router.post("/{number}/investigation", openapi_extra=role_extra("agent"))
async def investigation(number: str, agent: CurrentAgent, request: Request, work: TicketWorkDep) -> Response:
    return await ticket_action(number, "investigation", agent, request, work)


async def ticket_action(
    number: str, action: str, agent: Agent, request: Request, work: TicketWork
) -> Response:
    form = await request.form()
    back = str(form.get("back") or f"/console/tickets/{number}")
    if not back.startswith("/console/"):
        back = f"/console/tickets/{number}"
    actor = f"agent:{agent.username}"
    desk = work.desk

    def seen(session: Session) -> bool:
        return views.ticket_by_number(session, number, agent) is not None

    if not await work.db.run(seen):
        raise HTTPException(status_code=404, detail="no such ticket, or not yours to see")

    def operation(unit: Work, ticket: Ticket) -> None:
        if views.ticket_by_number(unit.session, ticket.number, agent, Action.WORK) is None:
            raise LifecycleError("this ticket is not yours to work on")
        if action == "classify":
            changes = {k: str(form.get(k) or "")[:64] for k in desk.EDITABLE if k in form}
            tree = ticket_panel.category_tree(unit.session, work.console.tousu.catalog)
            desk.reclassify(unit, ticket, ticket_panel.checked_levels(tree, ticket, changes), actor=actor)
        elif action == "propose":
            desk.propose(unit, ticket, str(form.get("solution") or ""), actor=actor)
        elif action == "contact":
            at = contact_time(str(form.get("at") or ""), work.console.tz)
            note = str(form.get("note") or "").strip()[:1000] or None
            desk.record_contact(unit, ticket, actor=actor, how=str(form.get("how") or ""), note=note, at=at)
        elif action == "investigation":
            finding = str(form.get("finding") or "").strip()
            if not finding:
                raise LifecycleError("write the finding")
            desk.record_investigation(unit, ticket, finding, actor=actor)
        else:
            target = str(form.get("status") or "")
            apply_status(desk, unit, ticket, target, str(form.get("note") or "").strip() or None, actor)

    async def run() -> None:
        await work.tickets.on_ticket(number, operation)
        conversation = await work.db.run(
            lambda s: s.exec(select(Ticket.conversation_id).where(Ticket.number == number)).first()
        )
        if conversation:
            work.console.hub.publish("activity", id=conversation)

    return await act(request, back, run(), t=work.console.words(agent), label=work.console.labels(agent))


def contact_time(raw: str, tz: ZoneInfo) -> datetime | None:
    """The moment a contact form names, written in the configured zone; None when left empty
    (the desk takes now). Refused unless it is exactly a date and a time of day."""
    raw = raw.strip()[:20]  # bounded before parsing; a longer value fails both forms
    if not raw:
        return None
    for form in (LOCAL_MINUTE, LOCAL_MINUTE + ":%S"):
        try:
            local = datetime.strptime(raw, form)
        except ValueError:
            continue
        return local.replace(tzinfo=tz).astimezone(UTC)
    raise LifecycleError("the contact time is not a date and time")


def apply_status(
    desk: TicketDesk, unit: Work, ticket: Ticket, target: str, note: str | None, actor: str
) -> None:
    """Move the ticket to ``target`` the way the desk does that move (a resolution tells the
    customer, a reopening records why); the state machine refuses what it does not allow."""
    if target == "resolved":
        desk.resolve(unit, ticket, actor=actor, note=note)
    elif target == "closed":
        desk.close(unit, ticket, actor=actor, note=note)
    elif target == "cancelled":
        desk.cancel(unit, ticket, actor=actor)
    elif target == "reopened":
        desk.reopen(unit, ticket, actor=actor, reason=note or "reopened", mishandled=False)
    elif target == "solution_proposed":
        raise LifecycleError("use the solution form to propose a solution")
    else:
        desk.move(unit, ticket, target, actor=actor, note=note)
