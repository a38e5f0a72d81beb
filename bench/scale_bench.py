"""Scale-out benchmark (issue 24 item 8): N real ``tousu run --no-nlu`` processes on one fresh
PostgreSQL database, WeChat callbacks over HTTP from a separate load process, each customer's
messages spread round-robin over the processes. Prints turns/s and the callback round trip's
p50/p99 per process count, and the ratio of each to one process. NLU is off (menus: the
constant-NLU path of the turn).

    PYTHONPATH=. .venv/bin/python bench/scale_bench.py --processes 1 2 4 --customers 200 --steps 5 [--sticky]

Needs the PostgreSQL of TOUSU_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.wechat_bench import STEPS, pct, post
from tests.databases import postgres_database
from tests.fakes import wechat_api as wx
from tests.faults.bot_process import BotProcess

FAST = {"TOUSU_OUTBOX__PER_CHAT_INTERVAL_SECONDS": "0.05", "TOUSU_GENERAL__LOG_LEVEL": "WARNING"}


async def load(
    ports: list[int], customers: int, steps: int, tag: str, sticky: bool = False
) -> tuple[float, list[float]]:
    """Every customer walks ``steps`` messages, message k to process k mod N (``sticky``: all of
    a customer's to one process, as a load balancer hashing the sender would); (seconds,
    latencies)."""
    latencies: list[float] = []
    links = [[await asyncio.open_connection("127.0.0.1", port) for port in ports] for _ in range(customers)]

    async def walk(i: int) -> None:
        for k, text in enumerate(STEPS[:steps]):
            reader, writer = links[i][(i + (0 if sticky else k)) % len(ports)]
            body = wx.text(f"o{tag}{i}", text).encode()
            target = "/wechat/callback?" + urlencode(wx.signed_query())
            started = time.perf_counter()
            status, answer = await post(reader, writer, target, body)
            latencies.append((time.perf_counter() - started) * 1000)
            assert status == 200, (status, answer)

    began = time.perf_counter()
    await asyncio.gather(*(walk(i) for i in range(customers)))
    elapsed = time.perf_counter() - began
    for pair in links:
        for _, writer in pair:
            writer.close()
    return elapsed, latencies


async def main(counts: list[int], customers: int, steps: int, warmup: int, sticky: bool) -> None:
    fake = wx.FakeWeChat().start()
    results: dict[int, float] = {}
    try:
        for count in counts:
            with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
                bots = [BotProcess(Path(tmp), url, fake, name=f"bench{n}", env=FAST) for n in range(count)]
                try:
                    for bot in bots:
                        bot.start()
                    ports = [b.port for b in bots]
                    await load(ports, warmup, steps, f"W{count}x")  # first turns: caches, pools, flows
                    elapsed, latencies = await load(ports, customers, steps, f"P{count}x", sticky)
                finally:
                    for bot in bots:
                        with contextlib.suppress(Exception):
                            bot.stop()
            rate = len(latencies) / elapsed
            results[count] = rate
            print(
                f"{count} process(es): {len(latencies)} turns in {elapsed:.1f} s = {rate:.0f} turns/s; "
                f"p50 {pct(latencies, 0.5):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms",
                flush=True,
            )
    finally:
        fake.stop()
    if 1 in results:
        for count, rate in results.items():
            if count != 1:
                print(f"ratio {count} processes / 1 process: {rate / results[1]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20, help="customers walked before the clock starts")
    parser.add_argument("--sticky", action="store_true", help="each customer's messages to one process")
    args = parser.parse_args()
    asyncio.run(main(args.processes, args.customers, args.steps, args.warmup, args.sticky))
