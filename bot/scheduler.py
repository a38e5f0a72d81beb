"""Follow-ups on APScheduler: a SQLAlchemy job store in the bot's database, and exactly one
scheduler running however many bot processes there are.

- The ``follow_ups`` table is the truth; a job carries only the follow-up id. The process holding
  the ``scheduler`` lease runs APScheduler and copies unscheduled follow-ups (written by any
  process) into its job store once they fall due within ``horizon_minutes``: at once for its own
  and every ``sweep_seconds`` for the others' and for those coming into the horizon.
- A job fires through ``TicketService.fire``, which claims the row in the same transaction as the
  work: a job that runs twice (a kill -9 after running but before APScheduler removed it) does
  nothing the second time. Jobs due while no scheduler ran fire at start (misfire grace in hours,
  coalesced); a follow-up whose job went missing is fired by the sweep once it is a minute late.
- Other processes keep trying for the lease and take over when the holder stops renewing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy import Connection, update
from sqlmodel import Session, col, select

from bot.job_store import BatchingJobStore
from bot.lifecycle.service import TicketService
from bot.settings import SchedulerSettings
from storage.db import Database
from storage.models import FollowUp
from storage.repositories import leases

log = logging.getLogger(__name__)

LEASE = "scheduler"
STUCK_AFTER = timedelta(seconds=60)
BATCH = 2000
JOB_CHUNK = 100
FOLLOW_UPS = FollowUp.__table__  # type: ignore[attr-defined]


async def fire_follow_up(follow_up_id: int, *, service: TicketService | None = None) -> str:
    """The job function APScheduler stores by reference; the executor supplies ``service``."""
    if service is None:
        raise RuntimeError("follow-up jobs run only on the ServiceExecutor")
    return await service.fire(follow_up_id)


class ServiceExecutor(AsyncIOExecutor):  # type: ignore[misc]
    """Runs job coroutines with the live TicketService as a keyword argument, so the stored
    job holds nothing but an id and no module keeps a global handle on the app."""

    def __init__(self, service: TicketService) -> None:
        super().__init__()
        self.service = service

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        async def run() -> list[JobExecutionEvent]:
            events: list[JobExecutionEvent] = []
            for run_time in run_times:
                grace = job.misfire_grace_time
                if grace is not None and datetime.now(UTC) - run_time > timedelta(seconds=grace):
                    events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
                    continue
                try:
                    value = await job.func(*job.args, **job.kwargs, service=self.service)
                except Exception as exc:
                    log.exception("follow-up job %s failed", job.id)
                    events.append(
                        JobExecutionEvent(
                            EVENT_JOB_ERROR,
                            job.id,
                            job._jobstore_alias,
                            run_time,
                            exception=exc,
                            traceback=None,
                        )
                    )
                else:
                    events.append(
                        JobExecutionEvent(
                            EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time, retval=value
                        )
                    )
            return events

        def done(future: asyncio.Future[list[JobExecutionEvent]]) -> None:
            self._pending_futures.discard(future)
            try:
                events = future.result()
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        task = self._eventloop.create_task(run())
        task.add_done_callback(done)
        self._pending_futures.add(task)


class FollowUpScheduler:
    def __init__(
        self,
        *,
        db: Database,
        url: str,
        service: TicketService,
        settings: SchedulerSettings,
        holder: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.url = url
        self.service = service
        self.settings = settings
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.now = now
        self.aps: AsyncIOScheduler | None = None
        self.store: BatchingJobStore | None = None
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
        await self._step_down()
        if self.leading:
            await self.db.run(lambda s: leases.release(s, LEASE, holder=self.holder))
        self.leading = False

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
            self._lead()
        elif not held and self.leading:
            log.warning("lost the scheduler lease to another process; stepping down")
            await self._step_down()
        if self.leading:
            await self.sync()

    def _lead(self) -> None:
        grace = int(self.settings.misfire_grace_hours * 3600)
        self.store = BatchingJobStore(url=self.url, tablename="apscheduler_jobs")
        self.aps = AsyncIOScheduler(
            jobstores={"default": self.store},
            executors={"default": ServiceExecutor(self.service)},
            job_defaults={"misfire_grace_time": grace, "coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self.aps.add_listener(self._count, EVENT_JOB_EXECUTED)
        self.aps.start()
        self.leading = True
        log.info("this process (%s) runs the follow-up scheduler", self.holder)

    def _count(self, event: JobExecutionEvent) -> None:
        self.fired += 1

    async def _step_down(self) -> None:
        if self.aps is not None and self.aps.running:
            self.aps.shutdown(wait=False)
            await asyncio.sleep(0)
        self.aps = None
        self.leading = False

    async def sync(self) -> int:
        """Give every unscheduled follow-up a job; fire follow-ups whose job went missing."""
        added = 0
        while True:
            horizon = self.now() + timedelta(minutes=self.settings.horizon_minutes)
            rows = await self.db.run(partial(_unscheduled, until=horizon))
            if not rows:
                break
            await self._add_jobs(rows)
            added += len(rows)
            log.info("scheduled %d follow-up(s), the next due %s", len(rows), min(due for _, due in rows))
        cutoff = self.now() - STUCK_AFTER
        stuck = await self.db.run(lambda s: _stuck(s, cutoff))
        for follow_up_id in stuck:
            log.warning("follow-up %s is overdue with no job; firing it now", follow_up_id)
            await self.service.fire(follow_up_id)
        return added

    async def _add_jobs(self, rows: list[tuple[int, datetime]]) -> None:
        """Add the jobs with processing paused (a running scheduler wakes up on every add and
        queries its job store twice; paused, it wakes once, after the jobs are stored). Each
        chunk's jobs are written, and their follow-ups marked scheduled, in one transaction of
        the bot's database. Jobs are made on the event loop's thread, so a backlog of thousands
        (after downtime) goes in chunks with turns served between them."""
        assert self.aps is not None
        store = self.store
        assert store is not None
        pause = self.aps.state == STATE_RUNNING
        if pause:
            self.aps.pause()
        try:
            for start in range(0, len(rows), JOB_CHUNK):
                chunk = rows[start : start + JOB_CHUNK]
                with store.collect() as jobs:
                    for follow_up_id, due in chunk:
                        self.aps.add_job(
                            fire_follow_up,
                            "date",
                            run_date=due,
                            args=[follow_up_id],
                            id=f"fu:{follow_up_id}",
                            replace_existing=True,
                        )
                await self.db.run_core(partial(_store_jobs, store, jobs, [i for i, _ in chunk]))
        finally:
            if pause and self.aps is not None:
                self.aps.resume()


def _store_jobs(
    store: BatchingJobStore, jobs: list[dict[str, Any]], ids: list[int], conn: Connection
) -> None:
    store.write_rows(conn, jobs)
    conn.execute(update(FOLLOW_UPS).where(FOLLOW_UPS.c.id.in_(ids)).values(scheduled=True))


def _unscheduled(session: Session, *, until: datetime) -> list[tuple[int, datetime]]:
    """Pending follow-ups without a job that fall due before ``until``: later ones stay rows
    only (a new ticket brings ten, most due in hours or days), so APScheduler's store holds
    only what is near and a new ticket costs no job-making."""
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
