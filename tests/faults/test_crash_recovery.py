"""kill -9 in the middle of 100 customers' intakes, then a restart, with WeChat-style retries of
every callback that got no answer: no prompt is lost, none is shown twice, none reaches another
customer, and nothing answers 500. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.fakes.wechat_api import FakeWeChat
from tests.faults.bot_process import BotProcess, Customer, settled

pytestmark = pytest.mark.timeout(400)

CUSTOMERS = 100
STEPS = (
    ("你好", "客户服务中心"),
    ("1", "请描述"),
    ("我买的电热水壶用了两天就漏水了，客服电话一直打不通", "类型"),
)
KILL_AFTER = 120
"""Answers counted before the process is killed: mid-run, with about 40 customers in flight."""


async def _run(bot: BotProcess, fake: FakeWeChat) -> dict[str, object]:
    customers = [Customer(f"oCrash{n:03d}") for n in range(CUSTOMERS)]
    ids = itertools.count(int(time.time()) * 1000)
    answered = 0
    killed = asyncio.Event()
    gate = asyncio.Semaphore(25)

    async def intake(customer: Customer, client: httpx.AsyncClient) -> None:
        nonlocal answered
        async with gate:
            for content, expected in STEPS:
                await customer.say(client, bot, content, next(ids))
                await customer.wait_for(fake, expected)
                answered += 1
                if answered == KILL_AFTER and not killed.is_set():
                    killed.set()

    async def crash_and_restart() -> None:
        await killed.wait()
        bot.kill()
        await asyncio.to_thread(bot.start)

    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        await asyncio.gather(crash_and_restart(), *(intake(c, client) for c in customers))
    await settled(fake)
    seen = {c.openid: c.seen(fake) for c in customers}
    return {
        "seconds": time.monotonic() - started,
        "customers": customers,
        "seen": seen,
        "twice": {o: [t for t, n in Counter(s).items() if n > 1] for o, s in seen.items()},
        "lost": {o: [e for _c, e in STEPS if not any(e in t for t in s)] for o, s in seen.items()},
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_kill_9_mid_run_loses_nothing_and_repeats_nothing(
    backend: str, tmp_path: Path, fake: FakeWeChat, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'tousu.db'}"
    else:
        from tests.databases import empty_postgres

        db_url = request.getfixturevalue("postgres_url")
        empty_postgres(db_url)
    bot = BotProcess(tmp_path, db_url, fake)
    bot.start()
    try:
        result = await _run(bot, fake)
    finally:
        bot.stop()
    customers: list[Customer] = result["customers"]  # type: ignore[assignment]
    twice = {o: t for o, t in result["twice"].items() if t}  # type: ignore[attr-defined]
    lost = {o: e for o, e in result["lost"].items() if e}  # type: ignore[attr-defined]
    print(f"{backend}: {CUSTOMERS} intakes with a kill -9 in {result['seconds']:.1f} s")
    assert bot.starts == 2
    assert lost == {}, f"prompts lost: {lost}"
    assert twice == {}, f"prompts shown twice: {twice}"
    assert sum(c.misaddressed for c in customers) == 0
    assert sum(c.server_errors for c in customers) == 0
    assert all(r["touser"].startswith("oCrash") for r in fake.sent)
