"""Admins edit the dialogue flows in the console: the YAML with validation, the conversation
tests and a diff on every check, publishing (refused while anything fails), version history with
author and time, rollback, and the flow drawn as SVG. A published version is live for new
conversations at once, in every process; conversations under way finish on their own version."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from bot.services.flow_publishing import DraftReview, review
from bot.web.console.accounts import Agent
from bot.web.console.context import Console
from bot.web.console.security import adder, require
from dialogues.diagram import svg
from storage.models import FlowVersion
from storage.repositories import flows as flow_repo

AdminDep = Annotated[Agent, Depends(require("admin"))]
MAX_FLOW_BYTES = 512_000


def install(app: FastAPI, console: Console) -> None:
    add = adder(app)
    tousu = console.tousu
    settings = tousu.settings

    async def listing(agent: AdminDep) -> HTMLResponse:
        def load(session: Session) -> list[FlowVersion]:
            rows = [flow_repo.live(session, name=n) for n in flow_repo.names(session)]
            return [r for r in rows if r is not None]

        return console.render("flows.html", agent, flows=await console.db.run(load))

    def versions(
        session: Session, name: str, version: int | None
    ) -> tuple[FlowVersion, FlowVersion, list[FlowVersion]]:
        live = flow_repo.live(session, name=name)
        if live is None:
            raise HTTPException(status_code=404, detail=f"no flow {name}")
        shown = flow_repo.get(session, name=name, version=version) if version else live
        if shown is None:
            raise HTTPException(status_code=404, detail=f"no version {version} of {name}")
        return live, shown, flow_repo.history(session, name=name)

    def page(
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
        try:
            diagram = svg(tousu.catalog.parse(text, source=live.name))
        except ValueError:
            diagram = ""
        return console.render(
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
        )

    async def edit(name: str, agent: AdminDep, request: Request, version: int | None = None) -> HTMLResponse:
        live, shown, history = await console.db.run(lambda s: versions(s, name, version))
        notice = request.query_params.get("published")
        return page(
            agent,
            live,
            history,
            text=shown.content,
            shown=shown,
            notice=f"v{notice}" if notice and notice.isdigit() else None,
        )

    async def draft_of(request: Request) -> str:
        form = await request.form()
        text = str(form.get("content") or "").replace("\r\n", "\n")
        if len(text.encode()) > MAX_FLOW_BYTES:
            raise HTTPException(status_code=413, detail="the flow is too large")
        return text

    async def check(name: str, agent: AdminDep, request: Request) -> HTMLResponse:
        text = await draft_of(request)
        live, _, history = await console.db.run(lambda s: versions(s, name, None))
        report = await asyncio.to_thread(
            review, settings, name=name, text=text, live_text=live.content, messages=tousu.catalog.messages
        )
        return page(
            agent, live, history, text=text, shown=None, report=report, status=200 if report.ok else 422
        )

    async def publish_text(name: str, agent: Agent, text: str, author: str) -> Response:
        live, _, history = await console.db.run(lambda s: versions(s, name, None))
        report = await asyncio.to_thread(
            review, settings, name=name, text=text, live_text=live.content, messages=tousu.catalog.messages
        )
        if not report.ok or report.flow is None:
            return page(agent, live, history, text=text, shown=None, report=report, status=422)
        flow = report.flow

        def store(session: Session) -> int:
            return tousu.catalog.publish(session, flow=flow, author=author)

        number = await console.db.run(store)
        return RedirectResponse(f"/console/flows/{name}?published={number}", status_code=303)

    async def publish(name: str, agent: AdminDep, request: Request) -> Response:
        return await publish_text(name, agent, await draft_of(request), agent.username)

    async def rollback(name: str, agent: AdminDep, request: Request) -> Response:
        form = await request.form()
        raw = str(form.get("version") or "")
        if not raw.isdigit():
            raise HTTPException(status_code=400, detail="which version?")
        _, old, _ = await console.db.run(lambda s: versions(s, name, int(raw)))
        return await publish_text(name, agent, old.content, f"{agent.username} (rollback to v{old.version})")

    async def diagram(name: str, agent: AdminDep, version: int | None = None) -> Response:
        _, shown, _ = await console.db.run(lambda s: versions(s, name, version))
        body = svg(tousu.catalog.parse(shown.content, source=name))
        return Response(
            body, media_type="image/svg+xml", headers={"Content-Security-Policy": "script-src 'none'"}
        )

    add("GET", "/flows", "admin", listing)
    add("GET", "/flows/{name}", "admin", edit)
    add("GET", "/flows/{name}/diagram.svg", "admin", diagram)
    add("POST", "/flows/{name}/check", "admin", check)
    add("POST", "/flows/{name}/publish", "admin", publish)
    add("POST", "/flows/{name}/rollback", "admin", rollback)
