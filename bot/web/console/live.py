"""Live updates for open console pages, sent as server-sent events.

An event only says what changed ("conversation 12", "queue"); the page then fetches what it may
see through the ordinary, permission-checked routes. Even a conversation's id reaches a page only
when its agent may see that conversation (the stream's ``visible`` check), and a page that missed
events catches up with its next fetch. With several processes on one PostgreSQL database, the
hub relays its events to the others' hubs (bot/services/live_relay.py), so every page sees them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.services.live_relay import LiveRelay

KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0
"""A stream ends after this long and the browser reconnects at once, so no response stays open
for ever (a server stopping waits for open responses)."""
QUEUE_LIMIT = 200


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[dict[str, object] | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class LiveHub:
    def __init__(self) -> None:
        self._subscribers: set[_Subscriber] = set()
        self.closed = False
        self._relay: LiveRelay | None = None

    def relay_through(self, relay: LiveRelay) -> None:
        """Share events with the hubs of the other processes through ``relay``."""
        self._relay = relay
        relay.sinks.append(self.deliver)

    def publish(self, kind: str, **data: object) -> None:
        event: dict[str, Any] = {"type": kind, **data}
        self.deliver(event)
        if self._relay is not None:
            self._relay.publish(event)

    def deliver(self, event: dict[str, Any]) -> None:
        """Hand an event to this process's open pages (published here or relayed)."""
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled page: end its stream; it catches up on reconnect
                self._end(sub)

    def conversation(self, conversation_id: int) -> None:
        self.publish("conversation", id=conversation_id)

    def queue(self) -> None:
        self.publish("queue")

    def close(self) -> None:
        """End every stream (the server is stopping and waits for open responses)."""
        self.closed = True
        for sub in list(self._subscribers):
            self._end(sub)

    def _end(self, sub: _Subscriber) -> None:
        self._subscribers.discard(sub)
        while sub.queue.full():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    async def stream(self, visible: Callable[[int], Awaitable[bool]] | None = None) -> AsyncIterator[str]:
        """The text/event-stream body for one page. ``visible(conversation_id)`` decides whether
        an event naming a conversation goes out on it (None: every event does)."""
        sub = _Subscriber()
        if self.closed:
            return
        self._subscribers.add(sub)
        loop = asyncio.get_running_loop()
        until = loop.time() + STREAM_SECONDS
        try:
            yield "retry: 2000\n\n"
            while loop.time() < until:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if event is None:
                    return
                named = event.get("id")
                if visible is not None and isinstance(named, int) and not await visible(named):
                    continue
                yield f"data: {json.dumps(event)}\n\n"
        finally:
            self._subscribers.discard(sub)
