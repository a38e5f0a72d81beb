"""The follow-up scheduler for real: APScheduler's jobs rebuilt from the follow_ups rows, two
schedulers on one database (only one runs jobs), and kill -9 with follow-ups pending."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.services.scheduler import FollowUpScheduler
from bot.services.ticket_desk import TicketDesk
from bot.services.tickets import TicketService
from bot.settings import SchedulerSettings
from nlu.server import free_port
from storage import migrate
from storage.db import Database
from storage.models import Customer, FollowUp, Lease, StaffAlert, Ticket, TicketDeadline
from storage.types import utcnow
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.timeout(120)

FAST = SchedulerSettings(misfire_grace_hours=1, lease_seconds=5, sweep_seconds=0.5)


def seed_ticket(db: Database) -> int:
    """A ticket with an unmet deadline: every sla_warn follow-up on it writes one staff alert."""

    def seed(session: Session) -> int:
        customer = Customer(channel="console", external_id="sched")
        session.add(customer)
        session.flush()
        assert customer.id is not None
        ticket = Ticket(
            number="2611230001",
            kind="complaint",
            channel="console",
            customer_id=customer.id,
            assignee="lisi",
            status="acknowledged",
        )
        session.add(ticket)
        session.flush()
        assert ticket.id is not None
        now = utcnow()
        session.add(
            TicketDeadline(ticket_id=ticket.id, name="close", due_at=now + timedelta(days=9), warn_at=now)
        )
        return ticket.id

    return db.run_sync(seed)


def add_follow_ups(db: Database, ticket_id: int, delays: list[float]) -> list[int]:
    def add(session: Session) -> list[int]:
        rows = [
            FollowUp(
                ticket_id=ticket_id,
                kind="sla_warn",
                due_at=utcnow() + timedelta(seconds=d),
                data={"deadline": "close"},
            )
            for d in delays
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows if r.id is not None]

    return db.run_sync(add)


def fired(db: Database, ids: list[int]) -> dict[int, datetime | None]:
    def read(session: Session) -> dict[int, datetime | None]:
        rows = session.exec(select(FollowUp).where(col(FollowUp.id).in_(ids))).all()
        return {r.id or 0: r.fired_at for r in rows}

    return db.run_sync(read)


def alert_count(db: Database) -> int:
    return len(db.run_sync(lambda s: s.exec(select(StaffAlert).where(StaffAlert.kind == "warning")).all()))


def lease_holder(db: Database) -> str | None:
    lease = db.run_sync(lambda s: s.get(Lease, "scheduler"))
    return None if lease is None else lease.holder


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def test_two_schedulers_on_one_database_only_one_runs_jobs(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url=db_url)
    desk = TicketDesk.from_settings(settings)
    dbs = [Database(db_url), Database(db_url)]

    def settled(i: int) -> Database:
        return dbs[i]

    services = [TicketService(db=db, desk=desk, delivery=None, clock=utcnow) for db in dbs]
    schedulers = [
        FollowUpScheduler(db=db, service=svc, settings=FAST, holder=f"p{i}")
        for i, (db, svc) in enumerate(zip(dbs, services, strict=True))
    ]
    try:
        for scheduler in schedulers:
            await scheduler.start()
        assert [s.leading for s in schedulers] == [True, False]
        ticket_id = seed_ticket(settled(0))
        ids = add_follow_ups(settled(1), ticket_id, [0.5, 1.0, 1.0, 1.5, 2.0, 2.5])
        await until(lambda: all(fired(settled(0), ids).values()))
        await asyncio.sleep(1.0)  # room for a second firing, if there were one
        assert alert_count(settled(0)) == len(ids)
        assert schedulers[0].fired == len(ids) and schedulers[1].fired == 0

        await schedulers[0].stop()  # the leader goes away, handing the lease back; the other takes over
        assert lease_holder(settled(0)) in (None, "p1")
        later = add_follow_ups(settled(0), ticket_id, [0.5])
        await until(lambda: schedulers[1].leading, timeout=10)
        await until(lambda: all(fired(settled(1), later).values()) and schedulers[1].fired == 1)
        assert alert_count(settled(0)) == len(ids) + 1
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
        for db in dbs:
            db.close()


async def test_follow_ups_get_jobs_only_once_inside_the_horizon(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    service = TicketService(db=db, desk=TicketDesk.from_settings(settings), delivery=None, clock=utcnow)
    near_settings = FAST.model_copy(update={"horizon_minutes": 0.05})  # three seconds
    scheduler = FollowUpScheduler(db=db, service=service, settings=near_settings)

    def jobs_and_flags(ids: list[int]) -> tuple[set[str], list[bool]]:
        def read(session: Session) -> tuple[set[str], list[bool]]:
            rows = session.exec(select(FollowUp).where(col(FollowUp.id).in_(ids)).order_by(col(FollowUp.id)))
            return scheduler.job_ids(), [r.scheduled for r in rows]

        return db.run_sync(read)

    try:
        ticket_id = seed_ticket(db)
        near, far = add_follow_ups(db, ticket_id, [1.0, 6.0])
        await scheduler.start()
        assert jobs_and_flags([near, far]) == ({f"fu:{near}"}, [True, False])  # far: a row only
        await until(lambda: fired(db, [near])[near] is not None, timeout=10)
        assert fired(db, [far])[far] is None
        await until(lambda: fired(db, [far])[far] is not None, timeout=15)  # scheduled by a sweep
        # the row is claimed inside the job; the scheduler counts the job once it has returned
        await until(lambda: scheduler.fired == 2, timeout=5)
        assert alert_count(db) == 2
    finally:
        await scheduler.stop()
        db.close()


async def test_a_new_leader_rebuilds_jobs_its_predecessor_held(tmp_path: Path, db_url: str) -> None:
    """Rows a dead leader had marked scheduled fire on time under the next one: its jobs lived in
    its memory, so the next leader makes them again from the rows."""
    settings = make_settings(tmp_path, db_url=db_url)
    db = Database(db_url)
    service = TicketService(db=db, desk=TicketDesk.from_settings(settings), delivery=None, clock=utcnow)
    scheduler = FollowUpScheduler(db=db, service=service, settings=FAST, holder="next")
    try:
        ticket_id = seed_ticket(db)
        ids = add_follow_ups(db, ticket_id, [-2.0, 1.0])  # one overdue while no scheduler ran
        db.run_sync(lambda s: s.execute(update(FollowUp).values(scheduled=True)))  # by the dead leader
        await scheduler.start()
        assert scheduler.leading
        await until(lambda: all(fired(db, ids).values()), timeout=10)  # well before the 60 s sweep
        await until(lambda: scheduler.fired == 2, timeout=5)
        assert alert_count(db) == 2
    finally:
        await scheduler.stop()
        db.close()


async def test_a_moved_follow_up_has_one_job_at_its_new_time(tmp_path: Path, db_url: str) -> None:
    """A follow-up moved later (as quiet hours do: new due_at, unscheduled) has its job replaced,
    not doubled, and fires once, at the new time."""
    settings = make_settings(tmp_path, db_url=db_url)
    db = Database(db_url)
    service = TicketService(db=db, desk=TicketDesk.from_settings(settings), delivery=None, clock=utcnow)
    scheduler = FollowUpScheduler(db=db, service=service, settings=FAST)
    try:
        ticket_id = seed_ticket(db)
        (moved,) = add_follow_ups(db, ticket_id, [3.0])
        await scheduler.start()
        assert scheduler.job_ids() == {f"fu:{moved}"}
        later = utcnow() + timedelta(seconds=5)
        db.run_sync(
            lambda s: s.execute(
                update(FollowUp).where(col(FollowUp.id) == moved).values(due_at=later, scheduled=False)
            )
        )

        def jobs() -> list[tuple[str, datetime]]:
            aps = scheduler.aps
            return [] if aps is None else [(j.id, j.next_run_time) for j in aps.get_jobs()]

        await until(lambda: jobs() == [(f"fu:{moved}", later)], timeout=5)  # the next sweep
        await until(lambda: fired(db, [moved])[moved] is not None, timeout=15)
        fired_at = fired(db, [moved])[moved]
        assert fired_at is not None and fired_at >= later
        await until(lambda: scheduler.fired == 1, timeout=5)
        assert alert_count(db) == 1
    finally:
        await scheduler.stop()
        db.close()


def _start_bot(tmp_path: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TOUSU_DATABASE__URL": url,
        "TOUSU_WEB__PORT": str(free_port()),
        "TOUSU_GENERAL__DATA_DIR": str(tmp_path),
        "TOUSU_SCHEDULER__LEASE_SECONDS": "5",
        "TOUSU_SCHEDULER__SWEEP_SECONDS": "0.5",
        "TOUSU_NLU__ENABLED": "false",
    }
    cmd = [sys.executable, "-m", "bot.cli.main", "--config", str(ROOT / "config.yaml"), "run", "--no-nlu"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def test_kill_9_with_follow_ups_pending_fires_each_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    migrate.upgrade(url)
    db = Database(url)
    log = tmp_path / "bot.log"
    ticket_id = seed_ticket(db)

    def holder() -> str | None:
        return lease_holder(db)

    first = _start_bot(tmp_path, url, log)
    try:
        await until(lambda: holder() is not None, timeout=60)
        early, while_down, after = add_follow_ups(db, ticket_id, [1.0, 4.0, 12.0])
        await until(lambda: fired(db, [early])[early] is not None)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = utcnow()
        assert fired(db, [while_down, after]) == {while_down: None, after: None}
        await asyncio.sleep(4.5)  # the second one falls due while no bot runs

        second = _start_bot(tmp_path, url, log)
        try:
            await until(lambda: all(fired(db, [while_down, after]).values()), timeout=40)
            times = fired(db, [early, while_down, after])
            down_time = times[while_down]
            assert down_time is not None and down_time > killed_at  # fired by the second process
            after_time = times[after]
            assert after_time is not None and after_time >= killed_at + timedelta(seconds=5)
            await asyncio.sleep(1.5)
            assert alert_count(db) == 3  # each exactly once
        finally:
            second.terminate()  # uvicorn shuts down cleanly, then re-raises SIGTERM
            assert second.wait(timeout=30) in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in log.read_text()
    finally:
        if first.poll() is None:
            first.kill()
        db.close()
