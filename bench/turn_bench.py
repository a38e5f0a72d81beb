"""Turn throughput and latency through the manager, the engine and SQLite.

The NLU is replaced by a constant so the numbers measure our own code: storage, locking, the
engine and outbox delivery to the in-process console channel. Each simulated customer walks the
whole complaint intake (11 turns, one ticket) again and again.

Customers are spread over the script (customer i starts at step i mod 11, walked there before
the clock starts), as conversations are in steady service; ``--aligned`` starts them all at the
greeting together, so every customer reaches the ticket-creating step in the same moment.

Two measurements, because a closed loop cannot show both at once:
- saturation: N customers send their next message as soon as the last was answered; turns/s is
  the capacity.
- paced: N customers together send R turns/s on a fixed schedule (open loop); latency is measured
  from the scheduled send time, so queueing delay counts.

    .venv/bin/python bench/turn_bench.py --conversations 200 --seconds 10 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bot.app import TousuApp  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.web.process_tuning import tune_for_serving  # noqa: E402
from nlu.types import IntentScore, NluResult  # noqa: E402

SCRIPT = [
    "/start",
    "1",
    "我在你们门店买的电热水壶用了两天就漏水，订单号 A20261120001",
    "昨天",
    "北京朝阳门店",
    "1",
    "2",
    "1",
    "13800138000",
    "1",
]


class ConstantNlu:
    """Always the same confident answer: the benchmark measures everything but Rasa."""

    async def parse(self, text: str) -> NluResult:
        top = IntentScore("product_quality", 0.97)
        return NluResult(text=text, intent=top, ranking=(top, IntentScore("after_sales", 0.02)))

    async def aclose(self) -> None:
        return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def turn(app: TousuApp, user: str, index: int) -> None:
    replies = await app.console.say(app.manager, user, SCRIPT[index % len(SCRIPT)])
    if not replies:
        raise RuntimeError("a turn produced no reply")


async def walk_to_phases(app: TousuApp, phases: list[int]) -> None:
    """Untimed: bring customer i to step phases[i] of the script, starting from the greeting."""

    async def walk(i: int, phase: int) -> None:
        for index in range(phase):
            await turn(app, f"sat{i}", index)

    await asyncio.gather(*(walk(i, phase) for i, phase in enumerate(phases)))


async def saturate(app: TousuApp, phases: list[int], seconds: float) -> tuple[int, float, list[float], float]:
    latencies: list[float] = []
    await walk_to_phases(app, phases)
    stop_at = time.perf_counter() + seconds

    async def customer(i: int) -> int:
        done = 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            await turn(app, f"sat{i}", phases[i] + done)
            latencies.append(time.perf_counter() - started)
            done += 1
        return done

    started, cpu = time.perf_counter(), time.process_time()
    counts = await asyncio.gather(*(customer(i) for i in range(len(phases))))
    return sum(counts), time.perf_counter() - started, latencies, time.process_time() - cpu


async def paced(
    app: TousuApp, phases: list[int], seconds: float, rate: float
) -> tuple[int, float, list[float], float]:
    latencies: list[float] = []
    conversations = len(phases)
    per_customer = rate / conversations
    interval = 1.0 / per_customer
    await walk_to_phases(app, phases)
    begin = time.perf_counter() + 0.5

    async def customer(i: int) -> int:
        user = f"sat{i}"  # known customers: the first-contact cost was measured above
        offset = interval * i / conversations  # spread the customers evenly
        n = 0
        while True:
            scheduled = begin + offset + n * interval
            if scheduled > begin + seconds:
                return n
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await turn(app, user, phases[i] + n)
            latencies.append(time.perf_counter() - scheduled)
            n += 1

    cpu = time.process_time()
    counts = await asyncio.gather(*(customer(i) for i in range(conversations)))
    return sum(counts), seconds, latencies, time.process_time() - cpu


async def start_app(folder: str) -> TousuApp:
    """The app on a fresh SQLite file in ``folder``, warmed up by one whole intake and tuned
    as ``tousu run`` tunes itself once started."""
    base = load_settings(ROOT / "config.yaml")
    settings = base.model_copy(
        update={
            "database": base.database.model_copy(update={"url": f"sqlite:///{folder}/bench.db"}),
            "general": base.general.model_copy(update={"data_dir": Path(folder), "log_level": "WARNING"}),
        }
    )
    app = TousuApp(settings, channels=[], nlu=ConstantNlu(), use_nlu=True, manage_nlu=False)
    await app.start()
    for i in range(len(SCRIPT)):
        await turn(app, "warmup", i)
    tune_for_serving()
    return app


async def main(conversations: int, seconds: float, rate: float, aligned: bool) -> None:
    phases = [0 if aligned else i % len(SCRIPT) for i in range(conversations)]
    with tempfile.TemporaryDirectory() as folder:
        app = await start_app(folder)
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, SQLite file in {folder}"
        )
        print(f"customers {'aligned at the greeting' if aligned else 'spread over the script'}")
        total, elapsed, lat, cpu = await saturate(app, phases, seconds)
        print(
            f"saturation: {conversations} conversations, {total} turns in {elapsed:.1f}s = "
            f"{total / elapsed:.0f} turns/s; latency p50 {percentile(lat, 0.5):.1f} ms, "
            f"p99 {percentile(lat, 0.99):.1f} ms; CPU {cpu / total * 1000:.2f} ms per turn"
        )
        total, elapsed, lat, cpu = await paced(app, phases, seconds, rate)
        print(
            f"paced at {rate:.0f} turns/s: {conversations} conversations, {total} turns; "
            f"latency p50 {percentile(lat, 0.5):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, "
            f"max {max(lat) * 1000:.1f} ms; CPU {cpu / total * 1000:.2f} ms per turn"
        )
        tickets = await app.db.run(lambda s: s.execute(text("SELECT count(*) FROM tickets")).scalar_one())
        print(f"tickets created: {tickets}")
        await app.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--aligned", action="store_true", help="every customer starts at the greeting")
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.seconds, args.rate, args.aligned))
