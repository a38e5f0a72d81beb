"""Finds intakes that stalled half-way (the customer stopped answering, or keeps failing) and
puts them in the agents' queue, so a person can call or write to them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.services.flow_catalog import FlowCatalog
from dialogues.reading import needs_fresh_start
from dialogues.state import ConversationState
from storage.db import Database
from storage.models import Conversation
from storage.repositories import transcript

log = logging.getLogger(__name__)
LOOK_BACK = timedelta(hours=24)


def stuck_ids(session: Session, catalog: FlowCatalog, *, now: datetime, idle: timedelta) -> list[int]:
    """Bot conversations mid-intake, idle longer than ``idle`` (within a day), not queued yet."""
    rows = session.exec(
        select(Conversation)
        .where(Conversation.status == "bot", col(Conversation.waiting_since).is_(None))
        .where(col(Conversation.updated_at) <= now - idle, col(Conversation.updated_at) > now - LOOK_BACK)
        .where(Conversation.step != "")
        .limit(500)
    ).all()
    found: list[int] = []
    for conv in rows:
        if conv.state in ("", "{}"):
            continue
        state = ConversationState.from_json(conv.state)
        flow = catalog.get(session, name=state.flow, version=state.flow_version)
        if state.status == "bot" and not needs_fresh_start(flow, state) and state.step != flow.start:
            assert conv.id is not None
            found.append(conv.id)
    return found


class StuckWatcher:
    def __init__(
        self,
        *,
        db: Database,
        catalog: FlowCatalog,
        idle: timedelta,
        every: float,
        clock: Callable[[], datetime],
        on_flag: Callable[[int], None] = lambda _id: None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.idle = idle
        self.every = every
        self.clock = clock
        self.on_flag = on_flag
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> list[int]:
        now = self.clock()

        def run(session: Session) -> list[int]:
            ids = stuck_ids(session, self.catalog, now=now, idle=self.idle)
            conn = session.connection()
            for conversation_id in ids:
                transcript.flag_for_agents(
                    conn, conversation_id=conversation_id, reason="stuck", priority=0, now=now
                )
            return ids

        ids = await self.db.run(run)
        for conversation_id in ids:
            self.on_flag(conversation_id)
        return ids

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stuck-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                found = await self.sweep()
                if found:
                    log.info("%d stalled intake(s) put in the agents' queue", len(found))
            except Exception:
                log.exception("looking for stalled intakes failed; trying again later")
            await asyncio.sleep(self.every)
