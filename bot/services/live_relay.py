"""Live events between processes: what one process publishes (a customer message, a takeover, a
new alert) reaches the subscribers of every other process on the same PostgreSQL database within
moments, over LISTEN/NOTIFY (storage/repositories/live_events.py). Publishing never waits: events
are queued, gathered for ``BATCH_SECONDS``, and sent in one transaction per batch, the distinct
ones packed into as few notifications as fit. A process skips its own events (its subscribers
had them at once). On SQLite, one process: nothing to relay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from storage.db import Database
from storage.repositories import live_events

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
BATCH_SECONDS = 0.05
"""How long the sender gathers events before it sends them: one transaction and one
notification for all of them (every turn publishes one, so without it every turn cost a
transaction of its own, and every process a wake-up for each: bench/RESULTS.md, issue 24)."""


class LiveRelay:
    def __init__(self, db: Database, *, origin: str, receive: bool = True) -> None:
        """``receive`` False: a process with no console pages (``tousu scheduler``) only sends."""
        self.db = db
        self.origin = origin
        self.receive = receive
        self.enabled = not db.is_sqlite
        self.sinks: list[Callable[[dict[str, Any]], None]] = []
        self.listening = asyncio.Event()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []

    def publish(self, event: dict[str, Any]) -> None:
        """Queue an event for the other processes (dropped when the queue is full: pages catch
        up at their next fetch)."""
        if not self.enabled or not self._tasks:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(event)

    async def start(self) -> None:
        if not self.enabled:
            return
        self._tasks = [asyncio.create_task(self._send(), name="live-send")]
        if self.receive:
            self._tasks.append(asyncio.create_task(self._listen(), name="live-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _send(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(BATCH_SECONDS)
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            try:
                await self.db.run_core(partial(live_events.notify, payloads=self._payloads(batch)))
            except Exception:
                log.warning("relaying live events failed; %d dropped", len(batch), exc_info=True)
                await asyncio.sleep(1.0)

    def _payloads(self, batch: list[dict[str, Any]]) -> list[str]:
        """The batch's distinct events, as few notifications as fit PostgreSQL's payload size
        (an event too big for one alone is dropped: pages catch up at their next fetch)."""
        events: list[str] = []
        for event in batch:
            text = json.dumps(event, sort_keys=True)
            if text not in events:
                events.append(text)
        head = json.dumps({"o": self.origin, "es": []})[:-2]  # '{"o": "...", "es": ['
        room = live_events.MAX_PAYLOAD - len(head.encode()) - len("]}")
        payloads: list[str] = []
        chunk: list[str] = []
        used = 0
        for text in events:  # json.dumps writes ASCII: characters are bytes
            size = len(text) + (2 if chunk else 0)  # ", " between events
            if len(text) > room:
                continue
            if used + size > room:
                payloads.append(head + ", ".join(chunk) + "]}")
                chunk, used, size = [], 0, len(text)
            chunk.append(text)
            used += size
        if chunk:
            payloads.append(head + ", ".join(chunk) + "]}")
        return payloads

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with live_events.listening(self.db.url) as payloads:
                    self.listening.set()
                    backoff = 0.5
                    async for payload in payloads:
                        self._deliver(payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.listening.clear()
                log.warning("listening for live events failed; retrying in %.1f s", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def _deliver(self, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if not isinstance(data, dict) or data.get("o") == self.origin:
            return
        events = data.get("es")
        if not isinstance(events, list):  # one event per notification (before batching)
            events = [data.get("e")]
        for event in events:
            if not isinstance(event, dict):
                continue
            for sink in self.sinks:
                try:
                    sink(event)
                except Exception:
                    log.exception("a live event sink failed")
