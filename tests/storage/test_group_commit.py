"""SQLite units of work on the event loop's thread (storage/group_commit.py): units started
together share one commit and return only after it, a failing unit is undone alone, a write lock
held elsewhere is waited for without blocking the loop, and the loop's own blocking callers
commit the open group first."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from storage.db import Database


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "group.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{path}", busy_timeout_ms=400)
    with database.engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
    yield database
    database.close()


def committed(path: Path) -> list[str]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return [row[0] for row in other.execute("SELECT body FROM notes ORDER BY id")]


async def test_units_started_together_share_one_commit_and_return_after_it(db: Database, path: Path) -> None:
    seen_inside: list[list[str]] = []

    def unit(body: str):  # type: ignore[no-untyped-def]
        def work(conn: Connection) -> str:
            conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
            seen_inside.append(committed(path))
            return body

        return work

    group = db.group_commit
    assert group is not None
    results = await asyncio.gather(*(db.run_core(unit(f"n{i}")) for i in range(5)))
    assert results == [f"n{i}" for i in range(5)]
    assert seen_inside == [[]] * 5  # nothing was on disk while the units ran
    assert committed(path) == [f"n{i}" for i in range(5)]  # and all of it when they returned
    assert (group.units, group.commits) == (5, 1)
    await db.run_core(unit("alone"))
    assert (group.units, group.commits) == (6, 2)


async def test_a_failing_unit_is_rolled_back_alone(db: Database, path: Path) -> None:
    def good(body: str):  # type: ignore[no-untyped-def]
        return lambda conn: conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})

    def bad(conn: Connection) -> None:
        conn.execute(text("INSERT INTO notes (body) VALUES ('half')"))
        raise ValueError("the unit changed its mind")

    outcomes = await asyncio.gather(
        db.run_core(good("a")), db.run_core(bad), db.run_core(good("b")), return_exceptions=True
    )
    assert isinstance(outcomes[1], ValueError)
    assert committed(path) == ["a", "b"]
    # a constraint error inside a unit is the same: only that unit's statements go
    outcomes = await asyncio.gather(db.run_core(good("c")), db.run_core(good("a")), return_exceptions=True)
    assert not isinstance(outcomes[0], BaseException)
    assert "UNIQUE" in str(outcomes[1])
    assert committed(path) == ["a", "b", "c"]
    # the group's first unit runs without a savepoint: failing, it takes only itself along
    outcomes = await asyncio.gather(db.run_core(bad), db.run_core(good("d")), return_exceptions=True)
    assert isinstance(outcomes[0], ValueError) and outcomes[1] is not None
    assert committed(path) == ["a", "b", "c", "d"]


async def test_an_orm_session_that_rolls_back_undoes_only_its_own_work(db: Database, path: Path) -> None:
    def regrets(session: Session) -> None:
        session.execute(text("INSERT INTO notes (body) VALUES ('regretted')"))
        session.rollback()
        session.execute(text("INSERT INTO notes (body) VALUES ('kept')"))

    def plain(conn: Connection) -> None:
        conn.execute(text("INSERT INTO notes (body) VALUES ('beside')"))

    await asyncio.gather(db.run_core(plain), db.run(regrets))
    assert sorted(committed(path)) == ["beside", "kept"]


async def test_a_lock_held_elsewhere_is_waited_for_without_blocking_the_loop(
    db: Database, path: Path
) -> None:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    clock = asyncio.create_task(ticker())
    write = asyncio.create_task(
        db.run_core(lambda c: c.execute(text("INSERT INTO notes (body) VALUES ('waited')")))
    )
    await asyncio.sleep(0.2)
    assert not write.done() and ticks >= 10  # the loop kept running while the writer waited
    holder.rollback()
    await asyncio.wait_for(write, 1)
    clock.cancel()
    assert committed(path) == ["waited"]
    group = db.group_commit
    assert group is not None and group.lock_waits > 0

    holder.execute("BEGIN IMMEDIATE")  # never released within the busy timeout (0.4 s)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="locked"):
        await db.run_core(lambda c: c.execute(text("INSERT INTO notes (body) VALUES ('never')")))
    assert 0.35 < time.monotonic() - started < 2
    holder.rollback()
    holder.close()
    assert committed(path) == ["waited"]


async def test_a_blocking_call_on_the_loop_thread_commits_the_open_group_first(
    db: Database, path: Path
) -> None:
    pending = asyncio.create_task(
        db.run_core(lambda c: c.execute(text("INSERT INTO notes (body) VALUES ('grouped')")))
    )
    await asyncio.sleep(0)  # the unit ran; its group's commit is queued behind this coroutine
    group = db.group_commit
    assert group is not None and group.units == 1 and group.commits == 0
    started = time.monotonic()
    db.run_sync(lambda s: s.execute(text("INSERT INTO notes (body) VALUES ('blocking')")))
    assert time.monotonic() - started < 0.3  # no wait for the busy timeout
    await pending
    assert committed(path) == ["grouped", "blocking"]


async def test_read_needs_no_write_lock_and_keeps_nothing(db: Database, path: Path) -> None:
    await db.run_core(lambda c: c.execute(text("INSERT INTO notes (body) VALUES ('old')")))

    def report(session: Session) -> list[str]:
        return [r[0] for r in session.execute(text("SELECT body FROM notes ORDER BY id"))]

    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO notes (body) VALUES ('uncommitted')")
    started = time.monotonic()
    assert await db.read(report) == ["old"]  # beside the writer, not after it
    assert time.monotonic() - started < 0.3
    writer.rollback()
    writer.close()

    def stray(session: Session) -> None:
        session.execute(text("INSERT INTO notes (body) VALUES ('stray')"))

    await db.read(stray)
    assert committed(path) == ["old"]


async def test_checkpoints_run_on_their_own_thread_not_in_the_loops_commits(db: Database, path: Path) -> None:
    group = db.group_commit
    assert group is not None
    for i in range(4):  # commits a third of a second apart: each may start a checkpoint
        await db.run_core(
            lambda c, i=i: c.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"n{i}"})
        )
        await asyncio.sleep(0.3)
    assert group.checkpoints >= 2
    threshold = await db.run_core(lambda c: c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
    assert threshold == 0  # the loop's connection never checkpoints inside a commit
    assert committed(path) == [f"n{i}" for i in range(4)]


async def test_closing_commits_the_open_group(db: Database, path: Path) -> None:
    pending = asyncio.create_task(
        db.run_core(lambda c: c.execute(text("INSERT INTO notes (body) VALUES ('last words')")))
    )
    await asyncio.sleep(0)  # the unit ran; its commit is still queued
    db.close()
    await pending  # answered by the commit close made, not left waiting or failed
    assert committed(path) == ["last words"]


async def test_commits_are_spaced_by_the_interval_and_a_quiet_database_commits_at_once(path: Path) -> None:
    database = Database(f"sqlite:///{path}", busy_timeout_ms=400, commit_interval_ms=500)
    try:
        with database.engine.begin() as conn:
            conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
        group = database.group_commit
        assert group is not None
        loop = asyncio.get_running_loop()

        def note(body: str):  # type: ignore[no-untyped-def]
            return lambda conn: conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})

        started = loop.time()
        await database.run_core(note("first"))  # nothing committed before: no wait
        assert loop.time() - started < 0.25
        second = asyncio.create_task(database.run_core(note("second")))
        await asyncio.sleep(0.02)  # a later pass of the loop, well inside the interval
        third = asyncio.create_task(database.run_core(note("third")))
        await asyncio.sleep(0.05)
        assert committed(path) == ["first"]  # the open group waits out the interval
        await asyncio.gather(second, third)
        assert loop.time() - started >= 0.45
        assert committed(path) == ["first", "second", "third"]
        assert (group.units, group.commits) == (3, 2)  # the later unit joined the waiting group
        await asyncio.sleep(0.6)  # quiet again
        started = loop.time()
        await database.run_core(note("fourth"))
        assert loop.time() - started < 0.25
        assert group.commits == 3
    finally:
        database.close()
