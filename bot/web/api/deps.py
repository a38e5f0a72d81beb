"""What an API handler may ask for, as ``Annotated`` dependencies: the bot's services, its clock,
and the caller a Bearer token names. The caller carries the same ``Viewer`` the console's access
policy decides on (bot/web/console/cases.py builds it for both), so a token sees what a console
account of that name, role and department would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from bot.app import TousuApp
from bot.domain.access import Role, Viewer
from bot.services.takeover import Handoff
from bot.services.ticket_desk import TicketDesk
from bot.services.tickets import TicketService
from bot.web.api import tokens
from bot.web.console import cases
from bot.web.console.accounts import RANK, Agent
from bot.web.token_buckets import TokenBuckets
from storage.db import Database
from storage.repositories import api_tokens


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request acts as: ``agent`` for the services that take a console agent (takeover),
    ``viewer`` for the access policy, ``token_id`` for the rate limit."""

    agent: Agent
    viewer: Viewer
    token_id: int

    @property
    def actor(self) -> str:
        """How the audit trail and the transcript name this caller."""
        return f"agent:{self.agent.username}"

    def at_least(self, role: Role) -> bool:
        return RANK[self.viewer.role] >= RANK[role]


async def _tousu(request: Request) -> TousuApp:
    tousu: TousuApp = request.app.state.tousu
    return tousu


TousuDep = Annotated[TousuApp, Depends(_tousu)]


async def _db(tousu: TousuDep) -> Database:
    return tousu.db


async def _now(tousu: TousuDep) -> datetime:
    return tousu.clock()


async def _tickets(tousu: TousuDep) -> TicketService:
    return tousu.tickets


async def _desk(tousu: TousuDep) -> TicketDesk:
    return tousu.desk


async def _handoff(tousu: TousuDep) -> Handoff:
    return tousu.handoff


async def _announce(request: Request) -> Callable[[int], None]:
    announce: Callable[[int], None] = request.app.state.announce
    return announce


DbDep = Annotated[Database, Depends(_db)]
AnnounceDep = Annotated[Callable[[int], None], Depends(_announce)]
"""Tell the console a conversation's ticket changed (its live pages redraw)."""
NowDep = Annotated[datetime, Depends(_now)]
TicketsDep = Annotated[TicketService, Depends(_tickets)]
DeskDep = Annotated[TicketDesk, Depends(_desk)]
HandoffDep = Annotated[Handoff, Depends(_handoff)]

_bearer = HTTPBearer(auto_error=False, description="an API token: tousu api-tokens create NAME --role ROLE")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _caller(session: Session, secret: str, now: datetime) -> tuple[Caller, bool] | None:
    """The caller a token names, and whether its last use is to be written down."""
    row = tokens.find(session, secret)
    if row is None:
        return None
    assert row.id is not None
    agent = Agent(
        username=row.name,
        display_name=row.name,
        role=row.role,
        department=row.department,
        language="en",
        csrf="",
    )
    caller = Caller(agent=agent, viewer=cases.viewer_for(session, agent), token_id=row.id)
    return caller, tokens.used(row, now)


async def current_caller(request: Request, db: DbDep, now: NowDep, credentials: Credentials) -> Caller:
    """401 without a live token; 429 when the token spent its rate (``app.state.buckets``)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status_code=401, detail="send Authorization: Bearer <token>", headers=UNAUTHORIZED
        )
    secret = credentials.credentials
    found = await db.read(lambda s: _caller(s, secret, now))
    if found is None:
        raise HTTPException(status_code=401, detail="unknown or revoked token", headers=UNAUTHORIZED)
    caller, used = found
    if used:
        await db.run(lambda s: api_tokens.mark_used(s, token_id=caller.token_id, now=now))
    buckets: TokenBuckets = request.app.state.buckets
    if not buckets.allow(str(caller.token_id)):
        raise HTTPException(status_code=429, detail="too many requests for this token; slow down")
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


async def _supervisor(caller: CallerDep) -> Caller:
    if not caller.at_least(Role.SUPERVISOR):
        raise HTTPException(status_code=403, detail="this needs a supervisor or admin token")
    return caller


async def _admin(caller: CallerDep) -> Caller:
    if not caller.at_least(Role.ADMIN):
        raise HTTPException(status_code=403, detail="this needs an admin token")
    return caller


SupervisorDep = Annotated[Caller, Depends(_supervisor)]
AdminDep = Annotated[Caller, Depends(_admin)]
