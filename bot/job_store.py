"""APScheduler's SQLAlchemy job store, adding many jobs in one transaction.

A new ticket brings up to ten follow-ups (a warning and a breach per deadline), each an
APScheduler job. The stock store compiles a fresh INSERT and commits once per job, on its own
connection; on SQLite every one of those commits also takes the write lock the bot's turns use,
from another thread. Inside ``collect()`` the store only gathers the rows, and ``write_rows``
writes them with one statement in the caller's transaction (the scheduler's, on the bot's own
database connection, together with marking the follow-ups scheduled).
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
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError


class BatchingJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._local = threading.local()

    @contextlib.contextmanager
    def collect(self) -> Iterator[list[dict[str, Any]]]:
        """Jobs added by this thread inside the block are not written: their rows are gathered
        in the list yielded, for ``write_rows``."""
        rows: list[dict[str, Any]] = []
        self._local.rows = rows
        try:
            yield rows
        finally:
            self._local.rows = None

    def write_rows(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Write collected rows in ``connection``'s transaction; an id already stored is replaced
        (the scheduler adds with ``replace_existing``)."""
        if not rows:
            return
        table = self.jobs_t
        connection.execute(table.delete().where(table.c.id.in_([row["id"] for row in rows])))
        connection.execute(table.insert(), rows)

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
