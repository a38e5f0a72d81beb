"""The ticket list (``/console/tickets``): every ticket the access policy lets the reader see,
filtered, searched, sorted and paged; the same list as CSV or xlsx; and the supervisor's bulk
assignment and status moves. Unassigned open tickets head the default order, so a ticket
routed to a department with nobody in it is never out of sight."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from openpyxl import Workbook
from sqlmodel import Session

from bot.domain.access import Action, allows
from bot.domain.catalog import Words
from bot.domain.enums import Severity, TicketKind, TicketStatus
from bot.domain.states import OPEN
from bot.services.flow_catalog import FlowCatalog
from bot.services.work import Work
from bot.web.console import cases
from bot.web.console.accounts import Agent
from bot.web.console.answers import Refusal, act
from bot.web.console.context import Console
from bot.web.console.deps import (
    CatalogDep,
    ConsoleDep,
    CurrentAgent,
    CurrentSupervisor,
    DbDep,
    NowDep,
)
from bot.web.console.history import category_choices, people
from bot.web.console.security import role_extra
from bot.web.console.tickets import TicketWorkDep, apply_status
from storage.models import Ticket, TicketDeadline
from storage.repositories.ticket_list import (
    SORTS,
    TicketQuery,
    delete_filter,
    find_tickets,
    nearest_clocks,
    save_filter,
    saved_filters,
)

router = APIRouter(prefix="/console/tickets")

PAGE_SIZE = 50
SCANNED = 5000
"""The most matching tickets read for one list (the policy filters them after the query)."""
CHANNELS = ("wechat", "telegram", "webchat", "console")
FILTER_KEYS = (
    "status",
    "kind",
    "severity",
    "department",
    "assignee",
    "channel",
    "category",
    "from",
    "to",
    "deadline",
    "q",
    "sort",
)


@dataclass(frozen=True, slots=True)
class Row:
    ticket: Ticket
    customer: str
    clock: TicketDeadline | None
    countdown: str
    late: bool
    near: bool


@dataclass
class Listing:
    rows: list[Row]
    total: int
    page: int
    pages: int
    values: dict[str, Any] = field(default_factory=dict)


def _day(text: str, tz: ZoneInfo) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=tz)
    except ValueError:
        return None


def parse(params: Mapping[str, Any], agent: Agent, tz: ZoneInfo) -> tuple[TicketQuery, dict[str, Any]]:
    """The list's query from the URL; the values echo into the form. ``assignee``: ``me``,
    ``none`` (unassigned) or a username; ``from``/``to`` are days in the configured zone,
    ``to`` included."""

    def one(key: str) -> str:
        value = params.get(key)
        return str(value).strip()[:200] if value else ""

    getlist = getattr(params, "getlist", None)
    statuses = [s for s in (getlist("status") if getlist else [one("status")]) if s in set(TicketStatus)]
    status_all = one("status") == "open"
    if status_all:
        statuses = sorted(OPEN)
    kinds = [k for k in (getlist("kind") if getlist else [one("kind")]) if k in set(TicketKind)]
    assignee = one("assignee")
    start = _day(one("from"), tz)
    end = _day(one("to"), tz)
    sort = one("sort") if one("sort") in SORTS else "attention"
    query = TicketQuery(
        statuses=tuple(statuses),
        kinds=tuple(kinds),
        severity=one("severity") if one("severity") in set(Severity) else None,
        department=one("department") or None,
        assignee=agent.username if assignee == "me" else (assignee if assignee not in ("", "none") else None),
        unassigned=assignee == "none",
        channel=one("channel") or None,
        category=one("category") or None,
        created_from=start,
        created_to=end + timedelta(days=1) if end else None,
        deadline=one("deadline") if one("deadline") in ("near", "past") else None,
        text=one("q") or None,
        sort=sort,
    )
    values = {key: one(key) for key in FILTER_KEYS}
    values["status"] = "open" if status_all else (statuses[0] if statuses else "")
    values["kind"] = kinds[0] if kinds else ""
    values["sort"] = sort
    return query, values


def countdown(due: datetime, now: datetime, t: Words) -> str:
    """``剩 3小时5分`` / ``超时 2天1小时``: the nearest clock in words, to the minute."""
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days}{t('unit_day')}")
    if hours:
        parts.append(f"{hours}{t('unit_hour')}")
    if not days:
        parts.append(f"{mins}{t('unit_minute')}")
    span = "".join(parts).strip()
    return t("time_late").format(time=span) if seconds < 0 else t("time_left").format(time=span)


def visible_tickets(
    session: Session, query: TicketQuery, agent: Agent, now: datetime
) -> list[tuple[Ticket, str]]:
    found = find_tickets(session, query, now=now, open_statuses=sorted(OPEN), limit=SCANNED)
    viewer = cases.viewer_for(session, agent)
    tickets = [t for t, _ in found]
    keep = [allows(viewer, Action.SEE, case) for case in cases.cases_of_tickets(session, tickets)]
    return [(t, name or t.contact_name or "") for (t, name), ok in zip(found, keep, strict=True) if ok]


def listing(session: Session, query: TicketQuery, agent: Agent, now: datetime, page: int, t: Any) -> Listing:
    seen = visible_tickets(session, query, agent, now)
    pages = max(1, -(-len(seen) // PAGE_SIZE))
    page = min(max(1, page), pages)
    chunk = seen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    clocks = nearest_clocks(session, [t.id for t, _ in chunk if t.id is not None])
    rows = []
    for ticket, name in chunk:
        clock = clocks.get(ticket.id or 0) if ticket.status in OPEN else None
        rows.append(
            Row(
                ticket=ticket,
                customer=name,
                clock=clock,
                countdown=countdown(clock.due_at, now, t) if clock else "",
                late=clock is not None and clock.due_at <= now,
                near=clock is not None and clock.warn_at <= now < clock.due_at,
            )
        )
    return Listing(rows=rows, total=len(seen), page=page, pages=pages)


def _link(values: Mapping[str, Any], **changes: Any) -> str:
    merged = {k: v for k, v in {**values, **changes}.items() if v not in ("", None)}
    return "?" + urlencode(merged)


@router.get("", openapi_extra=role_extra("agent"))
async def ticket_list(
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
    catalog: CatalogDep,
) -> HTMLResponse:
    query, values = parse(request.query_params, agent, console.tz)
    try:
        page = int(request.query_params.get("page") or 1)
    except ValueError:
        page = 1
    t = console.words(agent)

    def load(session: Session) -> dict[str, Any]:
        return {
            "saved": saved_filters(session, username=agent.username),
            "listing": listing(session, query, agent, now, page, t),
            "people": people(session),
            "categories": category_choices(session, catalog, agent.language),
        }

    data = await db.run(load)
    return console.render(
        "tickets.html",
        agent,
        now=now,
        values=values,
        link=lambda **changes: _link(values, **changes),
        export=lambda fmt: "/console/tickets/export." + fmt + _link(values),
        statuses=list(TicketStatus),
        kinds=list(TicketKind),
        channels=CHANNELS,
        sorts=SORTS,
        departments=console.department_codes(everyone=True),
        moves=sorted({str(s) for s in TicketStatus} - {"new", "solution_proposed"}),
        error=request.query_params.get("error"),
        done=request.query_params.get("done"),
        **data,
    )


def _table(
    session: Session, query: TicketQuery, agent: Agent, now: datetime, console: Console, catalog: FlowCatalog
) -> list[list[str]]:
    language = agent.language
    t = console.words(agent)
    label = console.labels(agent)
    categories = dict(category_choices(session, catalog, language))
    seen = visible_tickets(session, query, agent, now)
    clocks = nearest_clocks(session, [tk.id for tk, _ in seen if tk.id is not None])
    head = [
        t(k)
        for k in (
            "number",
            "kind",
            "status",
            "severity",
            "category",
            "department",
            "assignee",
            "customer",
            "channel",
            "created",
            "next_deadline",
            "description",
        )
    ]
    body = []
    for ticket, name in seen:
        clock = clocks.get(ticket.id or 0) if ticket.status in OPEN else None
        body.append(
            [
                ticket.number,
                label("kind", ticket.kind),
                label("status", ticket.status),
                t(ticket.severity),
                categories.get(ticket.category or "", ticket.category or ""),
                label("department", ticket.department or ""),
                ticket.assignee or "",
                name,
                t("channel_" + ticket.channel, ticket.channel),
                console.when(ticket.created_at, language),
                console.when(clock.due_at, language) if clock else "",
                ticket.description,
            ]
        )
    return [head, *body]


@router.get("/export.{fmt}", openapi_extra=role_extra("agent"))
async def export(
    fmt: str,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
    catalog: CatalogDep,
) -> Response:
    """The filtered list (every page) as CSV (UTF-8 with BOM, for Excel) or xlsx."""
    if fmt not in ("csv", "xlsx"):
        return Response(status_code=404)
    query, _ = parse(request.query_params, agent, console.tz)
    table = await db.run(lambda s: _table(s, query, agent, now, console, catalog))
    stamp = now.astimezone(console.tz).strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(table)
        return Response(
            ("\ufeff" + out.getvalue()).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="tickets-{stamp}.csv"'},
        )
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in table:
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="tickets-{stamp}.xlsx"'},
    )


@router.post("/filters", openapi_extra=role_extra("agent"))
async def save_current(agent: CurrentAgent, request: Request, db: DbDep) -> Response:
    """Save the list's current filters under a name, for this person only."""
    form = await request.form()
    name = str(form.get("name") or "").strip()[:100]
    query = str(form.get("query") or "")[:2000].lstrip("?")
    if not name:
        return RedirectResponse(f"/console/tickets?{query}", status_code=303)
    clean = urlencode([(k, v) for k, v in parse_qsl(query) if k in FILTER_KEYS])
    await db.run(lambda s: save_filter(s, username=agent.username, name=name, query=clean))
    return RedirectResponse(f"/console/tickets?{clean}", status_code=303)


@router.post("/filters/{filter_id}/delete", openapi_extra=role_extra("agent"))
async def forget(filter_id: int, agent: CurrentAgent, db: DbDep) -> Response:
    await db.run(lambda s: delete_filter(s, username=agent.username, filter_id=filter_id))
    return RedirectResponse("/console/tickets", status_code=303)


@router.post("/bulk", openapi_extra=role_extra("supervisor"))
async def bulk(agent: CurrentSupervisor, request: Request, work: TicketWorkDep) -> Response:
    """Assign or move the ticked tickets, each in its own transaction: one refusal (a recused
    person, a move the state machine forbids) leaves the others done and is reported."""
    form = await request.form()
    back = str(form.get("back") or "/console/tickets")
    if not back.startswith("/console/tickets"):
        back = "/console/tickets"
    numbers = [str(n) for n in form.getlist("number")][:200]
    action = str(form.get("action") or "")
    assignee = str(form.get("assignee") or "")
    target = str(form.get("status") or "")
    actor = f"agent:{agent.username}"
    t = work.console.words(agent)

    async def run() -> None:
        if not numbers:
            raise Refusal(t("bulk_none"))
        failed: list[str] = []
        for number in numbers:

            def operation(unit: Work, ticket: Ticket) -> None:
                if not allows(
                    cases.viewer_for(unit.session, agent),
                    Action.WORK,
                    cases.case_of_ticket(unit.session, ticket),
                ):
                    raise Refusal(ticket.number)
                if action == "assign":
                    work.desk.assign(unit, ticket, assignee, actor=actor)
                else:
                    apply_status(work.desk, unit, ticket, target, None, actor)

            try:
                await work.tickets.on_ticket(number, operation)
            except ValueError:
                failed.append(number)
        if failed:
            raise Refusal(t("bulk_failed").format(numbers=", ".join(failed)))

    return await act(request, back, run(), t=t)
