"""The step runner: results and errors come back, threads are reused, a runaway is abandoned
without holding up the next step."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.services.turn_budget import OverBudget, StepRunner


async def test_results_and_errors_come_back_and_the_thread_is_reused() -> None:
    runner = StepRunner(2.0)
    first = await runner.run(threading.get_ident)
    await asyncio.sleep(0.05)  # the worker puts itself back after answering
    second = await runner.run(threading.get_ident)
    assert first == second != threading.get_ident()
    with pytest.raises(KeyError, match="boom"):
        await runner.run(lambda: {}["boom"])


async def test_a_runaway_step_is_abandoned_and_its_thread_never_gets_work_again() -> None:
    runner = StepRunner(0.2)
    release = threading.Event()
    stuck: list[int] = []

    def runaway() -> None:
        stuck.append(threading.get_ident())
        release.wait(10)

    with pytest.raises(OverBudget):
        await runner.run(runaway)
    try:
        other = await asyncio.wait_for(runner.run(threading.get_ident), 1.0)
        assert other != stuck[0]
    finally:
        release.set()


async def test_idle_threads_are_bounded_by_spare() -> None:
    runner = StepRunner(2.0, spare=1)
    gate = threading.Barrier(3, timeout=5)
    await asyncio.gather(*(runner.run(gate.wait) for _ in range(3)))  # three threads at once
    await asyncio.sleep(0.1)
    assert runner.idle == 1
