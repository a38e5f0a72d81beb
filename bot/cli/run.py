"""``tousu run``: migrate, then serve the web server, the channels and the NLU server."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import uvicorn

from bot.app import TousuApp
from bot.settings import Settings
from bot.web.server import create_web_app
from storage import migrate

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("run", help="run the bot (web, channels, NLU)")
    parser.add_argument("--no-nlu", action="store_true", help="menus only, no NLU server")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url)
    tousu = TousuApp(settings, use_nlu=False if args.no_nlu else None, migrate_on_start=False)
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
