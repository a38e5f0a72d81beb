"""WeChat callback benchmark: the app behind a real uvicorn server on 127.0.0.1, N customers at
once, each walking the first steps of the intake; latency is the callback's HTTP round trip
(signature check, XML, store, turn, passive reply).

    PYTHONPATH=. .venv/bin/python bench/wechat_bench.py --customers 200 --steps 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import uvicorn
from pydantic import SecretStr

from bot.app import TousuApp
from bot.web.server import create_web_app
from tests.conftest import make_settings
from tests.fakes import wechat_api as wx

STEPS = ["你好", "1", "我买的桶装水有异味，喝了不舒服", "1", "昨天", "小区门口", "无"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str, body: bytes
) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on a kept-alive connection; (status, body)."""
    writer.write(
        f"POST {target} HTTP/1.1\r\nHost: bench\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def load(port: int, customers: int, steps: int) -> None:
    latencies: list[float] = []
    passive = 0
    # The load generator shares the 2 cores with the server, so it is kept lean: one kept-alive
    # connection per customer, opened before the clock starts, and requests written by hand.
    # (With an httpx client per customer the generator burned more CPU than the server did, and
    # making 200 clients while the first answers came back was counted as server latency.)
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(customers)]

    async def walk(i: int) -> None:
        nonlocal passive
        reader, writer = connections[i]
        for text in STEPS[:steps]:
            body = wx.text(f"oBench{i}", text).encode()
            target = "/wechat/callback?" + urlencode(wx.signed_query())
            started = time.perf_counter()
            status, answer = await post(reader, writer, target, body)
            latencies.append((time.perf_counter() - started) * 1000)
            assert status == 200, (status, answer)
            passive += answer != b"success"
        writer.close()

    cpu = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(*(walk(i) for i in range(customers)))
    elapsed = time.perf_counter() - began
    count = len(latencies)
    print(
        f"{customers} concurrent customers x {steps} messages = {count} callbacks in "
        f"{elapsed:.1f} s ({count / elapsed:.0f}/s); passive replies {passive}/{count}; "
        f"load generator CPU {time.process_time() - cpu:.2f} s"
    )
    print(
        f"callback latency: p50 {pct(latencies, 0.5):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms, "
        f"p99.9 {pct(latencies, 0.999):.0f} ms, max {max(latencies):.0f} ms",
        flush=True,
    )


async def main(customers: int, steps: int) -> None:
    fake = wx.FakeWeChat().start()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(
            Path(tmp),
            wechat={
                "app_id": wx.APP_ID,
                "app_secret": SecretStr(wx.SECRET),
                "token": SecretStr(wx.TOKEN),
                "api_base_url": fake.base_url,
            },
        )
        app = TousuApp(settings, use_nlu=False)
        server = uvicorn.Server(
            uvicorn.Config(
                create_web_app(app, serving=True),  # tuned as `tousu run` is
                host="127.0.0.1",
                port=port,
                log_level="warning",
                timeout_keep_alive=120,
                backlog=4096,
            )
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.01)
        # The load comes from another process, so the client's own work does not share the
        # server's event loop (in one process, httpx's pool bookkeeping took a third of the time).
        cpu_before = time.process_time()
        load = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            str(port),
            "--customers",
            str(customers),
            "--steps",
            str(steps),
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )
        await load.wait()
        print(f"server CPU during the load: {time.process_time() - cpu_before:.2f} s", flush=True)
        server.should_exit = True
        await serving
    fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(load(args.client, args.customers, args.steps))
    else:
        asyncio.run(main(args.customers, args.steps))
