"""An in-process channel: ``tousu chat`` in a terminal, and the test harness (push a message,
pop the replies). Replies land in a per-user queue instead of a network."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.channels.base import Channel, DeliveryLimits, OutboundMessage
from dialogues.types import Attachment, ConversationKey, InboundMessage

if TYPE_CHECKING:
    from bot.services.inbox import ConversationManager


class ConsoleChannel(Channel):
    supports_buttons = False
    limits = DeliveryLimits()

    def __init__(self, name: str = "console") -> None:
        self.name = name
        self._queues: dict[str, asyncio.Queue[OutboundMessage]] = {}
        self._ids = itertools.count(1)
        self._session = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")

    async def say(
        self, manager: ConversationManager, user_id: str, text: str = "", **kwargs: object
    ) -> list[OutboundMessage]:
        """Send one message as the customer and return the replies it produced (none for a
        duplicate or while an agent holds the conversation)."""
        inbound = self.inbound(user_id, text, **kwargs)  # type: ignore[arg-type]
        handled = await manager.handle(inbound)
        count = len(handled.replies)
        return await self.pop(user_id, count) if count else []

    def _queue(self, user_id: str) -> asyncio.Queue[OutboundMessage]:
        return self._queues.setdefault(user_id, asyncio.Queue())

    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        await self._queue(user_id).put(message)
        return None

    def inbound(
        self,
        user_id: str,
        text: str = "",
        *,
        payload: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        kind: str = "text",
        message_id: str | None = None,
        language_hint: str | None = None,
        received_at: datetime | None = None,
    ) -> InboundMessage:
        """Build a message as this channel would deliver it."""
        return InboundMessage(
            key=ConversationKey(self.name, user_id),
            text=text,
            message_id=message_id or f"{self._session}-{next(self._ids)}",
            received_at=received_at or datetime.now(UTC),
            payload=payload,
            attachments=attachments,
            kind=kind,
            language_hint=language_hint,
        )

    async def pop(self, user_id: str, count: int, *, timeout: float | None = 5.0) -> list[OutboundMessage]:
        """Wait for ``count`` replies to ``user_id`` (``timeout`` None: as long as it takes)."""
        queue = self._queue(user_id)
        out: list[OutboundMessage] = []
        async with asyncio.timeout(timeout):
            while len(out) < count:
                out.append(await queue.get())
        return out

    def pop_nowait(self, user_id: str) -> list[OutboundMessage]:
        queue = self._queue(user_id)
        out: list[OutboundMessage] = []
        while not queue.empty():
            out.append(queue.get_nowait())
        return out
