"""The open HTTP answer of a callback (WeChat's passive reply), as a turn's transaction sees it.

A reply given in the HTTP answer must never be sent again through the API after a crash, so the
turn decides inside its own transaction whether the answer carries its replies (``claim``), and
marks those rows delivered in that same transaction. The callback answers with them only once
that transaction committed; if it rolled back, the claim is released and the rows never existed.
Once the callback stops waiting (``close``), no transaction can claim it and the replies go to
the outbox as usual. ``claim`` may run on a database worker thread, hence the lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Literal

from bot.channels.base import OutboundMessage

State = Literal["open", "claimed", "closed"]


class PassiveSlot:
    def __init__(self, deadline: float) -> None:
        """``deadline``: ``time.monotonic()`` after which no transaction may claim the answer."""
        self.deadline = deadline
        self.replies: list[OutboundMessage] = []
        self.stored = asyncio.Event()  # the inbound message is committed
        self._state: State = "open"
        self._lock = threading.Lock()

    @property
    def state(self) -> State:
        return self._state

    def claim(self, replies: list[OutboundMessage]) -> bool:
        """Inside the turn's transaction: True when the answer will carry ``replies``."""
        with self._lock:
            if self._state != "open" or time.monotonic() >= self.deadline:
                return False
            self._state = "claimed"
            self.replies = list(replies)
            return True

    def release(self) -> None:
        """The claiming transaction rolled back: its rows do not exist, nothing to answer."""
        with self._lock:
            if self._state == "claimed":
                self._state = "open"
                self.replies = []

    def close(self) -> bool:
        """The callback stops waiting; False when a transaction claimed it first (the callback
        must then wait for that transaction's outcome)."""
        with self._lock:
            if self._state == "open":
                self._state = "closed"
                return True
            return self._state == "closed"
