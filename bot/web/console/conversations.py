"""A conversation in the console: its page, the messages the page polls for, and the moves on it
(take, reply with files, note, transfer, hand back). The policy decides first: 404 for a
conversation the agent may not see, 403 for a move they may not make on one they see."""

from __future__ import annotations

from typing import Any, cast, get_args

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session
from starlette.datastructures import UploadFile

from bot.domain.access import Action
from bot.domain.privacy import mask_phone
from bot.services.takeover import HandBackPoint, Upload
from bot.web.console import history, ticket_panel, views
from bot.web.console.accounts import Agent
from bot.web.console.answers import act, fail
from bot.web.console.deps import (
    CatalogDep,
    ConsoleDep,
    CurrentAgent,
    DbDep,
    HandoffDep,
    NowDep,
)
from bot.web.console.security import role_extra
from storage.db import Database
from storage.models import Conversation, Customer

HAND_BACK: tuple[str, ...] = get_args(HandBackPoint)

router = APIRouter(prefix="/console/conversations")


def conv_url(conversation_id: int) -> str:
    return f"/console/conversations/{conversation_id}"


@router.get("/{conversation_id}", openapi_extra=role_extra("agent"))
async def conversation_page(
    conversation_id: int,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
    catalog: CatalogDep,
) -> HTMLResponse:
    def load(session: Session) -> dict[str, Any] | None:
        view = views.conversation(session, conversation_id, agent, now=now)
        if view is None:
            return None
        words = history.wording(
            session,
            catalog,
            console.words(agent),
            console.labels(agent),
            agent.language,
            when=lambda moment: console.when(moment, agent.language),
        )
        history.in_words(view.messages, words, view.customer.name, console.tz)
        return {
            "view": view,
            "words": words,
            "lines": history.sentences(view.events, words),
            "categories": list(words.categories.items()),
            "panel": ticket_panel.panel(
                view.current,
                now=now,
                tz=console.tz,
                tree=ticket_panel.category_tree(session, catalog),
                language=agent.language,
            )
            if view.current
            else None,
            "people": words.people,
            "masked_phone": mask_phone(phone)
            if (phone := view.customer.phone or _ticket_phone(view))
            else "",
        }

    data = await db.run(load)
    if data is None:
        raise HTTPException(status_code=404, detail="no such conversation, or not yours to see")
    return console.render(
        "conversation.html",
        agent,
        now=now,
        error=request.query_params.get("error"),
        departments=console.department_codes(),
        **data,
    )


@router.get("/{conversation_id}/messages", openapi_extra=role_extra("agent"))
async def conversation_messages(
    conversation_id: int,
    agent: CurrentAgent,
    console: ConsoleDep,
    db: DbDep,
    catalog: CatalogDep,
    after: int = 0,
) -> JSONResponse:
    def load(session: Session) -> dict[str, Any] | None:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not views.can_open(session, conv, agent):
            return None
        words = history.wording(
            session,
            catalog,
            console.words(agent),
            console.labels(agent),
            agent.language,
            when=lambda moment: console.when(moment, agent.language),
        )
        customer = session.get(Customer, conv.customer_id)
        items = views.messages_after(session, conversation_id, after)
        return {
            "messages": history.in_words(items, words, customer.name if customer else None, console.tz),
            "status": conv.status,
            "held_by": conv.assigned_agent if conv.status == "agent" else None,
        }

    data = await db.run(load)
    if data is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.post("/{conversation_id}/take", openapi_extra=role_extra("agent"))
async def take(
    conversation_id: int,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    handoff: HandoffDep,
) -> Response:
    await _can_open(db, conversation_id, agent, Action.TAKE)
    return await act(
        request, conv_url(conversation_id), handoff.take(conversation_id, agent), t=console.words(agent)
    )


@router.post("/{conversation_id}/reply", openapi_extra=role_extra("agent"))
async def reply(
    conversation_id: int,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    handoff: HandoffDep,
) -> Response:
    await _can_open(db, conversation_id, agent, Action.WORK)
    form = await request.form()
    most = console.settings.max_upload_bytes
    uploads: list[Upload] = []
    for item in form.getlist("files"):
        if isinstance(item, UploadFile) and item.filename:
            data = await item.read(most + 1)
            if len(data) > most:
                return fail(request, conv_url(conversation_id), console.words(agent)("error_file_large"))
            uploads.append(Upload(item.filename, item.content_type or "application/octet-stream", data))
    text = str(form.get("text") or "")
    return await act(
        request,
        conv_url(conversation_id),
        handoff.reply(conversation_id, agent, text, uploads),
        t=console.words(agent),
    )


@router.post("/{conversation_id}/note", openapi_extra=role_extra("agent"))
async def note(
    conversation_id: int,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    handoff: HandoffDep,
) -> Response:
    await _can_open(db, conversation_id, agent, Action.WORK)
    form = await request.form()
    text = str(form.get("text") or "")
    return await act(
        request, conv_url(conversation_id), handoff.note(conversation_id, agent, text), t=console.words(agent)
    )


@router.post("/{conversation_id}/transfer", openapi_extra=role_extra("agent"))
async def transfer(
    conversation_id: int,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    handoff: HandoffDep,
) -> Response:
    await _can_open(db, conversation_id, agent, Action.TRANSFER)
    form = await request.form()
    to_user = str(form.get("to_user") or "") or None
    to_department = str(form.get("to_department") or "") or None
    return await act(
        request,
        conv_url(conversation_id),
        handoff.transfer(conversation_id, agent, to_user=to_user, to_department=to_department),
        t=console.words(agent),
    )


@router.post("/{conversation_id}/handback", openapi_extra=role_extra("agent"))
async def hand_back(
    conversation_id: int,
    agent: CurrentAgent,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    handoff: HandoffDep,
) -> Response:
    """Back to the bot; the agent lands on the queue (the conversation may no longer be theirs
    to see), told it is done."""
    await _can_open(db, conversation_id, agent, Action.WORK)
    t = console.words(agent)
    form = await request.form()
    point = str(form.get("point") or "resume")
    if point not in HAND_BACK:
        return fail(request, conv_url(conversation_id), t("error_refused"))
    return await act(
        request,
        conv_url(conversation_id),
        handoff.hand_back(conversation_id, agent, cast(HandBackPoint, point)),
        t=t,
        done="/console?done=handed_back",
    )


def _ticket_phone(view: views.ConversationView) -> str | None:
    return view.current.contact_phone if view.current else None


async def _can_open(db: Database, conversation_id: int, agent: Agent, action: Action = Action.SEE) -> None:
    """404 unless the policy lets ``agent`` see the conversation; 403 when they see it but may
    not do ``action`` on it."""

    def check(session: Session) -> int:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not views.can_open(session, conv, agent):
            return 404
        return 200 if views.can_open(session, conv, agent, action) else 403

    code = await db.run(check)
    if code == 403:
        raise HTTPException(status_code=403, detail="this conversation is not yours to do that with")
    if code != 200:
        raise HTTPException(status_code=404, detail="no such conversation, or not yours to see")
