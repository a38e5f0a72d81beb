"""Team > Departments (``/console/team/departments``), for admins: the departments with their
names in both languages, their WeCom group robot (shown masked once saved), whether they take
new tickets, who works in them and which complaint categories go to each; add and edit them.
The rules are ``bot.services.departments``'."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from bot.services import departments, people
from bot.services.departments import DepartmentError
from bot.services.flow_catalog import FlowCatalog
from bot.services.people import Agent
from bot.settings import Settings
from bot.web.console.context import Console
from bot.web.console.deps import CatalogDep, ConsoleDep, CurrentAdmin, DbDep, SettingsDep
from bot.web.console.history import category_choices
from bot.web.console.security import role_extra
from bot.web.console.team import words
from storage.repositories import departments as repo

router = APIRouter(prefix="/console/team/departments")
PAGE = "/console/team/departments"


def _load(session: Session, catalog: FlowCatalog, settings: Settings, language: str) -> dict[str, Any]:
    """Everything both pages show: departments, where each category goes, who works where."""
    routes = departments.routing(session, settings.lifecycle)
    categories = category_choices(session, catalog, language)
    default = settings.lifecycle.default_department
    routed: dict[str, list[tuple[str, str]]] = {}
    for code, name in categories:
        routed.setdefault(routes.get(code, default), []).append((code, name))
    members: dict[str, list[str]] = {}
    for person in people.active_people(session):
        for code in person.departments:
            members.setdefault(code, []).append(person.display_name)
    return {
        "rows": repo.every(session),
        "categories": categories,
        "routed": routed,
        "members": members,
        "default": default,
        "mask": departments.mask,
    }


async def _page(
    console: Console,
    db: DbDep,
    agent: Agent,
    request: Request,
    catalog: FlowCatalog,
    settings: Settings,
    *,
    template: str = "team_departments.html",
    code: str | None = None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    data = await db.run(lambda s: _load(s, catalog, settings, agent.language))
    t = words(console, agent)
    if code is not None:
        found = next((d for d in data["rows"] if d.code == code), None)
        if found is None:
            template, status, values["error"] = "team_departments.html", 404, t("error_no_department")
        data["department"] = found
    return console.render(
        template,
        agent,
        status=status,
        tm=t,
        notice=request.query_params.get("notice"),
        error=values.pop("error", request.query_params.get("error")),
        form=values.pop("form", {}),
        **data,
        **values,
    )


@router.get("", openapi_extra=role_extra("admin"))
async def departments_page(
    request: Request,
    agent: CurrentAdmin,
    console: ConsoleDep,
    db: DbDep,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> HTMLResponse:
    return await _page(console, db, agent, request, catalog, settings)


@router.get("/{code}", openapi_extra=role_extra("admin"))
async def department_page(
    code: str,
    request: Request,
    agent: CurrentAdmin,
    console: ConsoleDep,
    db: DbDep,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> HTMLResponse:
    return await _page(
        console, db, agent, request, catalog, settings, template="team_department.html", code=code
    )


def _fields(form: FormData) -> dict[str, Any]:
    return {
        "name_zh": str(form.get("name_zh") or "")[:200],
        "name_en": str(form.get("name_en") or "")[:200],
        "wecom_url": str(form.get("wecom_url") or "")[:1000],
        "categories": [str(c) for c in form.getlist("category")],
    }


async def _save(
    request: Request,
    agent: Agent,
    console: Console,
    db: DbDep,
    catalog: FlowCatalog,
    settings: Settings,
    code: str | None,
) -> Response:
    form = await request.form()
    t = words(console, agent)
    fields = _fields(form)

    def save(session: Session) -> str:
        known = [c for c, _ in category_choices(session, catalog, agent.language)]
        row = departments.save(
            session,
            code=code,
            clear_wecom=form.get("wecom_clear") == "1",
            active=None if code is None else form.get("active") == "1",
            known_categories=known,
            lifecycle=settings.lifecycle,
            **fields,
        )
        return row.name_en if agent.language == "en" else row.name_zh

    try:
        name = await db.run(save)
    except DepartmentError as exc:
        kept = {k: v for k, v in fields.items() if k != "wecom_url"}  # a secret is not sent back
        template = "team_departments.html" if code is None else "team_department.html"
        return await _page(
            console,
            db,
            agent,
            request,
            catalog,
            settings,
            template=template,
            code=code,
            status=400,
            error=t(f"error_{exc.reason}"),
            form=kept,
        )
    notice = quote(t("added").format(name=name) if code is None else t("saved"))
    return RedirectResponse(f"{PAGE}?notice={notice}", status_code=303)


@router.post("", openapi_extra=role_extra("admin"))
async def add_department(
    request: Request,
    agent: CurrentAdmin,
    console: ConsoleDep,
    db: DbDep,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    return await _save(request, agent, console, db, catalog, settings, None)


@router.post("/{code}", openapi_extra=role_extra("admin"))
async def save_department(
    code: str,
    request: Request,
    agent: CurrentAdmin,
    console: ConsoleDep,
    db: DbDep,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    return await _save(request, agent, console, db, catalog, settings, code)
