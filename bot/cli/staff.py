"""``tousu staff add|list|deactivate|telegram-code``: the people of the desk, one row each, with
their roles, departments, console login and contact channels. ``tousu users`` is the same group
under its old name (kept for one release): there ``add`` always sets a console password."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from bot.domain.catalog import Catalog
from bot.domain.enums import StaffRole
from bot.services import departments, people
from bot.services.notifications import new_telegram_code
from bot.settings import Settings
from bot.web.console import accounts
from storage import migrate
from storage.db import make_unpooled_engine
from storage.models import Staff

ALIASES = ("users",)
"""Old names of this group, kept for one release (README, "Staff")."""


def register(sub: Any) -> None:
    _group(sub, "staff", login=False, help_text="the people of the desk: roles, departments, login")
    for alias in ALIASES:
        _group(sub, alias, login=True, help_text="old name of 'tousu staff' (console logins)")


def _group(sub: Any, name: str, *, login: bool, help_text: str) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    ssub = parser.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = ssub.add_parser("add", help="add a person, or update one (roles are added to theirs)")
    add.add_argument("username")
    add.add_argument("--name", help="display name customers and colleagues see")
    add.add_argument(
        "--role",
        action="append",
        choices=[r.value for r in StaffRole],
        help="repeat for several (default for a new person: handler, or agent with a login)",
    )
    add.add_argument("--department", action="append", help="repeat for several (none: every department)")
    add.add_argument("--employee-no")
    add.add_argument("--email", help="where e-mail notifications go")
    add.add_argument("--language", choices=("zh", "en"), help="console language")
    add.add_argument("--password", action="store_true", help="set a console login (prompted twice)")
    add.add_argument("--password-stdin", action="store_true", help="set a console login read from stdin")
    add.set_defaults(handler=add_person, login=login)
    lst = ssub.add_parser("list", help="list people")
    lst.set_defaults(handler=list_people)
    off = ssub.add_parser("deactivate", help="no more tickets, logins or notifications for someone")
    off.add_argument("username")
    off.set_defaults(handler=deactivate_person)
    code = ssub.add_parser("telegram-code", help="a one-time code to link someone's Telegram chat")
    code.add_argument("username")
    code.set_defaults(handler=telegram_code)


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("the passwords differ", file=sys.stderr)
        return None
    return first


def add_person(args: argparse.Namespace, settings: Settings) -> int:
    wants_login = args.login or args.password or args.password_stdin
    password = _password(args) if wants_login else None
    if wants_login and password is None:
        return 1
    migrate.upgrade(settings.database_url)
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            unknown = _unknown_departments(session, settings, args.department or [])
            if unknown:
                print(unknown, file=sys.stderr)
                return 1
            known = people.by_username(session, args.username) is not None
            roles = list(args.role or ([] if known else ["agent" if wants_login else "handler"]))
            person = people.save(
                session,
                username=args.username,
                display_name=args.name,
                add_roles=roles,
                departments=args.department,
                employee_no=args.employee_no,
                language=args.language,
                email=args.email,
            )
            if password is not None:
                accounts.add_user(
                    session,
                    username=args.username,
                    password=password,
                    role=roles[0] if roles else person.roles[0],
                    language=args.language or person.language,
                )
            session.commit()
            where = ", ".join(person.departments) or "every department"
            login = "; log in at /console" if person.password_hash else ""
            print(f"{person.username}: {', '.join(person.roles)} in {where}{login}")
    except (people.PersonError, accounts.AccountError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _unknown_departments(session: Session, settings: Settings, wanted: list[str]) -> str | None:
    """Why ``wanted`` names a department the desk does not have, or None: a mistyped code would
    leave the person seeing no ticket at all. config.yaml's departments are added first, as at
    every start, so a fresh install knows them before the bot has run."""
    if not wanted:
        return None
    departments.seed(session, settings, Catalog.load())
    session.commit()
    codes = list(departments.snapshot(session).names)
    missing = [d for d in wanted if d.strip() and d.strip() not in codes]
    if not missing:
        return None
    return (
        f"no department {missing[0]!r}; the departments are {', '.join(codes)} "
        "(tousu departments lists them; add one in the console: Team > Departments)"
    )


def list_people(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        rows = session.exec(select(Staff).order_by(col(Staff.username))).all()
    engine.dispose()
    for r in rows:
        state = "" if r.active else "inactive"
        login = "login" if r.password_hash else "-"
        print(
            f"{r.username:<16} {r.display_name:<12} {','.join(r.roles):<22} "
            f"{','.join(r.departments) or '*':<18} {login:<6} {state}"
        )
    if not rows:
        print("no staff yet: tousu staff add USERNAME --name NAME --role handler --department DEPT")
    return 0


def deactivate_person(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        found = people.deactivate(session, args.username)
        session.commit()
    engine.dispose()
    if not found:
        print(f"no staff member {args.username}", file=sys.stderr)
        return 1
    print(f"{args.username} no longer receives tickets and can no longer log in")
    return 0


def telegram_code(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        code = new_telegram_code(session, args.username, now=datetime.now(UTC))
        session.commit()
    engine.dispose()
    if code is None:
        print(f"no active staff member {args.username}", file=sys.stderr)
        return 1
    print(f"send the bot on Telegram: /link {code}  (valid 15 minutes)")
    return 0
