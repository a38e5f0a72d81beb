"""A time budget for the pure part of a turn.

The engine's step is a pure function of the flow, the state and the message, so a runaway step
(a flow bug, a slow pattern that slipped through) can be abandoned: it runs on a daemon thread,
the event loop keeps serving every other conversation, and after the budget the turn is given
up and recorded as failed. Daemon threads, not an executor, so a step that never ends cannot
hold up the process's exit either (an executor joins its threads at exit).

Threads are kept and reused: starting one blocks the event loop until the new thread runs, about
a millisecond on a busy machine, which per turn was the loop's largest single cost (see
bench/RESULTS.md). A thread whose step ran over its budget is simply never handed work again.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class OverBudget(Exception):
    """The step did not finish within its budget; it was abandoned."""


class StepRunner:
    """Runs callables on reusable daemon threads, each call within ``seconds``.

    ``spare`` bounds the idle threads kept; busy ones are not counted, so a burst of slow steps
    never waits for a thread."""

    def __init__(self, seconds: float, *, spare: int = 4) -> None:
        self.seconds = seconds
        self.spare = spare
        self._idle: deque[queue.SimpleQueue[_Job]] = deque()  # append/pop are atomic

    @property
    def idle(self) -> int:
        """Threads waiting for work."""
        return len(self._idle)

    async def run(self, work: Callable[[], T]) -> T:
        """``work()``'s result, or its exception, if it finishes in time; else OverBudget."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        try:
            inbox = self._idle.pop()
        except IndexError:
            inbox = self._start()
        inbox.put((work, loop, done))
        try:
            return await asyncio.wait_for(asyncio.shield(done), self.seconds)
        except TimeoutError:
            done.cancel()
            raise OverBudget(f"the turn took longer than {self.seconds:g} s") from None

    def _start(self) -> queue.SimpleQueue[_Job]:
        inbox: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._serve, args=(inbox,), name="tousu-turn", daemon=True).start()
        return inbox

    def _serve(self, inbox: queue.SimpleQueue[_Job]) -> None:
        while True:
            work, loop, done = inbox.get()
            try:
                result, error = work(), None
            except BaseException as exc:  # handed to the waiting coroutine, not lost on this thread
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to tell
                loop.call_soon_threadsafe(_settle, done, result, error)
            del work, loop, done, result, error
            if len(self._idle) >= self.spare:
                return
            self._idle.append(inbox)


def _settle(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.done():  # abandoned: nobody waits for it any more
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
