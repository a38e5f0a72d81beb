"""``/conversations``: the ones the token may see, a transcript page, and a message sent as an
agent through the takeover path the console uses (bot/services/takeover.py), so the customer
gets it on their channel and the transcript names the token's agent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlmodel import Session

from bot.domain.access import Action, allows, can_see
from bot.domain.enums import ConversationStatus
from bot.services.takeover import HandoffError
from bot.web.api import paging
from bot.web.api.deps import Caller, CallerDep, DbDep, HandoffDep
from bot.web.api.schemas import (
    MAX_ID,
    NO_NUL,
    Accepted,
    AgentMessageIn,
    ConversationOut,
    ConversationPage,
    MessageOut,
    Transcript,
)
from bot.web.console import cases
from storage.db import Database
from storage.models import Conversation, Message
from storage.repositories import api_reads

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
router = APIRouter(prefix="/conversations", tags=["conversations"])
NOT_FOUND = "no such conversation, or not this token's to see"
TRANSCRIPT_PAGE = 500


def _out(conv: Conversation) -> ConversationOut:
    return ConversationOut.model_validate(conv, from_attributes=True)


@router.get("", response_model=ConversationPage)
async def list_conversations(
    caller: CallerDep,
    db: DbDep,
    status: ConversationStatus | None = None,
    waiting: Annotated[bool, Query(description="only those waiting for a person")] = False,
    cursor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> ConversationPage:
    """Newest first; only those the access policy lets the token see."""
    before = paging.decode("c", cursor)

    def load(session: Session) -> ConversationPage:
        def fetch(position: int | None, size: int) -> Sequence[Conversation]:
            return api_reads.conversations_before(
                session, before=position, limit=size, status=status, waiting=waiting
            )

        def keep(rows: Sequence[Conversation]) -> list[bool]:
            of_customer = cases.ticket_rows(session, [c.customer_id for c in rows])
            return [
                can_see(caller.viewer, cases.conversation_case(c, of_customer.get(c.customer_id, [])))
                for c in rows
            ]

        rows, last = paging.page(fetch, keep, before=before, limit=limit)
        return ConversationPage(
            items=[_out(c) for c in rows], next_cursor=paging.encode("c", last) if last else None
        )

    return await db.read(load)


def _allowed(session: Session, conversation_id: int, caller: Caller, action: Action) -> int:
    """200, 403 (seen but not ``action``) or 404 (not there, or not seen)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        return 404
    case = cases.case_of_conversation(session, conv)
    if not can_see(caller.viewer, case):
        return 404
    return 200 if allows(caller.viewer, action, case) else 403


async def _check(db: Database, conversation_id: int, caller: Caller, action: Action = Action.SEE) -> None:
    code = await db.read(lambda s: _allowed(s, conversation_id, caller, action))
    if code == 404:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    if code == 403:
        raise HTTPException(status_code=403, detail=f"this token may not {action.value} this conversation")


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: RowId, caller: CallerDep, db: DbDep) -> ConversationOut:
    await _check(db, conversation_id, caller)
    conv = await db.read(lambda s: s.get(Conversation, conversation_id))
    assert conv is not None
    return _out(conv)


def _message(row: Message) -> MessageOut:
    assert row.id is not None
    return MessageOut(
        id=row.id,
        direction=row.direction,
        author=row.author,
        kind=row.kind,
        text=row.text,
        attachments=[str(a.get("name") or a.get("kind") or "file") for a in row.attachments],
        created_at=row.created_at,
        delivery=row.delivery,
    )


@router.get("/{conversation_id}/messages", response_model=Transcript)
async def transcript(
    conversation_id: RowId,
    caller: CallerDep,
    db: DbDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="the last message id already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=TRANSCRIPT_PAGE)] = 200,
) -> Transcript:
    """Oldest first, from after the message id ``after``; staff notes included."""
    await _check(db, conversation_id, caller)

    def load(session: Session) -> list[MessageOut]:
        rows = api_reads.messages_after(session, conversation_id=conversation_id, after=after, limit=limit)
        return [_message(r) for r in rows]

    items = await db.read(load)
    return Transcript(
        conversation_id=conversation_id, items=items, next_after=items[-1].id if items else None
    )


@router.post("/{conversation_id}/messages", response_model=Accepted, status_code=202)
async def send(
    conversation_id: RowId, body: AgentMessageIn, caller: CallerDep, db: DbDep, handoff: HandoffDep
) -> Accepted:
    """Send ``text`` to the customer as this token's agent. The conversation must be held by
    the token (``take``: take it first, as an agent takes it in the console); 409 when someone
    else holds it or it is not taken. Delivery follows through the outbox (202)."""
    text = body.text.strip()
    if not text:
        raise HTTPException(status_code=400, detail="a message needs text")
    await _check(db, conversation_id, caller)
    try:
        if body.take:
            await _check(db, conversation_id, caller, Action.TAKE)
            await handoff.take(conversation_id, caller.agent)
        await _check(db, conversation_id, caller, Action.WORK)
        await handoff.reply(conversation_id, caller.agent, text)
    except HandoffError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return Accepted(conversation_id=conversation_id, queued=True)
