"""The report dashboard and the monthly download, for supervisors and admins. Both count only
the tickets the reader may see: a supervisor's departments, never a complaint naming them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from bot.domain.access import can_see
from bot.services.report_files import MEDIA_TYPES, render
from bot.services.report_labels import Naming
from bot.services.reports import Period, Report, build
from bot.web.console import cases, charts, history
from bot.web.console.accounts import Agent
from bot.web.console.context import standalone
from bot.web.console.deps import CatalogDep, ConsoleDep, CurrentSupervisor, DbDep, NowDep, SettingsDep
from bot.web.console.security import role_extra
from dialogues.types import Language
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
    catalog: CatalogDep,
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
    t = console.words(agent)
    label = console.labels(agent)
    names = await db.read(lambda s: history.category_names(s, catalog, agent.language))

    def named(values: dict[str, int], word: Callable[[str], str]) -> list[tuple[str, float]]:
        return [(word(k), v) for k, v in _sorted(values)]

    by_category = sorted(
        ((names.get(k, k), float(v["count"])) for k, v in report.by_category.items()), key=lambda kv: -kv[1]
    )
    sla = [
        (standalone(label("deadline", name)), round(100 * float(rate), 1))
        for name, row in report.sla.items()
        if (rate := row.get("compliance")) is not None
    ]
    figures = {
        "daily": charts.line(
            [(day, float(sum(counts.values()))) for day, counts in report.per_day.items()],
            title=t("chart_daily"),
        ),
        "category": charts.bars(by_category, title=t("category")),
        "department": charts.bars(
            named(
                report.by_department,
                lambda d: t("unassigned") if d == "unassigned" else standalone(label("department", d)),
            ),
            title=t("department"),
        ),
        "channel": charts.bars(
            named(report.by_channel, lambda c: standalone(t("channel_" + c, c))), title=t("channel")
        ),
        "severity": charts.bars(named(report.by_severity, lambda v: t(v)), title=t("severity")),
        "sla": charts.bars(sla, title=t("chart_sla"), unit="%"),
        "satisfaction": charts.bars(
            [(k, float(v)) for k, v in report.satisfaction["scores"].items()], title=t("satisfaction")
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
        categories=names,
    )


@router.get("/monthly", openapi_extra=role_extra("supervisor"))
async def monthly(
    agent: CurrentSupervisor,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    month: str,
    format: str = "xlsx",
) -> Response:
    """The month as a file: the CSV and the workbook in the reader's language, every code named
    (a department head reads them in Excel); the JSON with the codes, as the REST API gives it."""
    if format not in MEDIA_TYPES:
        raise HTTPException(status_code=400, detail="format: csv, xlsx or json")
    try:
        period = Period.month(month, settings.general.tz)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="month looks like 2026-11") from exc
    report, names = await db.read(
        lambda s: (_visible_report(s, agent, period, now), history.category_names(s, catalog, agent.language))
    )
    language: Language = "en" if agent.language == "en" else "zh"
    naming = Naming(console.tousu.texts, language, names, console.departments)
    body = render(report, format, naming)  # type: ignore[arg-type]
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
