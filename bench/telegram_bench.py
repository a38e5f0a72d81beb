"""Telegram benchmark: simulated customers through the fake Bot API (real HTTP on 127.0.0.1) into
the real app (SQLite, outbox, python-telegram-bot).

1. Turn latency: each of N users sends "你好"; latency = update pushed -> first reply received
   at the fake, with users arriving at a steady pace.
2. Sustained outbound rate with a backlog: 600 replies queued at once to 500 chats; the rate they
   leave at, 429s caused (the fake enforces 30/s overall and 1/s per chat), fastest per-chat gap.

    .venv/bin/python bench/telegram_bench.py --users 500
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bot.app import TousuApp
from dialogues.types import ConversationKey, Reply
from tests.conftest import make_settings
from tests.fakes.telegram_api import TOKEN, FakeTelegram


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def turn_latency(app: TousuApp, fake: FakeTelegram, users: int, rate: float) -> list[float]:
    pushed: dict[int, float] = {}
    for i in range(users):
        chat = 10_000 + i
        pushed[chat] = time.monotonic()
        fake.push_text(chat, "你好")
        await asyncio.sleep(1 / rate)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with fake.lock:
            first = {}
            for m in fake.sent:
                first.setdefault(m["chat_id"], m["at"])
        if all(c in first for c in pushed):
            return [(first[c] - pushed[c]) * 1000 for c in pushed]
        await asyncio.sleep(0.05)
    raise SystemExit("not every user got a reply within 120 s")


async def backlog(app: TousuApp, fake: FakeTelegram, chats: int, messages: int) -> None:
    with fake.lock:
        fake.sent.clear()
    limited_before = fake.limited
    started = time.monotonic()
    await asyncio.gather(
        *(
            app.manager.send_as(
                ConversationKey("telegram", str(10_000 + i % chats)), [Reply(f"update {i}")], author="bench"
            )
            for i in range(messages)
        )
    )
    while True:
        with fake.lock:
            done = len(fake.sent)
        if done >= messages:
            break
        await asyncio.sleep(0.05)
    with fake.lock:
        times = sorted(m["at"] for m in fake.sent)
        per_chat: dict[int, list[float]] = {}
        for m in fake.sent:
            per_chat.setdefault(m["chat_id"], []).append(m["at"])
    elapsed = times[-1] - times[0]
    gaps = [b - a for ts in per_chat.values() for a, b in itertools.pairwise(ts)]
    total = time.monotonic() - started
    print(
        f"backlog: {messages} messages to {chats} chats, all sent after {total:.1f} s; "
        f"sustained {messages / elapsed:.1f} msg/s (first to last send {elapsed:.1f} s); "
        f"429s caused: {fake.limited - limited_before}; "
        f"smallest gap to one chat: {min(gaps) if gaps else float('nan'):.3f} s"
    )


async def main(users: int, rate: float) -> None:
    fake = FakeTelegram(enforce_limits=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp),
            telegram={
                "token": SecretStr(TOKEN),
                "base_url": f"{fake.url}/bot",
                "base_file_url": f"{fake.url}/file/bot",
                "poll_timeout_seconds": 1,
            },
        )
        app = TousuApp(settings, use_nlu=False)
        await app.start()
        try:
            latencies = await turn_latency(app, fake, users, rate)
            print(
                f"turns: {users} users at {rate:.0f}/s: p50 {pct(latencies, 0.5):.0f} ms, "
                f"p99 {pct(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms; "
                f"429s caused: {fake.limited}"
            )
            await backlog(app, fake, chats=500, messages=600)
        finally:
            await app.stop()
            fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rate", type=float, default=25.0, help="new users per second")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.rate))
