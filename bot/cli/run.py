"""``tousu run``: migrate, then serve the web server, the channels and the NLU server; ``tousu
scheduler``: the follow-up scheduler alone, beside app processes run with ``--no-scheduler``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

import uvicorn

from bot.app import SchedulerProcess, TousuApp
from bot.settings import Settings
from bot.web.server import create_web_app
from storage import migrate

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("run", help="run the bot (web, channels, NLU)")
    parser.add_argument(
        "--no-nlu", action="store_true", help="menus only: neither Rasa nor the built-in classifier"
    )
    parser.add_argument(
        "--no-scheduler",
        action="store_true",
        help="leave the follow-up scheduler to a `tousu scheduler` process",
    )
    parser.set_defaults(handler=run)
    scheduler = sub.add_parser("scheduler", help="run only the follow-up scheduler (no web, no channels)")
    scheduler.set_defaults(handler=run_scheduler)


def run(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url)
    tousu = TousuApp(
        settings,
        use_nlu=False if args.no_nlu else None,
        migrate_on_start=False,
        run_scheduler=False if args.no_scheduler else None,
    )
    web = create_web_app(tousu, serving=True)
    config = uvicorn.Config(
        web,
        host=settings.web.host,
        port=settings.web.port,
        log_level=settings.general.log_level.lower(),
        proxy_headers=True,
        ws_max_size=256 * 1024,
        # open console event streams and chat sockets would otherwise hold a shutdown forever
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    base = f"http://{settings.web.host}:{settings.web.port}"
    log.info("channels: %s", ", ".join(sorted(tousu.channels)))
    print(
        f"Tousu: chat at {base}/chat, agent console at {base}/console, "
        f"health at {base}/health (Ctrl-C stops)",
        flush=True,
    )
    asyncio.run(server.serve())
    return 0


def run_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url)
    print("Tousu scheduler: follow-ups, deadlines and alerts (SIGTERM or Ctrl-C stops)", flush=True)
    asyncio.run(_serve_scheduler(SchedulerProcess(settings)))
    return 0


async def _serve_scheduler(process: SchedulerProcess) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await process.start()
    try:
        await stop.wait()
    finally:
        await process.stop()
