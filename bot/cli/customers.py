"""``tousu customers find|export|erase``: a customer's data rights from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session

from bot.domain.privacy import mask_phones
from bot.services import data_rights
from bot.settings import Settings
from storage.db import make_unpooled_engine
from storage.types import utcnow

T = TypeVar("T")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "customers", help="find, export or erase a customer's data"
    )
    csub = parser.add_subparsers(dest="customers_command", required=True, metavar="ACTION")
    find = csub.add_parser("find", help="by row id, platform id, phone or name")
    find.add_argument("query")
    find.set_defaults(handler=find_customers)
    exp = csub.add_parser("export", help="everything held about a customer, as a zip (data.json + files)")
    exp.add_argument("customer_id", type=int)
    exp.add_argument("--output", required=True)
    exp.add_argument("--actor", default="cli")
    exp.set_defaults(handler=export_customer)
    era = csub.add_parser("erase", help="erase a customer's personal data; tickets stay, anonymised")
    era.add_argument("customer_id", type=int)
    era.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    era.add_argument("--actor", default="cli")
    era.set_defaults(handler=erase_customer)


def find_customers(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        rows = data_rights.find_customers(session, args.query)
    engine.dispose()
    for c in rows:
        phone = mask_phones(c.phone or "-")
        erased = " erased" if c.erased_at else ""
        print(f"{c.id:>6} {c.channel:<9} {c.external_id:<24} {c.name or '-':<16} {phone}{erased}")
    if not rows:
        print("no customer matches", file=sys.stderr)
        return 1
    return 0


def _recorded(settings: Settings, work: Callable[[Session], T]) -> T | None:
    """Run a data-rights request in one transaction (its ``data_requests`` row commits with it);
    None, after saying why, when there is no such customer."""
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            result = work(session)
            session.commit()
            return result
    except data_rights.NoSuchCustomer as exc:
        print(str(exc), file=sys.stderr)
        return None
    finally:
        engine.dispose()


def export_customer(args: argparse.Namespace, settings: Settings) -> int:
    files_root = settings.path(settings.attachments.dir)

    def work(session: Session) -> data_rights.Export:
        found = data_rights.export(
            session, args.customer_id, actor=args.actor, now=utcnow(), files_root=files_root
        )
        Path(args.output).write_bytes(found.zip_bytes())  # before the commit: no file, no record
        return found

    found = _recorded(settings, work)
    if found is None:
        return 1
    print(f"{args.output}: {len(found.data['messages'])} messages, {len(found.data['tickets'])} tickets")
    return 0


def erase_customer(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print("erasing cannot be undone: add --yes", file=sys.stderr)
        return 2
    places = data_rights.Places.from_settings(settings)
    erased = _recorded(
        settings,
        lambda session: data_rights.erase(
            session, args.customer_id, actor=args.actor, now=utcnow(), places=places
        ),
    )
    if erased is None:
        return 1
    summary, cleanup = erased
    data_rights.finish(cleanup)
    print(
        f"customer {args.customer_id} erased: {summary['messages']} messages, {summary['conversations']} "
        f"conversations, {summary['files']} files removed; {summary['tickets']} tickets kept anonymised"
    )
    return 0
