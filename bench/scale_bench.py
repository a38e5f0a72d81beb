"""Scale-out benchmark (issue 24 item 8): N real ``tousu run --no-nlu`` processes on one fresh
PostgreSQL database, WeChat callbacks over HTTP from a separate load process. Prints turns/s
and the callback round trip's p50/p99 per process count, the ratio of each to one process, and
what does not depend on how busy the machine is: CPU seconds per turn of the bot processes, of
the database's backends and of this load process, transactions per turn, and what the database's
backends were waiting on (pg_stat_activity sampled every 10 ms). NLU is off (menus: the
constant-NLU path of the turn).

    PYTHONPATH=. .venv/bin/python bench/scale_bench.py --processes 1 2 4 --customers 200 --steps 5 [--sticky]

Routing: by default message k of a customer goes to process k mod N (round-robin, the worst
case). ``--sticky`` routes as the nginx sample does (deploy/nginx/tousu.conf, ``hash
$arg_openid consistent``): nginx's consistent hash of the callback's ``openid`` over the
processes' ``127.0.0.1:port`` addresses, computed here the way nginx computes it.

Needs the PostgreSQL of TOUSU_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import os
import struct
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from bench.wechat_bench import STEPS, pct, post
from storage.repositories.live_events import driver_url
from tests.databases import postgres_database
from tests.fakes import wechat_api as wx
from tests.faults.bot_process import BotProcess

FAST = {"TOUSU_OUTBOX__PER_CHAT_INTERVAL_SECONDS": "0.05", "TOUSU_GENERAL__LOG_LEVEL": "WARNING"}
TICK = os.sysconf("SC_CLK_TCK")
IDLE_SECONDS = 2.0
STATS_DELAY = 1.2


class ConsistentHash:
    """nginx's ``hash KEY consistent`` (ngx_http_upstream_hash_module.c, ketama as in
    Cache::Memcached::Fast): every server gets 160 points per weight, point j being
    crc32(host "\\0" port prev_hash), prev_hash the point before it (4 bytes, little-endian;
    0 for the first); a key goes to the first point at or after crc32(key), wrapping round."""

    def __init__(self, servers: list[str]) -> None:
        points: dict[int, str] = {}
        for server in servers:
            host, _, port = server.rpartition(":")
            base = host.encode() + b"\0" + port.encode()
            previous = 0
            for _ in range(160):
                value = zlib.crc32(base + struct.pack("<I", previous))
                points.setdefault(value, server)  # equal points (rare): nginx keeps one
                previous = value
        self._hashes = sorted(points)
        self._servers = [points[h] for h in self._hashes]

    def server(self, key: str) -> str:
        index = bisect.bisect_left(self._hashes, zlib.crc32(key.encode()))
        return self._servers[index % len(self._servers)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class DatabaseWatch:
    """The database's side of a run: its backends' CPU, its transaction counters, and what its
    backends were waiting on, sampled from pg_stat_activity every ``every`` seconds."""

    url: str
    every: float = 0.01
    waits: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._conn = psycopg.connect(driver_url(self.url), autocommit=True)

    def backends(self) -> dict[int, float]:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        found: dict[int, float] = {}
        for (pid,) in rows:
            with contextlib.suppress(OSError):
                found[pid] = cpu_seconds(pid)
        return found

    def counters(self) -> tuple[int, int]:
        row = self._conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def start(self) -> None:
        self.waits.clear()
        self.samples = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(driver_url(self.url), autocommit=True) as conn:
            while not self._stop.wait(self.every):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend' AND state <> 'idle'"
                ).fetchall()
                self.samples += 1
                for state, kind, event in rows:
                    if state == "active" and kind is None:
                        self.waits["running"] += 1
                    elif state.startswith("idle in transaction"):
                        self.waits["idle in transaction (the app holds it)"] += 1
                    else:
                        self.waits[f"{kind}:{event}"] += 1

    def close(self) -> None:
        self._conn.close()


@dataclass
class Load:
    seconds: float
    latencies: list[float]
    deferred: int
    """Callbacks answered ``success`` (not within the reply budget: the replies went by the API)."""
    reconnects: int


@dataclass
class Costs:
    """CPU seconds (and database transactions) spent during the measured load."""

    bots: list[float]
    database: float
    generator: float
    commits: int
    rollbacks: int


async def load(ports: list[int], customers: int, steps: int, tag: str, sticky: bool = False) -> Load:
    """Every customer walks ``steps`` messages: message k to process k mod N, or (``sticky``)
    each customer to the process nginx's consistent hash of its openid picks."""
    latencies: list[float] = []
    ring = ConsistentHash([f"127.0.0.1:{port}" for port in ports])
    index = {f"127.0.0.1:{port}": n for n, port in enumerate(ports)}
    openids = [f"o{tag}{i}" for i in range(customers)]
    deferred: list[int] = []  # answered "success": the replies went by the API, after the 3 s budget
    reconnects: list[int] = []
    links: dict[tuple[int, int], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def send(i: int, n: int, target: str, body: bytes) -> tuple[int, bytes]:
        """On the customer's kept-alive connection to process ``n``, opened on first use; once
        more on a new one if the server had closed it (idle past its keep-alive)."""
        for attempt in (1, 2):
            if (i, n) not in links:
                links[i, n] = await asyncio.open_connection("127.0.0.1", ports[n])
            reader, writer = links[i, n]
            try:
                return await post(reader, writer, target, body)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                del links[i, n]
                if attempt == 2:
                    raise
                reconnects.append(i)
        raise AssertionError("unreachable")

    async def walk(i: int) -> None:
        openid = openids[i]
        home = index[ring.server(openid)]
        for k, text in enumerate(STEPS[:steps]):
            body = wx.text(openid, text).encode()
            # WeChat adds the sender's openid to a callback's query; the sample nginx hashes on it
            target = "/wechat/callback?" + urlencode({**wx.signed_query(), "openid": openid})
            started = time.perf_counter()
            status, answer = await send(i, home if sticky else (i + k) % len(ports), target, body)
            latencies.append((time.perf_counter() - started) * 1000)
            assert status == 200, (status, answer)
            if answer == b"success":
                deferred.append(i)

    began = time.perf_counter()
    await asyncio.gather(*(walk(i) for i in range(customers)))
    elapsed = time.perf_counter() - began
    for _, writer in links.values():
        writer.close()
    return Load(elapsed, latencies, len(deferred), len(reconnects))


async def measured(
    bots: list[BotProcess], watch: DatabaseWatch, customers: int, steps: int, tag: str, sticky: bool
) -> tuple[Load, Costs, Costs]:
    """The load, and what it cost; also what the idle processes cost per second just before
    (leases, delivery claims, sweeps), the background every turn is measured against."""
    ports = [b.port for b in bots]
    counters = await asyncio.to_thread(watch.counters)
    idle_bots = [cpu_seconds(b.pid) for b in bots]
    idle_db = watch.backends()
    await asyncio.sleep(IDLE_SECONDS)
    before_bots = [cpu_seconds(b.pid) for b in bots]
    before_db = watch.backends()
    # PostgreSQL publishes a backend's counters when it goes idle, at most once a second
    await asyncio.sleep(STATS_DELAY)
    before_counts = watch.counters()
    idle_commits = (before_counts[0] - counters[0] - 2) / (IDLE_SECONDS + STATS_DELAY)
    idle = Costs(
        [a - b for a, b in zip(before_bots, idle_bots, strict=True)],
        sum(cpu - idle_db.get(pid, 0.0) for pid, cpu in before_db.items()),
        0.0,
        round(idle_commits * IDLE_SECONDS),
        0,
    )
    before_bots = [cpu_seconds(b.pid) for b in bots]
    before_db = watch.backends()
    before_self = sum(os.times()[:2])
    watch.start()
    try:
        done = await load(ports, customers, steps, tag, sticky)
    finally:
        watch.stop()
    generator = sum(os.times()[:2]) - before_self
    bots_cpu = [cpu_seconds(b.pid) - was for b, was in zip(bots, before_bots, strict=True)]
    after_db = watch.backends()
    database = sum(cpu - before_db.get(pid, 0.0) for pid, cpu in after_db.items())
    await asyncio.sleep(STATS_DELAY)
    after_counts = watch.counters()
    # less the sampler's own queries (one transaction each) and the idle background meanwhile
    commits = after_counts[0] - before_counts[0] - watch.samples - round(idle_commits * STATS_DELAY) - 2
    rollbacks = after_counts[1] - before_counts[1]
    return done, Costs(bots_cpu, database, generator, commits, rollbacks), idle


def report(count: int, done: Load, costs: Costs, idle: Costs, watch: DatabaseWatch) -> float:
    latencies = done.latencies
    turns = len(latencies)
    rate = turns / done.seconds
    per = 1000 / turns
    print(
        f"{count} process(es): {turns} turns in {done.seconds:.1f} s = {rate:.0f} turns/s; "
        f"p50 {pct(latencies, 0.5):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms; "
        f"{done.deferred} answered later by the API, {done.reconnects} reconnects",
        flush=True,
    )
    bots = " + ".join(f"{c * per:.2f}" for c in costs.bots)
    print(
        f"  CPU per turn: bots {sum(costs.bots) * per:.2f} ms ({bots}), PostgreSQL backends "
        f"{costs.database * per:.2f} ms, load generator {costs.generator * per:.2f} ms; "
        f"{costs.commits / turns:.2f} commits and {costs.rollbacks / turns:.3f} rollbacks per turn",
        flush=True,
    )
    print(
        f"  idle, per second before the load: bots {sum(idle.bots) / IDLE_SECONDS * 1000:.0f} ms CPU, "
        f"PostgreSQL {idle.database / IDLE_SECONDS * 1000:.0f} ms CPU, "
        f"{idle.commits / IDLE_SECONDS:.0f} commits",
        flush=True,
    )
    if watch.samples:
        waits = ", ".join(f"{name} {n / watch.samples:.2f}" for name, n in watch.waits.most_common(8))
        print(f"  backends busy, mean over {watch.samples} samples: {waits}", flush=True)
    return rate


async def main(counts: list[int], customers: int, steps: int, warmup: int, sticky: bool) -> None:
    fake = wx.FakeWeChat().start()
    results: dict[int, float] = {}
    try:
        for count in counts:
            with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
                bots = [BotProcess(Path(tmp), url, fake, name=f"bench{n}", env=FAST) for n in range(count)]
                watch = DatabaseWatch(url)
                try:
                    for bot in bots:
                        bot.start()
                    ports = [b.port for b in bots]
                    await load(ports, warmup, steps, f"W{count}x")  # first turns: caches, pools, flows
                    done, costs, idle = await measured(bots, watch, customers, steps, f"P{count}x", sticky)
                finally:
                    watch.close()
                    for bot in bots:
                        with contextlib.suppress(Exception):
                            bot.stop()
            results[count] = report(count, done, costs, idle, watch)
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
    parser.add_argument(
        "--sticky",
        action="store_true",
        help="route each customer as nginx's hash $arg_openid consistent does",
    )
    args = parser.parse_args()
    asyncio.run(main(args.processes, args.customers, args.steps, args.warmup, args.sticky))
