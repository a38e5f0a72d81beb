"""APScheduler's SQLAlchemy job store, adding many jobs in one transaction.

A new ticket brings up to ten follow-ups (a warning and a breach per deadline), each an
APScheduler job. The stock store compiles a fresh INSERT and commits once per job; on SQLite every
one of those commits also waits for the write lock the bot's turns use. Inside ``batch()`` the
store collects the rows and writes them with one statement in one transaction.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import Iterator
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy.exc import IntegrityError


class BatchingJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._local = threading.local()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Jobs added by this thread inside the block are written together when it ends; an id
        that is already stored is replaced (the scheduler adds with ``replace_existing``)."""
        self._local.rows = []
        try:
            yield
        finally:
            rows, self._local.rows = self._local.rows, None
            if rows:
                self._write(rows)

    def add_job(self, job: Job) -> None:
        row = {
            "id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
        }
        pending: list[dict[str, Any]] | None = getattr(self._local, "rows", None)
        if pending is not None:
            pending.append(row)
            return
        with self.engine.begin() as connection:
            try:
                connection.execute(self.jobs_t.insert(), row)
            except IntegrityError as exc:
                raise ConflictingIdError(job.id) from exc

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(self.jobs_t.insert(), rows)
            return
        except IntegrityError:
            pass  # some ids exist already: row by row, replacing those
        table = self.jobs_t
        with self.engine.begin() as connection:
            for row in rows:
                changed = connection.execute(
                    table.update()
                    .where(table.c.id == row["id"])
                    .values(next_run_time=row["next_run_time"], job_state=row["job_state"])
                )
                if not changed.rowcount:
                    connection.execute(table.insert(), row)
