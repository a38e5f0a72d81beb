"""Admins edit the dialogue flows in the console: the YAML with validation, the conversation
tests and a diff on every check, publishing (refused while anything fails), version history with
author and time, rollback, and the flow drawn as SVG. A published version is live for new
conversations at once, in every process; conversations under way finish on their own version."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from bot.services.flow_catalog import FlowCatalog
from bot.services.flow_publishing import DraftReview, review
from bot.settings import Settings
from bot.web.console.accounts import Agent
from bot.web.console.context import Console
from bot.web.console.deps import CatalogDep, ConsoleDep, CurrentAdmin, DbDep, SettingsDep
from bot.web.console.security import role_extra
from dialogues.diagram import svg
from storage.db import Database
from storage.models import FlowVersion
from storage.repositories import flows as flow_repo

MAX_FLOW_BYTES = 512_000

router = APIRouter(prefix="/console/flows")


@dataclass(frozen=True, slots=True)
class Editor:
    """What the editor's routes share, from the request's dependencies."""

    console: Console
    db: Database
    settings: Settings
    catalog: FlowCatalog

    async def versions(
        self, name: str, version: int | None
    ) -> tuple[FlowVersion, FlowVersion, list[FlowVersion]]:
        """(live, shown, history) of flow ``name``; 404 for an unknown flow or version."""

        def load(session: Session) -> tuple[FlowVersion, FlowVersion, list[FlowVersion]]:
            live = flow_repo.live(session, name=name)
            if live is None:
                raise HTTPException(status_code=404, detail=f"no flow {name}")
            shown = flow_repo.get(session, name=name, version=version) if version else live
            if shown is None:
                raise HTTPException(status_code=404, detail=f"no version {version} of {name}")
            return live, shown, flow_repo.history(session, name=name)

        return await self.db.run(load)

    async def page(
        self,
        agent: Agent,
        live: FlowVersion,
        history: list[FlowVersion],
        *,
        text: str,
        shown: FlowVersion | None,
        report: DraftReview | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        authors = await self.db.run(self.console.authors)
        try:
            diagram = svg(self.catalog.parse(text, source=live.name))
        except ValueError:
            diagram = ""
        return self.console.render(
            "flow_edit.html",
            agent,
            status=status,
            live=live,
            shown=shown,
            history=history,
            text=text,
            report=report,
            diagram=diagram,
            notice=notice,
            authors=authors,
        )

    async def check_draft(self, name: str, text: str, live: FlowVersion) -> DraftReview:
        """Validation, the conversation tests and the diff against the live version, off the loop."""
        return await asyncio.to_thread(
            review,
            self.settings,
            name=name,
            text=text,
            live_text=live.content,
            messages=self.catalog.messages,
        )

    async def publish(self, name: str, agent: Agent, text: str, author: str) -> Response:
        live, _, history = await self.versions(name, None)
        report = await self.check_draft(name, text, live)
        if not report.ok or report.flow is None:
            return await self.page(agent, live, history, text=text, shown=None, report=report, status=422)
        flow = report.flow

        def store(session: Session) -> int:
            return self.catalog.publish(session, flow=flow, author=author)

        number = await self.db.run(store)
        return RedirectResponse(f"/console/flows/{name}?published={number}", status_code=303)


async def _editor(console: ConsoleDep, db: DbDep, settings: SettingsDep, catalog: CatalogDep) -> Editor:
    return Editor(console, db, settings, catalog)


EditorDep = Annotated[Editor, Depends(_editor)]


@router.get("", openapi_extra=role_extra("admin"))
async def listing(agent: CurrentAdmin, console: ConsoleDep, db: DbDep) -> HTMLResponse:
    def load(session: Session) -> list[FlowVersion]:
        rows = [flow_repo.live(session, name=n) for n in flow_repo.names(session)]
        return [r for r in rows if r is not None]

    flows = await db.run(load)
    return console.render("flows.html", agent, flows=flows, authors=await db.run(console.authors))


@router.get("/{name}", openapi_extra=role_extra("admin"))
async def edit(
    name: str, agent: CurrentAdmin, request: Request, editor: EditorDep, version: int | None = None
) -> HTMLResponse:
    live, shown, history = await editor.versions(name, version)
    notice = request.query_params.get("published")
    return await editor.page(
        agent,
        live,
        history,
        text=shown.content,
        shown=shown,
        notice=f"v{notice}" if notice and notice.isdigit() else None,
    )


@router.get("/{name}/diagram.svg", openapi_extra=role_extra("admin"))
async def diagram(name: str, agent: CurrentAdmin, editor: EditorDep, version: int | None = None) -> Response:
    _, shown, _ = await editor.versions(name, version)
    body = svg(editor.catalog.parse(shown.content, source=name))
    return Response(
        body, media_type="image/svg+xml", headers={"Content-Security-Policy": "script-src 'none'"}
    )


@router.post("/{name}/check", openapi_extra=role_extra("admin"))
async def check(name: str, agent: CurrentAdmin, request: Request, editor: EditorDep) -> HTMLResponse:
    text = await _draft(request)
    live, _, history = await editor.versions(name, None)
    report = await editor.check_draft(name, text, live)
    return await editor.page(
        agent, live, history, text=text, shown=None, report=report, status=200 if report.ok else 422
    )


@router.post("/{name}/publish", openapi_extra=role_extra("admin"))
async def publish(name: str, agent: CurrentAdmin, request: Request, editor: EditorDep) -> Response:
    return await editor.publish(name, agent, await _draft(request), agent.username)


@router.post("/{name}/rollback", openapi_extra=role_extra("admin"))
async def rollback(name: str, agent: CurrentAdmin, request: Request, editor: EditorDep) -> Response:
    form = await request.form()
    raw = str(form.get("version") or "")
    if not raw.isdigit():
        raise HTTPException(status_code=400, detail="which version?")
    _, old, _ = await editor.versions(name, int(raw))
    return await editor.publish(name, agent, old.content, f"{agent.username} (rollback to v{old.version})")


async def _draft(request: Request) -> str:
    form = await request.form()
    text = str(form.get("content") or "").replace("\r\n", "\n")
    if len(text.encode()) > MAX_FLOW_BYTES:
        raise HTTPException(status_code=413, detail="the flow is too large")
    return text
