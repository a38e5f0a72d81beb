"""Keeps the bot's own Rasa server running: ``tousu run`` starts it through a supervisor that
restarts it with back-off when it dies, and stops it (its whole process group) with the bot.

The bot keeps answering while Rasa is down (the built-in classifier), so a dead server is easy
to miss; the supervisor logs every exit and restart and says where it stands (``state``), which
``/health`` reports.
Back-off doubles from ``first_delay`` up to ``max_delay`` and starts over once a server has run
for ``healthy_after`` seconds, so a server that cannot start does not spin, and one that died
after days of work comes back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Literal

from nlu.server import RasaServer

log = logging.getLogger(__name__)

State = Literal["starting", "ok", "restarting", "stopped"]


class RasaSupervisor:
    def __init__(
        self,
        server: RasaServer,
        *,
        first_delay: float = 1.0,
        max_delay: float = 60.0,
        check_every: float = 0.5,
        healthy_after: float = 60.0,
    ) -> None:
        self.server = server
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.check_every = check_every
        self.healthy_after = healthy_after
        self.state: State = "starting"
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="nlu-supervisor")

    async def _run(self) -> None:
        delay = self.first_delay
        while True:
            try:
                await self.server.start()
            except Exception as exc:
                log.warning("the NLU server did not start (%s); built-in classifier meanwhile", exc)
            else:
                self.state = "ok"
                log.info("NLU server ready at %s", self.server.url)
                up_since = time.monotonic()
                code = await self._watch()
                if time.monotonic() - up_since >= self.healthy_after:
                    delay = self.first_delay
                log.warning("the NLU server exited (%s); built-in classifier until it is back", code)
            self.state = "restarting"
            await self.server.stop()  # reaps it, and whatever it left in its process group
            await asyncio.sleep(delay)
            self.restarts += 1
            log.warning("restarting the NLU server (restart %d, after %.1f s)", self.restarts, delay)
            delay = min(delay * 2, self.max_delay)

    async def _watch(self) -> int | str:
        """Until the server is gone: its exit code, or ``gone`` for an adopted one that stopped
        answering."""
        while True:
            await asyncio.sleep(self.check_every)
            process = self.server.process
            if process is not None:
                code = process.poll()
                if code is not None:
                    return code
            elif await self.server.status() is None:
                self.server.adopted = False
                return "gone"

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop()
        self.state = "stopped"
