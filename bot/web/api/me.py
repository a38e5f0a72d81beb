"""``GET /me``: which token this is, to check a client's set-up."""

from __future__ import annotations

from fastapi import APIRouter

from bot.web.api.deps import CallerDep
from bot.web.api.schemas import CallerOut

router = APIRouter(tags=["tokens"])


@router.get("/me", response_model=CallerOut)
async def me(caller: CallerDep) -> CallerOut:
    agent = caller.agent
    return CallerOut(name=agent.username, role=agent.role, department=agent.department)
