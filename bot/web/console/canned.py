"""Canned replies (admins keep the list; agents pick from it on a conversation's page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from bot.web.console.answers import fail
from bot.web.console.deps import ConsoleDep, CurrentAdmin, DbDep
from bot.web.console.security import role_extra
from storage.models import CannedReply

router = APIRouter(prefix="/console/canned")


@router.get("", openapi_extra=role_extra("admin"))
async def canned_page(agent: CurrentAdmin, console: ConsoleDep, db: DbDep) -> HTMLResponse:
    rows = await db.run(lambda s: list(s.exec(select(CannedReply).order_by(col(CannedReply.title))).all()))
    return console.render("canned.html", agent, rows=rows)


@router.post("", openapi_extra=role_extra("admin"))
async def add_canned(agent: CurrentAdmin, request: Request, db: DbDep) -> Response:
    form = await request.form()
    title = str(form.get("title") or "").strip()[:100]
    text = str(form.get("text") or "").strip()
    language = str(form.get("language") or "zh")
    if not title or not text or language not in ("zh", "en", "any"):
        return fail(request, "/console/canned", "a canned reply needs a title, a text and a language")
    row = CannedReply(title=title, text=text[:4000], language=language, created_by=agent.username)
    await db.run(lambda s: s.add(row))
    return RedirectResponse("/console/canned", status_code=303)


@router.post("/{canned_id}/delete", openapi_extra=role_extra("admin"))
async def delete_canned(canned_id: int, agent: CurrentAdmin, db: DbDep) -> Response:
    def drop(session: Session) -> None:
        row = session.get(CannedReply, canned_id)
        if row is not None:
            session.delete(row)

    await db.run(drop)
    return RedirectResponse("/console/canned", status_code=303)
