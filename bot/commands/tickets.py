"""``tousu tickets list [--json]``: the newest tickets, for people and for scripts."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlmodel import Session, col, select

from bot.settings import Settings
from storage.db import make_unpooled_engine
from storage.models import Customer
from storage.repositories import tickets as ticket_repo


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("tickets", help="list and show tickets")
    tsub = parser.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    lst = tsub.add_parser("list", help="list the newest tickets")
    lst.add_argument("--json", action="store_true", help="print a JSON list")
    lst.add_argument("--status")
    lst.add_argument("--kind")
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(handler=list_tickets)


def list_tickets(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    tz = settings.general.tz
    with Session(engine) as session:
        rows = ticket_repo.listing(session, status=args.status, kind=args.kind, limit=args.limit)
        ids = {t.customer_id for t in rows}
        query = select(Customer).where(col(Customer.id).in_(ids))
        customers = {c.id: c for c in session.exec(query)} if ids else {}
    engine.dispose()
    items = []
    for t in rows:
        customer = customers.get(t.customer_id)
        items.append(
            {
                "number": t.number,
                "kind": t.kind,
                "status": t.status,
                "severity": t.severity,
                "category": t.category,
                "customer": f"{customer.channel}:{customer.external_id}" if customer else None,
                "channel": t.channel,
                "created_at": t.created_at.isoformat(),
                "description": t.description,
            }
        )
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return 0
    if not items:
        print("no tickets")
        return 0
    for t, item in zip(rows, items, strict=True):
        local = t.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        desc = " ".join(t.description.split())[:40]
        print(
            f"{t.number}  {local}  {t.kind:<12} {t.status:<10} {t.severity:<6} "
            f"{(t.category or '-'):<16} {item['customer']}  {desc}"
        )
    return 0
