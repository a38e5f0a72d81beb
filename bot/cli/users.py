"""``tousu users add|list|deactivate``: console accounts (agent, supervisor, admin)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from sqlmodel import Session, col, select

from bot.domain.access import Role
from bot.settings import Settings
from bot.web.console import accounts
from storage import migrate
from storage.db import make_unpooled_engine
from storage.models import ConsoleUser


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("users", help="console accounts")
    usub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="create an account, or reset its password and role")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], required=True)
    add.add_argument("--name", help="display name customers see when this person joins a chat")
    add.add_argument("--department", help="the queue this agent serves (default: all)")
    add.add_argument("--language", choices=("zh", "en"), default="zh", help="console language")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=add_user)
    lst = usub.add_parser("list", help="list accounts")
    lst.set_defaults(handler=list_users)
    off = usub.add_parser("deactivate", help="lock an account and end its sessions")
    off.add_argument("username")
    off.set_defaults(handler=deactivate_user)


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("the passwords differ", file=sys.stderr)
        return None
    return first


def add_user(args: argparse.Namespace, settings: Settings) -> int:
    password = _password(args)
    if password is None:
        return 1
    migrate.upgrade(settings.database_url)
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            user = accounts.add_user(
                session,
                username=args.username,
                password=password,
                role=args.role,
                display_name=args.name,
                department=args.department,
                language=args.language,
            )
            session.commit()
            print(f"{user.username}: {user.role}; log in at /console")
    except accounts.AccountError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def list_users(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        rows = session.exec(select(ConsoleUser).order_by(col(ConsoleUser.username))).all()
    engine.dispose()
    for r in rows:
        state = "" if r.active else "inactive"
        print(f"{r.username:<16} {r.display_name:<16} {r.role:<10} {r.department or '-':<16} {state}")
    if not rows:
        print("no accounts yet: tousu users add NAME --role admin")
    return 0


def deactivate_user(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        found = accounts.deactivate(session, args.username)
        session.commit()
    engine.dispose()
    if not found:
        print(f"no account {args.username}", file=sys.stderr)
        return 1
    print(f"{args.username} can no longer log in")
    return 0
