"""``tousu webhooks add|list|enable|remove|log|resend``: endpoints that receive signed event POSTs.
A new endpoint's secret is printed once; the running bot delivers (bot/services/webhooks.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlmodel import Session

from bot.services import webhooks
from bot.settings import Settings
from storage import migrate
from storage.db import make_unpooled_engine
from storage.repositories import webhooks as repo
from storage.types import utcnow


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("webhooks", help="outbound webhook endpoints")
    wsub = parser.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    add = wsub.add_parser("add", help="register an endpoint (its signing secret is printed once)")
    add.add_argument("url")
    add.add_argument(
        "--events",
        default="all",
        help=f"comma-separated, or all (default): {', '.join(webhooks.EVENTS)}",
    )
    add.set_defaults(handler=add_endpoint)
    lst = wsub.add_parser("list", help="list endpoints")
    lst.set_defaults(handler=list_endpoints)
    enable = wsub.add_parser("enable", help="turn an endpoint that went off (a 410) on again")
    enable.add_argument("id", type=int)
    enable.set_defaults(handler=enable_endpoint)
    remove = wsub.add_parser("remove", help="remove an endpoint and its delivery log")
    remove.add_argument("id", type=int)
    remove.set_defaults(handler=remove_endpoint)
    log = wsub.add_parser("log", help="an endpoint's latest deliveries with their answers")
    log.add_argument("id", type=int)
    log.add_argument("--limit", type=int, default=50)
    log.set_defaults(handler=show_log)
    resend = wsub.add_parser("resend", help="send a logged delivery again (same body and event id)")
    resend.add_argument("delivery", type=int)
    resend.set_defaults(handler=send_again)


def add_endpoint(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.database_url)
    events = [e.strip() for e in str(args.events).split(",") if e.strip()]
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            row = webhooks.add_endpoint(session, url=args.url, events=events, now=utcnow())
            session.commit()
            print(row.secret)
            print(
                f"endpoint {row.id}: {row.url} ({', '.join(row.events)}). The line above is its signing "
                "secret; keep it now: it is not shown again.",
                file=sys.stderr,
            )
    except webhooks.WebhookError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def list_endpoints(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            rows = [
                (r.id, r.url, r.events, r.active, r.disabled_reason, r.disabled_at)
                for r in repo.endpoints(session)
            ]
    finally:
        engine.dispose()
    for endpoint_id, url, events, active, reason, since in rows:
        why = OFF_BECAUSE.get(reason or "", reason or "turned off")
        when = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
        state = "active" if active else f"off{when}: {why} (tousu webhooks enable {endpoint_id})"
        print(f"{endpoint_id:<4} {url}  {','.join(events)}  {state}")
    if not rows:
        print("no endpoints yet: tousu webhooks add URL --events ticket.created,ticket.status_changed")
    return 0


OFF_BECAUSE: dict[str, str] = {webhooks.Disabled.GONE: "the receiver answered 410 Gone"}


def enable_endpoint(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            found = webhooks.enable_endpoint(session, endpoint_id=args.id, now=utcnow())
            session.commit()
    finally:
        engine.dispose()
    if not found:
        print(f"no endpoint {args.id}", file=sys.stderr)
        return 1
    print(f"endpoint {args.id} is on: it gets the events from now on")
    return 0


def remove_endpoint(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            found = repo.remove_endpoint(session, endpoint_id=args.id)
            session.commit()
    finally:
        engine.dispose()
    if not found:
        print(f"no endpoint {args.id}", file=sys.stderr)
        return 1
    print(f"endpoint {args.id} removed")
    return 0


def show_log(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            rows = [
                (r.id, r.event, r.event_id, r.status, r.attempts, r.last_status, r.last_error, r.created_at)
                for r in repo.log(session, endpoint_id=args.id, limit=args.limit)
            ]
    finally:
        engine.dispose()
    for delivery_id, event, event_id, status, attempts, code, error, created in rows:
        answer = str(code) if code is not None else (error or "-")[:60]
        when = f"{created:%Y-%m-%d %H:%M}"
        print(f"{delivery_id:<6} {when} {event:<24} {event_id:<20} {status:<10} x{attempts} {answer}")
    if not rows:
        print(f"nothing delivered to endpoint {args.id} yet")
    return 0


def send_again(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_unpooled_engine(settings.database_url)
    try:
        with Session(engine) as session:
            found = repo.send_again(session, delivery_id=args.delivery, now=utcnow())
            session.commit()
    finally:
        engine.dispose()
    if not found:
        print(f"no delivery {args.delivery}", file=sys.stderr)
        return 1
    print(f"delivery {args.delivery} queued again")
    return 0
