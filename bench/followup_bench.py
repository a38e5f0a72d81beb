"""Follow-up scheduler benchmark: N pending follow-ups, then a restart.

1. seed N pending follow-ups (most due in days, ``--window`` of them due within the next minute)
   and let one scheduler give those within its horizon APScheduler jobs (timed: scheduling);
2. stop it (as a restart would), start a fresh scheduler and time ``start()`` until it holds the
   lease, runs APScheduler and has rebuilt its jobs from the rows (start-up);
3. wait for the soon-due ones and report lateness = fired_at - due_at (p50, p99, max).

    PYTHONPATH=. .venv/bin/python bench/followup_bench.py --pending 100000 --window 1000
    PYTHONPATH=. .venv/bin/python bench/followup_bench.py --url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, col, select

from bot.services.scheduler import FollowUpScheduler
from bot.services.ticket_desk import TicketDesk
from bot.services.tickets import TicketService
from bot.settings import SchedulerSettings
from storage import migrate
from storage.db import Database
from storage.models import Customer, FollowUp, Ticket, TicketDeadline
from storage.types import utcnow
from tests.conftest import make_settings


def seed(db: Database, pending: int, window: int, lead: float, spread: float) -> None:
    def run(session: Session) -> None:
        customer = Customer(channel="console", external_id="bench")
        session.add(customer)
        session.flush()
        ticket = Ticket(
            number="2611230001",
            kind="complaint",
            channel="console",
            customer_id=customer.id or 0,
            assignee="h1",
            status="acknowledged",
        )
        session.add(ticket)
        session.flush()
        now = utcnow()
        session.add(
            TicketDeadline(
                ticket_id=ticket.id or 0, name="close", due_at=now + timedelta(days=30), warn_at=now
            )
        )
        rows = []
        for i in range(pending):
            soon = i < window
            due = (
                now + timedelta(seconds=lead + spread * i / max(window, 1))
                if soon
                else now + timedelta(days=2 + i % 20, seconds=i)
            )
            rows.append(
                {
                    "ticket_id": ticket.id,
                    "kind": "sla_warn",
                    "due_at": due,
                    "data": {"deadline": "close"},
                    "status": "pending",
                    "scheduled": False,
                    "created_at": now,
                }
            )
        for start in range(0, len(rows), 5000):
            session.execute(insert(FollowUp), rows[start : start + 5000])

    db.run_sync(run)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1000, help="how many fall due right after the restart")
    parser.add_argument("--url", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tousu-fu-bench-"))
    url = args.url or f"sqlite:///{tmp / 'bench.db'}"
    migrate.upgrade(url)
    settings = make_settings(tmp, db_url=url)
    desk = TicketDesk.from_settings(settings)
    knobs = SchedulerSettings(misfire_grace_hours=48, lease_seconds=5, sweep_seconds=10)

    db = Database(url)
    lead = 30.0 + args.pending / 300  # the soon-due ones fall due after scheduling and the restart
    t0 = time.perf_counter()
    seed(db, args.pending, args.window, lead=lead, spread=20.0)
    print(f"seeded {args.pending} follow-ups in {time.perf_counter() - t0:.1f} s")

    def scheduler(db: Database, holder: str) -> FollowUpScheduler:
        service = TicketService(db=db, desk=desk, delivery=None, clock=utcnow)
        return FollowUpScheduler(db=db, service=service, settings=knobs, holder=holder)

    first = scheduler(db, "a")
    t0 = time.perf_counter()
    await first.start()
    print(f"scheduling: {time.perf_counter() - t0:.2f} s ({len(first.job_ids())} jobs)")
    await first.stop()
    db.close()

    db = Database(url)
    second = scheduler(db, "b")
    t0 = time.perf_counter()
    await second.start()
    startup = time.perf_counter() - t0
    print(f"start-up after restart with {args.pending} pending: {startup:.2f} s (leading={second.leading})")

    def soon_rows(session: Session) -> list[FollowUp]:
        return list(session.exec(select(FollowUp).where(col(FollowUp.id) <= args.window)).all())

    deadline = time.monotonic() + lead + 120
    while time.monotonic() < deadline:
        rows = db.run_sync(soon_rows)
        if all(r.fired_at for r in rows):
            break
        await asyncio.sleep(0.5)
    rows = db.run_sync(soon_rows)
    late = sorted((r.fired_at - r.due_at).total_seconds() for r in rows if r.fired_at)
    await second.stop()
    db.close()
    print(
        f"fired {len(late)}/{args.window}; lateness p50 {statistics.median(late):.3f} s, "
        f"p99 {late[int(len(late) * 0.99) - 1]:.3f} s, max {late[-1]:.3f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
