"""``tousu db upgrade``: apply the Alembic migrations to the configured database."""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings
from storage import migrate


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("db", help="database schema")
    dbsub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply migrations (run also does this)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=upgrade)


def upgrade(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url, args.revision)
    print(f"database at {_redact(settings.database_url)} is at {args.revision}")
    return 0


def _redact(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
