"""``/reports/monthly``: the monthly analysis as JSON, over the tickets the token may see (as the
console's report: a supervisor's departments, never a complaint naming them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlmodel import Session

from bot.domain.access import can_see
from bot.services.reports import Period, build
from bot.web.api.deps import DbDep, NowDep, SupervisorDep, TousuDep
from bot.web.api.schemas import MonthlyReport
from bot.web.console import cases
from storage.models import Ticket

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/monthly", response_model=MonthlyReport)
async def monthly(
    caller: SupervisorDep,
    db: DbDep,
    now: NowDep,
    tousu: TousuDep,
    month: Annotated[str, Query(pattern=r"^2\d{3}-(0[1-9]|1[0-2])$", description="2026-11")],
) -> MonthlyReport:
    """Supervisor and admin tokens."""
    try:
        period = Period.month(month, tousu.settings.general.tz)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="month looks like 2026-11") from exc

    def load(session: Session) -> MonthlyReport:
        def include(ticket: Ticket) -> bool:
            return can_see(caller.viewer, cases.ticket_case(ticket))

        report = build(session, period, now=now, include=include)
        return MonthlyReport.model_validate(report.as_dict())

    return await db.read(load)
