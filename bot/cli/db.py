"""``tousu db upgrade``: apply the Alembic migrations to the configured database."""

from __future__ import annotations

import argparse
from typing import Any

from sqlmodel import Session

from bot.domain.catalog import Catalog
from bot.services import departments
from bot.settings import Settings
from storage import migrate
from storage.db import make_unpooled_engine


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("db", help="database schema")
    dbsub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply migrations (run also does this)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=upgrade)


def upgrade(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url, args.revision)
    if args.revision == "head":  # config.yaml's departments and routes the tables lack
        engine = make_unpooled_engine(settings.database_url)
        try:
            with Session(engine) as session:
                departments.seed(session, settings, Catalog.load())
                session.commit()
        finally:
            engine.dispose()
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
