"""What a console handler may ask for, as ``Annotated`` dependencies: the console (pages, live
hub), the database, the time, the services it drives, the session cookie and the agent a route
requires. Handlers declare these and nothing else; none reaches for the app object.

Each is an ``async def`` (FastAPI runs a plain function in a worker thread) and each is solved
once per request: ``CurrentAgent`` and a sub-dependency asking for it share one session lookup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Cookie, Depends, HTTPException, Request

from bot.app import TousuApp
from bot.services.flow_catalog import FlowCatalog
from bot.services.inbox import ConversationManager
from bot.services.nlu_review import NluReview
from bot.services.takeover import Handoff
from bot.services.ticket_desk import TicketDesk
from bot.services.tickets import TicketService
from bot.settings import Settings
from bot.web.console.accounts import RANK, Agent
from bot.web.console.context import Console
from bot.web.console.security import SESSION_COOKIE, NotLoggedIn, csrf_value, same
from storage.db import Database


async def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(_console)]


async def _tousu(console: ConsoleDep) -> TousuApp:
    return console.tousu


_Tousu = Annotated[TousuApp, Depends(_tousu)]


async def _db(tousu: _Tousu) -> Database:
    return tousu.db


async def _now(tousu: _Tousu) -> datetime:
    return tousu.clock()


async def _settings(tousu: _Tousu) -> Settings:
    return tousu.settings


async def _handoff(tousu: _Tousu) -> Handoff:
    return tousu.handoff


async def _tickets(tousu: _Tousu) -> TicketService:
    return tousu.tickets


async def _desk(tousu: _Tousu) -> TicketDesk:
    return tousu.desk


async def _catalog(tousu: _Tousu) -> FlowCatalog:
    return tousu.catalog


async def _nlu_review(tousu: _Tousu) -> NluReview:
    return tousu.nlu_review


async def _manager(tousu: _Tousu) -> ConversationManager:
    return tousu.manager


DbDep = Annotated[Database, Depends(_db)]
NowDep = Annotated[datetime, Depends(_now)]
"""The bot's clock, read once when the request's dependencies are solved."""
SettingsDep = Annotated[Settings, Depends(_settings)]
HandoffDep = Annotated[Handoff, Depends(_handoff)]
TicketsDep = Annotated[TicketService, Depends(_tickets)]
DeskDep = Annotated[TicketDesk, Depends(_desk)]
CatalogDep = Annotated[FlowCatalog, Depends(_catalog)]
NluReviewDep = Annotated[NluReview, Depends(_nlu_review)]
ManagerDep = Annotated[ConversationManager, Depends(_manager)]

SessionToken = Annotated[str | None, Cookie(alias=SESSION_COOKIE)]
"""The console session cookie as sent (``None``: none)."""


async def session_agent(console: ConsoleDep, token: SessionToken = None) -> Agent | None:
    return await console.agent_for(token)


MaybeAgent = Annotated[Agent | None, Depends(session_agent)]
"""Who is logged in, if anyone: the session behind the cookie, live and of an active account."""


def require(role: str) -> Callable[..., Awaitable[Agent]]:
    """The dependency of a route that ``role`` and above may call: logged in (else
    ``NotLoggedIn``), of that rank (else 403) and, on anything but GET, with the session's CSRF
    token (else 403)."""
    if role not in RANK:
        raise ValueError(f"unknown role {role}")

    async def dependency(request: Request, agent: MaybeAgent) -> Agent:
        if agent is None:
            raise NotLoggedIn()
        if not agent.at_least(role):
            raise HTTPException(status_code=403, detail="your role may not do this")
        if request.method not in ("GET", "HEAD") and not same(await csrf_value(request), agent.csrf):
            raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page")
        return agent

    return dependency


CurrentAgent = Annotated[Agent, Depends(require("agent"))]
CurrentSupervisor = Annotated[Agent, Depends(require("supervisor"))]
CurrentAdmin = Annotated[Agent, Depends(require("admin"))]
