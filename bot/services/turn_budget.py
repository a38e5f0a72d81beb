"""A time budget for the pure part of a turn.

The engine's step is a pure function of the flow, the state and the message, so a runaway step
(a flow bug, a slow pattern that slipped through) can be abandoned: it runs on a daemon thread,
the event loop keeps serving every other conversation, and after ``seconds`` the turn is given
up and recorded as failed. A daemon thread, not an executor, so a step that never ends cannot
hold up the process's exit either.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class OverBudget(Exception):
    """The step did not finish within its budget; it was abandoned."""


async def within(seconds: float, work: Callable[[], T]) -> T:
    """``work()``'s result, or its exception, if it finishes within ``seconds``; else OverBudget."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():  # abandoned: nobody waits for it any more
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the waiting coroutine, not lost on this thread
            _call_back(loop, settle, None, exc)
        else:
            _call_back(loop, settle, result, None)

    threading.Thread(target=run, name="tousu-turn", daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(done), seconds)
    except TimeoutError:
        done.cancel()
        raise OverBudget(f"the turn took longer than {seconds:g} s") from None


def _call_back(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[T | None, BaseException | None], None],
    result: T | None,
    error: BaseException | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed while the step ran: nobody to tell
        loop.call_soon_threadsafe(settle, result, error)
