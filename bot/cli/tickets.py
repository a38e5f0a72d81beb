"""``tousu tickets list|show|move|contact``: the newest tickets, one ticket with its history and SLA
clocks, and status changes from the command line (the same desk operations the console uses)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlmodel import Session, col, select

from bot.domain.enums import ContactMethod
from bot.domain.states import TRANSITIONS, InvalidTransition
from bot.services.ticket_desk import LifecycleError, TicketDesk
from bot.services.work import Work
from bot.settings import Settings
from storage.db import Database, make_unpooled_engine
from storage.models import Customer, TicketDeadline
from storage.repositories import tickets as ticket_repo
from storage.types import utcnow


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("tickets", help="list and show tickets")
    tsub = parser.add_subparsers(dest="tickets_command", required=True, metavar="ACTION")
    lst = tsub.add_parser("list", help="list the newest tickets")
    lst.add_argument("--json", action="store_true", help="print a JSON list")
    lst.add_argument("--status")
    lst.add_argument("--kind")
    lst.add_argument("--limit", type=int, default=50)
    lst.set_defaults(handler=list_tickets)
    show = tsub.add_parser("show", help="one ticket with its deadlines and full history")
    show.add_argument("number")
    show.add_argument("--as", dest="viewer", help="staff username: refused if the complaint names them")
    show.set_defaults(handler=show_ticket)
    move = tsub.add_parser("move", help="change a ticket's status (checked against the state machine)")
    move.add_argument("number")
    move.add_argument("status", choices=sorted(TRANSITIONS))
    move.add_argument("--actor", default="admin", help="who is acting (recorded in the audit trail)")
    move.add_argument("--note")
    move.set_defaults(handler=move_ticket)
    contact = tsub.add_parser("contact", help="record that a person reached the customer (meets acknowledge)")
    contact.add_argument("number")
    contact.add_argument("--actor", required=True, help="who reached them, e.g. agent:lisi")
    contact.add_argument(
        "--how",
        choices=[str(m) for m in ContactMethod if m is not ContactMethod.REPLY],
        default=str(ContactMethod.PHONE),
    )
    contact.add_argument("--note")
    contact.set_defaults(handler=record_contact)


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


def show_ticket(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    tz = settings.general.tz
    with Session(engine) as session:
        ticket = ticket_repo.by_number(session, number=args.number)
        if ticket is None:
            print(f"no ticket {args.number}")
            return 1
        if args.viewer and not TicketDesk.can_see(ticket, args.viewer):
            print(f"{args.viewer} is named in ticket {args.number} and may not see it")
            return 2
        clocks = session.exec(
            select(TicketDeadline)
            .where(TicketDeadline.ticket_id == ticket.id)
            .order_by(col(TicketDeadline.due_at))
        ).all()
        history = ticket_repo.events(session, ticket_id=ticket.id or 0)
    engine.dispose()

    def local(moment: object) -> str:
        return "-" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")  # type: ignore[attr-defined]

    print(f"ticket {ticket.number}  {ticket.kind}  {ticket.status}  severity {ticket.severity}")
    print(f"  category   {ticket.category or '-'}   target {ticket.target or '-'}")
    print(
        f"  department {ticket.department or '-'}   assignee {ticket.assignee or '-'}"
        f"   escalated to {ticket.escalated_to or '-'}"
    )
    if ticket.recused:
        print(f"  recused    {', '.join(ticket.recused)}")
    for reason in ticket.severity_reasons:
        print(f"  major      {reason.get('rule')}: {reason.get('reason')}")
    if ticket.appeal_of:
        print(f"  appeal of  ticket id {ticket.appeal_of}")
    print(f"  created    {local(ticket.created_at)}   resolved {local(ticket.resolved_at)}", end="")
    print(f"   closed {local(ticket.closed_at)}")
    if ticket.satisfaction is not None:
        print(f"  survey     {ticket.satisfaction}/5 {ticket.satisfaction_comment or ''}")
    print(f"  description {' '.join(ticket.description.split())}")
    print("deadlines:")
    for c in clocks:
        state = "met " + local(c.met_at) if c.met_at else ("BREACHED" if c.breached_at else "open")
        print(f"  {c.name:<22} due {local(c.due_at)}  warn {local(c.warn_at)}  {state}")
    print("history:")
    for e in history:
        change = ""
        if e.before or e.after:
            change = f" {e.before or ''} -> {e.after or ''}"
        note = f"  ({e.note})" if e.note else ""
        print(f"  {local(e.at)}  {e.actor:<14} {e.action}{change}{note}")
    return 0


def move_ticket(args: argparse.Namespace, settings: Settings) -> int:
    desk = TicketDesk.from_settings(settings)
    db = Database(settings.database_url)
    try:

        def run(session: Session) -> str:
            ticket = ticket_repo.by_number(session, number=args.number)
            if ticket is None:
                raise LifecycleError(f"no ticket {args.number}")
            desk.move(Work(session, utcnow()), ticket, args.status, actor=args.actor, note=args.note)
            return ticket.status

        status = db.run_sync(run)
    except (LifecycleError, InvalidTransition) as exc:
        print(f"refused: {exc}")
        return 1
    finally:
        db.close()
    print(f"ticket {args.number} is now {status} (the bot tells the customer when it next runs)")
    return 0


def record_contact(args: argparse.Namespace, settings: Settings) -> int:
    """A call or visit made outside the bot: the acknowledge clock is met by a person's act."""
    desk = TicketDesk.from_settings(settings)
    db = Database(settings.database_url)
    try:

        def run(session: Session) -> None:
            ticket = ticket_repo.by_number(session, number=args.number)
            if ticket is None:
                raise LifecycleError(f"no ticket {args.number}")
            work = Work(session, utcnow())
            desk.record_contact(work, ticket, actor=args.actor, how=args.how, note=args.note)

        db.run_sync(run)
    except LifecycleError as exc:
        print(f"refused: {exc}")
        return 1
    finally:
        db.close()
    print(f"ticket {args.number}: contact by {args.actor} recorded")
    return 0
