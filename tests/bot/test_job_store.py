"""The batching job store on both backends: jobs added while collecting land in one write in the
caller's transaction, an id already stored is replaced, and outside it a duplicate id still
conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import create_engine, event

from bot.job_store import BatchingJobStore


def noop(follow_up_id: int) -> None:
    """Stands in for the follow-up job function."""


async def test_collected_jobs_are_one_write_and_replace_known_ids(db_url: str) -> None:
    store = BatchingJobStore(url=db_url, tablename="apscheduler_jobs_test")
    aps = AsyncIOScheduler(jobstores={"default": store}, timezone=UTC)
    aps.start(paused=True)
    inserts: list[int] = []
    event.listen(
        store.engine, "before_cursor_execute", lambda *a: inserts.append(1) if "INSERT" in a[2] else None
    )
    soon = datetime.now(UTC) + timedelta(hours=1)
    try:
        aps.add_job(noop, "date", run_date=soon, args=[1], id="fu:1", replace_existing=True)
        with store.collect() as rows:
            for i in (1, 2, 3):  # fu:1 exists already: it is moved, not duplicated
                aps.add_job(
                    noop,
                    "date",
                    run_date=soon + timedelta(minutes=i),
                    args=[i],
                    id=f"fu:{i}",
                    replace_existing=True,
                )
        assert store.get_all_jobs() == [store.lookup_job("fu:1")]  # nothing written yet
        with store.engine.begin() as connection:
            store.write_rows(connection, rows)
        jobs = {job.id: job.next_run_time for job in store.get_all_jobs()}
        assert jobs == {f"fu:{i}": soon + timedelta(minutes=i) for i in (1, 2, 3)}
        with pytest.raises(ConflictingIdError):
            aps.add_job(noop, "date", run_date=soon, args=[2], id="fu:2")
    finally:
        aps.shutdown(wait=False)
        store.jobs_t.drop(store.engine)
        store.engine.dispose()


async def test_collected_new_ids_are_one_statement_in_one_transaction(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/jobs.db"
    store = BatchingJobStore(engine=create_engine(url), tablename="apscheduler_jobs")
    aps = AsyncIOScheduler(jobstores={"default": store}, timezone=UTC)
    aps.start(paused=True)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2].split()[0]))
    soon = datetime.now(UTC) + timedelta(hours=1)
    try:
        with store.collect() as rows:
            for i in range(10):
                aps.add_job(noop, "date", run_date=soon, args=[i], id=f"fu:{i}", replace_existing=True)
        with store.engine.begin() as connection:
            store.write_rows(connection, rows)
    finally:
        aps.shutdown(wait=False)
    assert statements.count("INSERT") == 1  # one executemany, one commit
    assert len(store.get_all_jobs()) == 10
