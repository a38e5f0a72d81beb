"""The ``tousu`` command. Each command group lives in ``bot/cli/<group>.py`` and exposes
``register(subparsers)``; a handler takes the parsed args and the loaded settings and returns an
exit code. Settings load once here so every command honours ``--config`` the same way."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from bot.domain.privacy import redact_handlers
from bot.settings import ConfigError, Settings, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]

COMMAND_MODULES: tuple[str, ...] = (
    "bot.cli.run",
    "bot.cli.chat",
    "bot.cli.db",
    "bot.cli.flows",
    "bot.cli.tickets",
    "bot.cli.staff",
    "bot.cli.departments",
    "bot.cli.api_tokens",
    "bot.cli.webhooks",
    "bot.cli.report",
    "bot.cli.customers",
    "bot.cli.nlu",
    "bot.cli.wechat",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tousu", description="Tousu complaint-desk bot")
    parser.add_argument("--config", help="path to config.yaml (default: ./config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


PRIVATE_UMASK = 0o077
"""Everything the bot creates (database, attachments, exports, models, spool, secrets, logs, and
what Rasa writes as its child) is its owner's only: files 0600, folders 0700."""


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.general.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redact_handlers(logging.getLogger())  # phone numbers and tokens never reach a log line
    # httpx logs every request URL at INFO, and Rasa's auth token travels in the query string.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler logs every job added and every pause/resume of a batch at INFO; the follow-up
    # scheduler logs one line per batch itself.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
