"""``tousu api-tokens create|list|revoke``: tokens for the REST API (/api/v1). A new token is
printed once; only its hash is stored."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlmodel import Session

from bot.domain.access import Role
from bot.settings import Settings
from bot.web.api import tokens
from storage import migrate
from storage.db import make_unpooled_engine
from storage.repositories import api_tokens
from storage.types import utcnow


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("api-tokens", help="REST API tokens")
    tsub = parser.add_subparsers(dest="api_tokens_command", required=True, metavar="ACTION")
    create = tsub.add_parser("create", help="make a token (printed once)")
    create.add_argument("name", help="who the token acts as: a console username, or a system's name")
    create.add_argument("--role", choices=[r.value for r in Role], required=True)
    create.add_argument("--department", help="the departments' work it sees (default: all)")
    create.set_defaults(handler=create_token)
    lst = tsub.add_parser("list", help="list tokens (never the tokens themselves)")
    lst.set_defaults(handler=list_tokens)
    revoke = tsub.add_parser("revoke", help="stop a token from working")
    revoke.add_argument("name")
    revoke.set_defaults(handler=revoke_token)


def create_token(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url)
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            made = tokens.create(
                session, name=args.name, role=args.role, department=args.department, now=utcnow()
            )
            session.commit()
    except tokens.TokenError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(made.secret)
    print(f"{args.name}: {args.role}. Keep the token now: it is not shown again.", file=sys.stderr)
    return 0


def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            rows = [
                (r.name, r.role, r.department, r.prefix, r.created_at, r.revoked_at)
                for r in api_tokens.listing(session)
            ]
    finally:
        engine.dispose()
    for name, role, department, prefix, created, revoked in rows:
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else ""
        print(f"{name:<20} {role:<10} {department or '-':<16} {prefix}…  {created:%Y-%m-%d}  {state}")
    if not rows:
        print("no tokens yet: tousu api-tokens create NAME --role agent")
    return 0


def revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            found = api_tokens.revoke(session, name=args.name, now=utcnow())
            session.commit()
    finally:
        engine.dispose()
    if not found:
        print(f"no live token {args.name}", file=sys.stderr)
        return 1
    print(f"{args.name} no longer works")
    return 0
