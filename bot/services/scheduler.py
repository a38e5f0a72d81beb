"""Follow-ups on APScheduler, and exactly one scheduler running however many bot processes there are.

- The ``follow_ups`` table is the truth. APScheduler keeps its jobs in a ``MemoryJobStore``, and
  ``scheduled`` on a row means "the running leader holds a job for it". On taking the lease a
  process clears every ``scheduled`` flag (the previous leader's jobs died with it) and rebuilds
  its jobs from the rows; after that it copies unscheduled follow-ups (written by any process)
  into APScheduler once they fall due within ``horizon_minutes``: at once for its own and every
  ``sweep_seconds`` for the others' and for those coming into the horizon.
- Why memory and not APScheduler's SQLAlchemy job store: the rows already survive a kill -9, so a
  second persistent copy of the schedule only adds a store to keep in step with them (in another
  transaction) and a job function that must be reachable by import path, which would need a
  module-level handle on the app. In memory a job is just the live ``TicketService.fire`` bound to
  a follow-up id, run by the stock ``AsyncIOExecutor``.
- ``TicketService.fire`` claims the row in the same transaction as the work: a follow-up reached
  twice (a job and a sweep, an old and a new leader) does its work once. Jobs due while no
  scheduler ran are rebuilt overdue and fire at once (misfire grace in hours, coalesced); a
  follow-up left without a job (one that raised, or was missed) is fired by the sweep once it is a
  minute late.
- Other processes keep trying for the lease and take over when the holder stops renewing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.services.tickets import TicketService
from bot.settings import SchedulerSettings
from storage.db import Database
from storage.models import FollowUp
from storage.repositories import leases

log = logging.getLogger(__name__)

LEASE = "scheduler"
STUCK_AFTER = timedelta(seconds=60)
BATCH = 2000


def job_id(follow_up_id: int) -> str:
    return f"fu:{follow_up_id}"


class FollowUpScheduler:
    def __init__(
        self,
        *,
        db: Database,
        service: TicketService,
        settings: SchedulerSettings,
        holder: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.service = service
        self.settings = settings
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.now = now
        self.aps: AsyncIOScheduler | None = None
        self.leading = False
        self.fired = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        service.follow_up_listeners.append(self._on_new_follow_ups)

    def _on_new_follow_ups(self, soonest: datetime) -> None:
        # Those due beyond the horizon wait for a sweep: a wake costs a lease renewal and two
        # queries, and a busy desk commits follow-ups many times a second.
        if soonest <= self.now() + timedelta(minutes=self.settings.horizon_minutes):
            self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        await self._tick()  # take the lease at once if it is free, so start-up fires overdue jobs
        self._task = asyncio.create_task(self._loop(), name="follow-up-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        leading = self.leading
        self._step_down()
        if leading:  # the next process takes over now, not when the lease runs out
            await self.db.run(lambda s: leases.release(s, LEASE, holder=self.holder))

    async def _loop(self) -> None:
        renew = self.settings.lease_seconds / 3
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(renew, self.settings.sweep_seconds))
            self._wake.clear()
            if self._stopping:
                break
            try:
                await self._tick()
            except Exception:
                log.exception("scheduler tick failed; trying again")

    async def _tick(self) -> None:
        held = await self.db.run(
            lambda s: leases.acquire(
                s, LEASE, holder=self.holder, now=self.now(), seconds=self.settings.lease_seconds
            )
        )
        if held and not self.leading:
            await self._lead()
        elif not held and self.leading:
            log.warning("lost the scheduler lease to another process; stepping down")
            self._step_down()
        if self.leading:
            await self.sync()

    async def _lead(self) -> None:
        await self.db.run(_forget_jobs)  # the last leader's jobs were in its memory
        self.aps = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults={
                "misfire_grace_time": int(self.settings.misfire_grace_hours * 3600),
                "coalesce": True,
                "max_instances": 1,
            },
            timezone=UTC,
        )
        self.aps.add_listener(self._count, EVENT_JOB_EXECUTED)
        self.aps.start()
        self.leading = True
        log.info("this process (%s) runs the follow-up scheduler", self.holder)

    def _count(self, event: JobExecutionEvent) -> None:
        self.fired += 1

    def _step_down(self) -> None:
        if self.aps is not None and self.aps.running:
            self.aps.shutdown(wait=False)
        self.aps = None
        self.leading = False

    def job_ids(self) -> set[str]:
        """The follow-up jobs this process holds (none unless it leads)."""
        return set() if self.aps is None else {job.id for job in self.aps.get_jobs()}

    async def sync(self) -> int:
        """Give every unscheduled follow-up near its due time a job; fire follow-ups whose job
        went missing."""
        added = 0
        while self.aps is not None:
            horizon = self.now() + timedelta(minutes=self.settings.horizon_minutes)
            rows = await self.db.run(partial(_unscheduled, until=horizon))
            if not rows or self.aps is None:
                break
            # Paused, APScheduler looks at its jobs once after the batch, not once per add_job.
            self.aps.pause()
            for follow_up_id, due in rows:
                self.aps.add_job(
                    self.service.fire,
                    "date",
                    run_date=due,
                    args=[follow_up_id],
                    id=job_id(follow_up_id),
                    replace_existing=True,  # a follow-up moved out of quiet hours gets its job moved
                )
            self.aps.resume()
            await self.db.run(partial(_mark_scheduled, ids=[i for i, _ in rows]))
            added += len(rows)
            log.info("scheduled %d follow-up(s), the next due %s", len(rows), min(due for _, due in rows))
        cutoff = self.now() - STUCK_AFTER
        stuck = await self.db.run(lambda s: _stuck(s, cutoff))
        for follow_up_id in stuck:
            if self.aps is not None and self.aps.get_job(job_id(follow_up_id)) is None:
                log.warning("follow-up %s is overdue with no job; firing it now", follow_up_id)
                await self.service.fire(follow_up_id)
        return added


def _forget_jobs(session: Session) -> None:
    session.execute(
        update(FollowUp)
        .where(col(FollowUp.status) == "pending", col(FollowUp.scheduled).is_(True))
        .values(scheduled=False)
    )


def _mark_scheduled(session: Session, *, ids: list[int]) -> None:
    session.execute(update(FollowUp).where(col(FollowUp.id).in_(ids)).values(scheduled=True))


def _unscheduled(session: Session, *, until: datetime) -> list[tuple[int, datetime]]:
    """Pending follow-ups without a job that fall due before ``until``: later ones stay rows
    only (a new ticket brings ten, most due in hours or days), so APScheduler holds only what
    is near and a new ticket costs no job-making."""
    query = (
        select(FollowUp.id, FollowUp.due_at)
        .where(FollowUp.status == "pending", col(FollowUp.scheduled).is_(False))
        .where(col(FollowUp.due_at) <= until)
        .order_by(col(FollowUp.id))
        .limit(BATCH)
    )
    return [(int(i), due) for i, due in session.exec(query).all() if i is not None]


def _stuck(session: Session, cutoff: datetime) -> list[int]:
    query = (
        select(FollowUp.id)
        .where(FollowUp.status == "pending", col(FollowUp.scheduled).is_(True), col(FollowUp.due_at) < cutoff)
        .order_by(col(FollowUp.due_at))
        .limit(BATCH)
    )
    return [int(i) for i in session.exec(query).all() if i is not None]
