"""A role one process at a time plays among all those on the database (the Telegram poller),
held through a named lease (storage/repositories/leases.py): the holder keeps renewing it, and
when it dies the lease runs out and the next process to ask takes the role over."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from storage.db import Database
from storage.repositories import leases
from storage.types import utcnow

log = logging.getLogger(__name__)


class RoleLease:
    def __init__(
        self,
        db: Database,
        name: str,
        *,
        seconds: float,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.name = name
        self.seconds = seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.held = False
        self._renewed = 0.0  # monotonic time of the last successful renewal

    async def hold(self) -> bool:
        """True while this process holds the role: takes it when free, renews it when a third of
        its life has passed (one write per third, not one per call)."""
        now = time.monotonic()
        if self.held and now - self._renewed < self.seconds / 3:
            return True

        def acquire(session: Session) -> bool:
            return leases.acquire(
                session, self.name, holder=self.holder, now=self.clock(), seconds=self.seconds
            )

        held = await self.db.run(acquire)
        if held != self.held:
            log.info("%s %s the %s role", self.holder, "took" if held else "lost", self.name)
        self.held = held
        if held:
            self._renewed = now
        return held

    async def release(self) -> None:
        """Hand the role back, so another process takes it now rather than when it runs out."""
        if not self.held:
            return
        self.held = False
        await self.db.run(lambda s: leases.release(s, self.name, holder=self.holder))
