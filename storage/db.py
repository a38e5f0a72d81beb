"""Engine factory and the unit of work the async code uses to reach the database.

The ORM is synchronous; async callers hand a whole unit of work (a function taking a Session) to
``Database.run``, which executes it in a worker thread and commits, so the event loop never waits
for the database: not for a slow query, and not for SQLite's write lock while another process
holds it (up to ``busy_timeout_ms``). SQLite gets a single worker and ``BEGIN IMMEDIATE`` so
writers queue instead of failing with "database is locked"; PostgreSQL gets one worker per
pooled connection. Each worker keeps its connection for its whole life, and ``run_core`` hands
hot paths that connection directly, without the ORM's unit of work.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool, QueuePool
from sqlmodel import Session

T = TypeVar("T")


def dump_json(value: Any) -> str:
    """JSON columns' text, as ``json.dumps`` writes it. Half of the JSON encoded in a benchmark
    run were empty lists (15 441 of 30 995: a message's attachments, a reply's buttons), and
    ``json.dumps([])`` takes ~2.9 us through the encoder's machinery (timed loop), so empty
    lists and dicts skip it."""
    kind = type(value)
    if kind is list and not value:
        return "[]"
    if kind is dict and not value:
        return "{}"
    return json.dumps(value)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10, busy_timeout_ms: int = 5000) -> Engine:
    """Create an engine with the pragmas/pool settings each backend needs."""
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            json_serializer=dump_json,
            poolclass=QueuePool,
            pool_size=max(pool_size, 2),
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )
        _sqlite_pragmas(engine, busy_timeout_ms)
        return engine
    return create_engine(
        url,
        echo=echo,
        json_serializer=dump_json,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


def make_unpooled_engine(url: str) -> Engine:
    """An engine that opens a fresh connection per use (migrations, one-off CLI work)."""
    engine = create_engine(url, poolclass=NullPool, json_serializer=dump_json)
    if url.startswith("sqlite"):
        _sqlite_pragmas(engine, 5000)
    return engine


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred one.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer from the start, so writers queue on the busy timeout instead of failing
        # halfway; Database.read has begun its own deferred (reader's) transaction already.
        dbapi_conn = conn.connection.dbapi_connection
        if not dbapi_conn.in_transaction:
            dbapi_conn.execute("BEGIN IMMEDIATE")


def _with_session(work: Callable[[Session], T], conn: Connection) -> T:
    with session_on(conn) as session:
        result = work(session)
        session.commit()  # flushes and releases its savepoint; the transaction commits after
        return result


def session_on(conn: Connection) -> Session:
    """An ORM session inside ``conn``'s transaction, for the ORM's rarer work beside a hot path's
    statements. It works in a savepoint of its own: ``commit()`` keeps its changes for the
    connection's transaction to commit, ``rollback()`` or closing without a commit undoes only
    them, never the statements the unit ran beside it."""
    return Session(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint")


class Database:
    """Owns the engine and the worker threads; explicit ``close``."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms)
        workers = 1 if self.is_sqlite else pool_size
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")
        self._local = threading.local()
        self._held: list[Connection] = []
        self._held_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def run_sync(self, work: Callable[[Session], T]) -> T:
        """Run one unit of work in a transaction in the calling thread (CLI, channel SDK
        threads; on the loop's thread only in tests)."""
        with self.session() as session:
            try:
                result = work(session)
                session.commit()
            except BaseException:
                session.rollback()
                raise
            return result

    def _worker_connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            self._local.conn = conn
            with self._held_lock:
                self._held.append(conn)
        return conn

    def _on_worker(self, work: Callable[[Connection], T]) -> T:
        conn = self._worker_connection()
        try:
            with conn.begin():
                return work(conn)
        except BaseException:
            if conn.invalidated or conn.closed:
                self._local.conn = None
            raise

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run one unit of ORM work in a transaction: where ``run_core`` runs its units."""
        return await self.run_core(partial(_with_session, work))

    async def read(self, work: Callable[[Session], T]) -> T:
        """Long read-only work (reports) on a worker thread. On SQLite it reads a snapshot
        without taking the write lock, so turns go on meanwhile; anything written is rolled back."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read_on_worker, work)

    async def check(self, work: Callable[[Session], T]) -> T:
        """Short work that writes nothing (a check before a write unit), on a worker thread. On
        SQLite a read snapshot, as ``read``, so it never waits for the write lock. On
        PostgreSQL an ordinary transaction, committed: psycopg forgets the connection's prepared
        statements at every ROLLBACK (a DEALLOCATE ALL), and such a check rolled back after
        every turn kept the turns' statements from ever staying prepared (bench/RESULTS.md)."""
        if self.is_sqlite:
            return await self.read(work)
        return await self.run(work)

    def _read_on_worker(self, work: Callable[[Session], T]) -> T:
        conn = self._worker_connection()
        raw = conn.connection.dbapi_connection
        if isinstance(raw, sqlite3.Connection):
            raw.execute("BEGIN")  # deferred: a reader, not a writer (see _on_begin)
        transaction = conn.begin()
        try:
            with session_on(conn) as session:
                return work(session)
        except BaseException:
            if conn.invalidated or conn.closed:
                self._local.conn = None
            raise
        finally:
            if transaction.is_active:
                transaction.rollback()

    async def run_core(self, work: Callable[[Connection], T]) -> T:
        """Run Core statements in one transaction on a worker's own connection (hot paths).
        ``work`` must not block on anything but the database."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._on_worker, work)

    async def start_core(self, work: Callable[[Connection], T]) -> tuple[T, Awaitable[None]]:
        """``run_core`` with an awaitable for the commit, already done when this returns (the
        manager's callers wait on it for "stored")."""
        result = await self.run_core(work)
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        committed.set_result(None)
        return result, committed

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._held_lock:
            for conn in self._held:
                conn.close()
            self._held.clear()
        self.engine.dispose()
