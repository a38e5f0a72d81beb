"""The report dashboard and the monthly download, for supervisors and admins. Both count only
the tickets the reader may see: a supervisor's departments, never a complaint naming them."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from bot.domain.access import can_see
from bot.services.report_files import MEDIA_TYPES, render
from bot.services.reports import Period, Report, build
from bot.web.console import cases, charts
from bot.web.console.accounts import Agent
from bot.web.console.deps import ConsoleDep, CurrentSupervisor, DbDep, NowDep, SettingsDep
from bot.web.console.security import role_extra
from storage.models import Ticket

MAX_DAYS = 366

router = APIRouter(prefix="/console/reports")


@router.get("", openapi_extra=role_extra("supervisor"))
async def dashboard(
    agent: CurrentSupervisor,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
    settings: SettingsDep,
    start: str | None = None,
    end: str | None = None,
) -> HTMLResponse:
    tz = settings.general.tz
    today = now.astimezone(tz).date()
    try:
        first = date.fromisoformat(start) if start else today.replace(day=1)
        last = date.fromisoformat(end) if end else today
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="dates look like 2026-11-01") from exc
    if last < first or (last - first).days > MAX_DAYS:
        raise HTTPException(status_code=400, detail=f"choose 1 to {MAX_DAYS} days, start before end")
    period = Period(first, last, tz)
    report = await db.read(lambda s: _visible_report(s, agent, period, now))
    by_category = sorted(
        ((k, float(v["count"])) for k, v in report.by_category.items()), key=lambda kv: -kv[1]
    )
    sla = [
        (name, round(100 * float(rate), 1))
        for name, row in report.sla.items()
        if (rate := row.get("compliance")) is not None
    ]
    figures = {
        "daily": charts.line(
            [(day, float(sum(counts.values()))) for day, counts in report.per_day.items()],
            title="tickets per day",
        ),
        "category": charts.bars(by_category, title="category"),
        "department": charts.bars(_sorted(report.by_department), title="department"),
        "channel": charts.bars(_sorted(report.by_channel), title="channel"),
        "severity": charts.bars(_sorted(report.by_severity), title="severity"),
        "sla": charts.bars(sla, title="SLA met on time", unit="%"),
        "satisfaction": charts.bars(
            [(k, float(v)) for k, v in report.satisfaction["scores"].items()], title="satisfaction"
        ),
    }
    return console.render(
        "reports.html",
        agent,
        report=report,
        figures=figures,
        start=first.isoformat(),
        end=last.isoformat(),
        month=first.strftime("%Y-%m"),
    )


@router.get("/monthly", openapi_extra=role_extra("supervisor"))
async def monthly(
    agent: CurrentSupervisor, db: DbDep, now: NowDep, settings: SettingsDep, month: str, format: str = "xlsx"
) -> Response:
    if format not in MEDIA_TYPES:
        raise HTTPException(status_code=400, detail="format: csv, xlsx or json")
    try:
        period = Period.month(month, settings.general.tz)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="month looks like 2026-11") from exc
    report = await db.read(lambda s: _visible_report(s, agent, period, now))
    body = render(report, format)  # type: ignore[arg-type]
    return Response(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="tousu-{month}.{format}"'},
    )


def _visible_report(session: Session, agent: Agent, period: Period, now: datetime) -> Report:
    viewer = cases.viewer_for(session, agent)

    def include(ticket: Ticket) -> bool:
        return can_see(viewer, cases.ticket_case(ticket))

    return build(session, period, now=now, include=include)


def _sorted(values: dict[str, int]) -> list[tuple[str, float]]:
    return sorted(((k, float(v)) for k, v in values.items()), key=lambda kv: -kv[1])
