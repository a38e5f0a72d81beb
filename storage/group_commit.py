"""SQLite units of work run on the event loop's thread and committed together.

A turn's statements take tens of microseconds in SQLite; handing them to a worker thread and back
cost more than running them where they are called (bench/turn_bench.py, bench/RESULTS.md). So on
SQLite the units of ``Database.run_core`` and ``Database.run`` run right here, on the loop's
thread, on one connection of their own.

COMMIT was the largest single cost in the database thread's profile (a WAL append of every page a
transaction touched), so units share transactions: the first unit opens one (``BEGIN
IMMEDIATE``), every unit started in the same pass of the event loop joins it inside a SAVEPOINT of
its own (the first needs none), and a callback queued behind them commits it. A unit's caller
gets its result only after that commit, so nothing is sent or acted on that is not on disk. A unit
that fails is rolled back alone and its caller gets the error at once; if the commit fails, every
caller in the group gets the error.

Checkpoints (copying the write-ahead log back into the database file, with an fsync) happen on a
thread of their own, a quarter second apart at most while writes go on: SQLite's automatic
checkpoint runs inside the commit that crosses its threshold, and on the loop's thread that put
stalls of up to half a second into a paced benchmark (commits' p99 7.5 ms, max 468 ms; without
it: max 2 ms).

Under load, commits are also spaced: a group opened less than ``commit_interval`` after the last
commit waits until that much time has passed, and units started meanwhile join it. At 1 000
paced turns a second a 2 ms interval made 0.37 commits per turn instead of 0.82 and took ~4 % less
of the loop's CPU (bench/RESULTS.md); a quiet database still commits in the next pass.

The connection never blocks on the write lock: when another connection holds it (another process,
APScheduler's store, the worker thread) ``BEGIN IMMEDIATE`` fails at once and the caller awaits and
tries again, up to the busy timeout, as a blocking connection would have waited. A unit never
awaits, so the lock is held from one pass of the loop to the next, or for the commit interval.
Code that opens another connection on the loop's thread calls ``settle()`` first
(``Database.run_sync`` does).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Connection, Engine, PoolProxiedConnection, RootTransaction
from sqlalchemy.exc import OperationalError

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.0005
RETRY_MAX_SECONDS = 0.01
CHECKPOINT_EVERY_SECONDS = 0.25


class GroupLost(RuntimeError):
    """A unit ended the shared transaction itself; the group's work is rolled back."""


@dataclass(slots=True)
class _Group:
    transaction: RootTransaction
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    started: int = 0


class GroupCommitter:
    """Owns the loop thread's connection and the transaction its units share."""

    def __init__(self, engine: Engine, *, busy_timeout: float, commit_interval: float = 0.0) -> None:
        self.engine = engine
        self.busy_timeout = busy_timeout
        self.commit_interval = commit_interval
        self._last_commit = 0.0
        self._conn: Connection | None = None
        self._group: _Group | None = None
        self._thread: int | None = None
        self.units = 0
        self.commits = 0
        self.lock_waits = 0
        self.checkpoints = 0
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-checkpoint")
        self._checkpoint_conn: PoolProxiedConnection | None = None
        self._checkpointing = False
        self._last_checkpoint = time.monotonic()
        self._closed = False

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the current group (opening one if needed); return after the commit."""
        result, committed = await self.start(work)
        await committed
        return result

    async def start(self, work: Callable[[Connection], T]) -> tuple[T, asyncio.Future[None]]:
        """Run ``work`` in the current group and return at once, with a future for the group's
        commit: the caller may go on with more units in the same pass of the loop, which then
        share the commit, but must await the future before anything relies on the unit."""
        group = self._group or await self._open()
        conn = self._connection()
        raw = _raw(conn)
        # The group's first unit needs no savepoint: if it fails, the whole transaction goes,
        # with nothing else in it (at low load most groups hold one unit).
        first = group.started == 0
        group.started += 1
        if not first:
            raw.execute("SAVEPOINT unit")
        try:
            result = work(conn)
        except BaseException:
            if first:
                self._lose(group)
            else:
                self._undo_unit(group, raw)
            raise
        if self._group is not group or not group.transaction.is_active or not raw.in_transaction:
            self._lose(group)
            raise GroupLost("a unit of work ended the shared transaction")
        if not first:
            raw.execute("RELEASE unit")
        self.units += 1
        done = asyncio.get_running_loop().create_future()
        group.waiters.append(done)
        return result, done

    def settle(self) -> None:
        """Commit the open group now (on the loop's thread only): before this thread opens
        another connection that would wait for the write lock the group holds."""
        if self._group is not None and threading.get_ident() == self._thread:
            self._commit(self._group)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._group is not None:  # its units ran and their callers wait: commit, never drop
            self._commit(self._group)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._checkpointer.submit(self._close_checkpoint_connection).result()
        self._checkpointer.shutdown(wait=True)

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            # Never block the event loop on the lock: fail at once and retry asynchronously;
            # and leave checkpoints to the checkpoint thread.
            _raw(conn).execute("PRAGMA busy_timeout=0")
            _raw(conn).execute("PRAGMA wal_autocheckpoint=0")
            self._conn = conn
        return conn

    async def _open(self) -> _Group:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        delay = RETRY_FIRST_SECONDS
        while self._group is None:
            conn = self._connection()
            raw = _raw(conn)
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                self.lock_waits += 1
                if loop.time() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            group = _Group(conn.begin())  # joins the transaction just begun (storage.db._on_begin)
            self._group = group
            self._thread = threading.get_ident()
            wait = self._last_commit + self.commit_interval - time.monotonic()
            if wait > 0:  # busy: let the next units join this commit
                loop.call_later(wait, self._commit, group)
            else:
                loop.call_soon(self._commit, group)
        return self._group

    def _commit(self, group: _Group) -> None:
        if self._group is not group:
            return  # settled early
        self._group = None
        try:
            group.transaction.commit()
        except BaseException as exc:
            self._rollback(group)
            _finish(group, exc)
            return
        self.commits += 1
        now = time.monotonic()
        self._last_commit = now
        _finish(group, None)
        if self._closed:
            return
        if not self._checkpointing and now - self._last_checkpoint >= CHECKPOINT_EVERY_SECONDS:
            self._checkpointing = True
            self._last_checkpoint = now
            self._checkpointer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """On the checkpoint thread: copy what the log holds into the database file without
        waiting for anyone (PASSIVE); writers go on meanwhile."""
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = self.engine.raw_connection()
            raw = self._checkpoint_conn.dbapi_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error:
            log.exception("checkpoint of the SQLite write-ahead log failed; the next one retries")
        finally:
            self._checkpointing = False

    def _close_checkpoint_connection(self) -> None:
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None

    def _undo_unit(self, group: _Group, raw: sqlite3.Connection) -> None:
        conn = self._conn
        if conn is None or conn.invalidated or conn.closed or not raw.in_transaction:
            self._lose(group)
            return
        raw.execute("ROLLBACK TO unit")
        raw.execute("RELEASE unit")

    def _lose(self, group: _Group) -> None:
        if self._group is group:
            self._group = None
        self._rollback(group)
        _finish(group, GroupLost("the shared transaction was lost; nothing in it was committed"))

    def _rollback(self, group: _Group) -> None:
        conn = self._conn
        try:
            if group.transaction.is_active:
                group.transaction.rollback()
        finally:
            if conn is not None and not conn.closed and not conn.invalidated:
                raw = _raw(conn)
                if raw.in_transaction:  # never leave the write lock held
                    raw.rollback()
            else:
                self._conn = None


def _finish(group: _Group, error: BaseException | None) -> None:
    for waiter in group.waiters:
        if waiter.done():
            continue  # its caller was cancelled
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def _raw(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw
