"""The queue: the home page (waiting, held, alerts), the lists the page refreshes, the live event
stream, staff alerts, and the supervisor's overview. Each shows only what the access policy lets
the reader see (bot/web/console/views.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import Session

from bot.domain.alert_words import alert_text
from bot.domain.states import OPEN
from bot.web.console import history, ticket_list, views
from bot.web.console.deps import CatalogDep, ConsoleDep, CurrentAgent, CurrentSupervisor, DbDep, NowDep
from bot.web.console.security import role_extra
from storage.models import Conversation, StaffAlert
from storage.repositories.ticket_list import TicketQuery

router = APIRouter(prefix="/console")


DONE = frozenset({"handed_back"})
"""What a page may say was just done (``?done=``): a catalog key, never the URL's text."""


@router.get("", openapi_extra=role_extra("agent"))
async def home(
    agent: CurrentAgent, request: Request, console: ConsoleDep, db: DbDep, catalog: CatalogDep
) -> HTMLResponse:
    def load(session: Session) -> dict[str, Any]:
        categories = dict(history.category_choices(session, catalog, agent.language))
        alerts = views.alerts(session, agent, limit=20)
        return {
            "queue": views.queue(session, agent),
            "mine": views.held(session, agent),
            "alerts": alerts,
            "alert_texts": {a.id: alert_text(a.text, agent.language, categories) for a in alerts},
            "people": dict(history.people(session)),
        }

    done = request.query_params.get("done")
    return console.render("home.html", agent, done=done if done in DONE else None, **await db.run(load))


@router.get("/lists", openapi_extra=role_extra("agent"))
async def lists(agent: CurrentAgent, console: ConsoleDep, db: DbDep) -> HTMLResponse:
    def load(session: Session) -> dict[str, Any]:
        return {
            "queue": views.queue(session, agent),
            "mine": views.held(session, agent),
            "people": dict(history.people(session)),
        }

    return console.render("lists.html", agent, **await db.run(load))


@router.get("/events", openapi_extra=role_extra("agent"))
async def events(agent: CurrentAgent, console: ConsoleDep, db: DbDep) -> StreamingResponse:
    async def visible(conversation_id: int) -> bool:
        """Each page hears only of the conversations its agent may see."""

        def check(session: Session) -> bool:
            conv = session.get(Conversation, conversation_id)
            return conv is not None and views.can_open(session, conv, agent)

        return bool(await db.run(check))

    return StreamingResponse(
        console.hub.stream(visible),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/alerts/{alert_id}/read", openapi_extra=role_extra("agent"))
async def read_alert(alert_id: int, agent: CurrentAgent, db: DbDep, now: NowDep) -> Response:
    def mark(session: Session) -> None:
        alert = session.get(StaffAlert, alert_id)
        if alert is None or alert.username != agent.username:
            raise HTTPException(status_code=404, detail="no such alert")
        alert.read_at = alert.read_at or now
        session.add(alert)

    await db.run(mark)
    return RedirectResponse("/console", status_code=303)


@router.get("/supervisor", openapi_extra=role_extra("supervisor"))
async def supervisor_page(
    agent: CurrentSupervisor, console: ConsoleDep, db: DbDep, now: NowDep
) -> HTMLResponse:
    def load(session: Session) -> dict[str, Any]:
        unassigned = TicketQuery(statuses=tuple(sorted(OPEN)), unassigned=True, sort="created")
        return {
            "view": views.supervisor(session, agent, now=now),
            "unassigned": [t for t, _ in ticket_list.visible_tickets(session, unassigned, agent, now)][:100],
            "people": dict(history.people(session)),
        }

    return console.render("supervisor.html", agent, now=now, **await db.run(load))
