"""``tousu staff add|list|deactivate``: the staff directory routing assigns tickets from."""

from __future__ import annotations

import argparse
from typing import Any

from sqlmodel import Session, col, select

from bot.domain.enums import StaffRole
from bot.settings import Settings
from storage.db import make_unpooled_engine
from storage.models import Staff


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("staff", help="the staff directory")
    ssub = parser.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    add = ssub.add_parser("add", help="add or update a staff member")
    add.add_argument("username")
    add.add_argument("--name", required=True)
    add.add_argument("--department", required=True)
    add.add_argument("--role", choices=[r.value for r in StaffRole], default=StaffRole.HANDLER.value)
    add.add_argument("--employee-no")
    add.set_defaults(handler=add_staff)
    lst = ssub.add_parser("list", help="list staff")
    lst.set_defaults(handler=list_staff)
    off = ssub.add_parser("deactivate", help="stop routing tickets to someone")
    off.add_argument("username")
    off.set_defaults(handler=deactivate_staff)


def add_staff(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        row = session.exec(select(Staff).where(Staff.username == args.username)).first() or Staff(
            username=args.username, name=args.name, department=args.department
        )
        row.name, row.department, row.role, row.active = args.name, args.department, args.role, True
        row.employee_no = args.employee_no or row.employee_no
        session.add(row)
        session.commit()
    engine.dispose()
    print(f"{args.username}: {args.role} in {args.department}")
    return 0


def list_staff(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        rows = session.exec(select(Staff).order_by(col(Staff.department), col(Staff.username))).all()
    engine.dispose()
    for r in rows:
        print(
            f"{r.username:<16} {r.name:<12} {r.department:<18} {r.role:<10} {'' if r.active else 'inactive'}"
        )
    if not rows:
        print("no staff yet: tousu staff add USERNAME --name NAME --department DEPT")
    return 0


def deactivate_staff(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        row = session.exec(select(Staff).where(Staff.username == args.username)).first()
        if row is None:
            print(f"no staff member {args.username}")
            return 1
        row.active = False
        session.add(row)
        session.commit()
    engine.dispose()
    print(f"{args.username} no longer receives tickets")
    return 0
