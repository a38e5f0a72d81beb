"""How values bind on the project's engines (NULLs on SQLite, JSON columns on both backends) and
how an ORM session nests in a shared transaction."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from storage.db import Database, dump_json, make_engine, session_on
from storage.models import Customer, Message
from storage.repositories import transcript

MESSAGES = Message.__table__  # type: ignore[attr-defined]


async def test_a_locked_sqlite_database_never_stops_the_event_loop(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock: the unit waits for it on the worker thread
    (busy timeout), the loop goes on serving, and the unit runs once the lock is released."""
    path = tmp_path / "locked.db"
    db = Database(f"sqlite:///{path}", busy_timeout_ms=3000)
    other = sqlite3.connect(path, isolation_level=None)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        other.execute("BEGIN EXCLUSIVE")
        unit = asyncio.create_task(db.run_core(lambda c: c.execute(text("SELECT 1")).scalar()))
        await asyncio.sleep(0.6)
        assert not unit.done() and ticks >= 30  # waiting, and the loop ran all along
        other.execute("ROLLBACK")
        assert await asyncio.wait_for(unit, 5) == 1
    finally:
        ticker.cancel()
        other.close()
        db.close()


@pytest.mark.parametrize(
    "value",
    [[], {}, [[]], {"a": []}, ["热水壶", "💧", {"x": None}], {"k": [1, 2.5, True]}, "text", 0, None],
)
def test_json_text_is_what_json_dumps_writes(value: Any) -> None:
    assert dump_json(value) == json.dumps(value)


def test_empty_and_full_json_columns_read_back(db_url: str) -> None:
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="console", external_id="u1", language="zh", name=None, now=now
            )
            base = {"customer_id": customer, "channel": "console", "user_id": "u1", "direction": "in"}
            base |= {"author": "customer", "kind": "text", "text": "t", "payload": None, "created_at": now}
            conn.execute(insert(MESSAGES), {**base, "buttons": [], "attachments": []})
            conn.execute(insert(MESSAGES), {**base, "buttons": [{"label": "是"}], "attachments": [{}]})
            texts = conn.execute(
                select(MESSAGES.c.buttons, MESSAGES.c.attachments).order_by(MESSAGES.c.id)
            ).all()
        assert [tuple(r) for r in texts] == [([], []), ([{"label": "是"}], [{}])]
        with Session(engine) as session:
            rows = session.exec(select_rows(Message).order_by(col(Message.id))).all()
            assert [m.buttons for m in rows] == [[], [{"label": "是"}]]
    finally:
        engine.dispose()


def test_a_session_in_a_shared_transaction_keeps_or_undoes_only_its_own_work(db_url: str) -> None:
    """``session_on``'s savepoints: what a session commits stays for the transaction, what it
    rolls back (itself or a nested savepoint) goes alone. On SQLite the savepoint statements go
    straight to the driver, past SQLAlchemy's statement path."""
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))

    def customer(external_id: str) -> Customer:
        return Customer(channel="console", external_id=external_id, language="zh", created_at=now)

    try:
        with engine.begin() as conn:
            kept = session_on(conn)
            kept.add(customer("kept"))
            with kept.begin_nested():
                kept.add(customer("nested-kept"))
            nested = kept.begin_nested()
            kept.add(customer("nested-undone"))
            kept.flush()
            nested.rollback()
            kept.commit()
            kept.close()
            undone = session_on(conn)
            undone.add(customer("undone"))
            undone.flush()
            undone.rollback()
            undone.close()
            assert conn.in_transaction()
        with Session(engine) as session:
            names = session.exec(select_rows(Customer.external_id).order_by(col(Customer.id))).all()
        assert names == ["kept", "nested-kept"]
        savepoints = [sql for sql in seen if "SAVEPOINT" in sql.upper()]
        assert any(sql.upper().startswith("ROLLBACK TO SAVEPOINT") for sql in savepoints)
    finally:
        engine.dispose()


async def test_a_check_writes_nothing_and_on_postgresql_keeps_the_prepared_statements(db_url: str) -> None:
    """``check`` answers like ``read``; on PostgreSQL it commits instead of rolling back, since
    psycopg drops the connection's prepared statements at every ROLLBACK (one worker here, so
    every unit below runs on the same connection)."""
    db = Database(db_url, pool_size=1)
    try:

        def count(session: Session) -> int:
            return len(list(session.exec(select_rows(Customer).where(col(Customer.channel) == "wechat"))))

        for _ in range(8):  # psycopg prepares a statement at its fifth execution
            assert await db.check(count) == 0
        if db.is_sqlite:
            return
        prepared = await db.run_core(
            lambda conn: conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one()
        )
        assert prepared >= 1
        await db.read(count)  # the same check, rolled back: psycopg forgets what it prepared
        forgotten = await db.run_core(
            lambda conn: conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one()
        )
        assert forgotten == 0
    finally:
        db.close()
