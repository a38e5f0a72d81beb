"""A durable local spool for inbound messages the database could not take in time.

WeChat retries a callback at most three times within about 15 s, and never after ``success``;
a database locked for longer (another process holding SQLite's write lock, a PostgreSQL table
lock, a failover) would lose the message whatever the callback answers. So a message that is not
committed within the callback's budget is appended here (one JSON line, fsynced before the
callback answers) and drained into the database once it takes writes again; the transcript's
unique message id makes a message that reached the database both ways count once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from dialogues.types import Attachment, ConversationKey, InboundMessage

log = logging.getLogger(__name__)

DRAIN_EVERY_SECONDS = 0.5


def _dump(inbound: InboundMessage) -> str:
    data = asdict(inbound)
    data["received_at"] = inbound.received_at.isoformat()
    return json.dumps(data, ensure_ascii=False)


def _load(line: str) -> InboundMessage:
    data: dict[str, Any] = json.loads(line)
    key = data.pop("key")
    return InboundMessage(
        **{
            **data,
            "key": ConversationKey(key["channel"], key["user_id"]),
            "received_at": datetime.fromisoformat(data["received_at"]),
            "attachments": tuple(Attachment(**a) for a in data["attachments"]),
        }
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class InboundSpool:
    """Append-only file of messages awaiting the database; ``drain`` stores them in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.spooled = 0
        self.drained = 0

    async def put(self, inbound: InboundMessage) -> None:
        """Append the message and fsync; returns once it is on disk."""
        line = _dump(inbound) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)
        self.spooled += 1
        self._wake.set()

    def _append(self, line: str) -> None:
        fresh = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            if handle.tell() > 0:  # a line cut short by a crash is ended, not joined to this one
                with open(self.path, "rb") as tail:
                    tail.seek(-1, os.SEEK_END)
                    if tail.read(1) != b"\n":
                        line = "\n" + line
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if fresh:
            _fsync_dir(self.path.parent)

    def _lines(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        # a line cut short by a crash mid-append was never acknowledged: WeChat retries it
        return [line for line in text.split("\n")[:-1] if line]

    def _drop_first(self, count: int) -> None:
        rest = self._lines()[count:]
        if not rest:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in rest))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    @property
    def dead_path(self) -> Path:
        return self.path.with_name(self.path.name + ".dead")

    def _keep_dead(self, line: str) -> None:
        with open(self.dead_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def pending(self) -> int:
        return len(self._lines())

    async def drain(self, store: Callable[[InboundMessage], Awaitable[bool]]) -> int:
        """Hand every spooled message to ``store`` (which returns once it is committed, False
        for one stored already) and drop the ones it took; stops at the first database error,
        leaving the rest for the next drain. A message refused for any other reason (a bug, not
        an outage) would block every later one, so it moves to the ``.dead`` file beside the
        spool, with an error in the log. Returns how many were handed over."""
        async with self._lock:
            lines = await asyncio.to_thread(self._lines)
        done = 0
        try:
            for line in lines:
                try:
                    inbound = _load(line)
                except (ValueError, KeyError, TypeError):
                    log.error(
                        "unreadable line in the inbound spool %s dropped: %.200s",
                        self.path,
                        line,
                    )
                    done += 1
                    continue
                try:
                    await store(inbound)
                except DBAPIError:
                    raise  # the database still refuses: retry from here later
                except Exception:
                    log.exception("a spooled message cannot be stored; kept in %s", self.dead_path)
                    await asyncio.to_thread(self._keep_dead, line)
                done += 1
        finally:
            if done:
                async with self._lock:
                    await asyncio.to_thread(self._drop_first, done)
                self.drained += done
        return done

    def start(self, store: Callable[[InboundMessage], Awaitable[bool]]) -> None:
        """Drain now and whenever something is spooled, retrying while the database refuses."""
        if self._task is None:
            self._wake.set()
            self._task = asyncio.create_task(self._run(store), name="inbound-spool")

    async def _run(self, store: Callable[[InboundMessage], Awaitable[bool]]) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain(store)
            except Exception as exc:  # the database still refuses: try again shortly
                log.warning(
                    "inbound spool: %d message(s) still waiting for the database (%s)",
                    self.pending(),
                    exc.__class__.__name__,
                )
                await asyncio.sleep(DRAIN_EVERY_SECONDS)
                self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
