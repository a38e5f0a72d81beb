"""The two queries every new ticket runs, the repeat rule's count and routing's load: their
answers on both backends, and on SQLite the indexes they search (a table walk made the intake
slower with every ticket stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from bot.lifecycle.desk import _REPEAT_CUSTOMERS
from bot.lifecycle.work import _OPEN_LOAD, _OPEN_STATUSES, open_load
from storage import migrate
from storage.db import Database
from storage.models import Customer, Ticket
from storage.prepared import Prepared
from tests.databases import sqlite_url

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _store(db: Database, tickets: list[dict[str, Any]]) -> dict[str, int]:
    """Customers by external id, then their tickets; returns the customers' ids."""

    def add(session: Session) -> dict[str, int]:
        ids: dict[str, int] = {}
        for i, row in enumerate(tickets):
            who = row.pop("customer")
            if who not in ids:
                customer = Customer(channel="console", external_id=who)
                session.add(customer)
                session.flush()
                assert customer.id is not None
                ids[who] = customer.id
            values = {
                "kind": "complaint",
                "category": "product_quality",
                "target": "电热水壶",
                "channel": "console",
            } | row
            session.add(Ticket(number=f"261202{i + 1:04d}", customer_id=ids[who], **values))
        return ids

    return db.run_sync(add)


def _others(db: Database, me: int, enough: int) -> int:
    def count(session: Session) -> int:
        params = {
            "target": "电热水壶",
            "category": "product_quality",
            "kind": "complaint",
            "since": NOW - timedelta(days=30),
            "cancelled": "cancelled",
            "me": me,
            "unverified": "webchat",
            "enough": enough,
            "skip": 0,
        }
        return int(_REPEAT_CUSTOMERS.execute(session.connection(), params).fetchone()[0])

    return db.run_sync(count)


def test_the_repeat_count_skips_what_does_not_count_and_stops_at_enough(db_url: str) -> None:
    db = Database(db_url)
    try:
        old = NOW - timedelta(days=31)
        ids = _store(
            db,
            [
                *({"customer": f"c{i}", "created_at": NOW - timedelta(hours=i)} for i in range(1, 6)),
                {"customer": "c1", "created_at": NOW},  # a second ticket of c1 counts once
                {"customer": "me", "created_at": NOW},
                {"customer": "cancelled", "created_at": NOW, "status": "cancelled"},
                {"customer": "old", "created_at": old},
                {"customer": "other target", "created_at": NOW, "target": "净水器"},
                {"customer": "other category", "created_at": NOW, "category": "service_attitude"},
                {"customer": "a consultation", "created_at": NOW, "kind": "consultation"},
                {"customer": "a web chat", "created_at": NOW, "channel": "webchat"},  # unverified
            ],
        )
        assert _others(db, ids["me"], enough=10) == 5
        assert _others(db, ids["me"], enough=2) == 2
        assert _others(db, ids["c1"], enough=10) == 5  # c2..c5 and "me"
    finally:
        db.close()


def test_open_load_counts_open_tickets_per_assignee(db_url: str) -> None:
    db = Database(db_url)
    try:
        _store(
            db,
            [
                {"customer": "a", "created_at": NOW, "assignee": "lisi", "status": "acknowledged"},
                {"customer": "b", "created_at": NOW, "assignee": "lisi", "status": "escalated"},
                {"customer": "c", "created_at": NOW, "assignee": "lisi", "status": "closed"},
                {"customer": "d", "created_at": NOW, "assignee": "wangfang", "status": "in_progress"},
                {"customer": "e", "created_at": NOW, "status": "new"},  # nobody's yet
            ],
        )
        assert db.run_sync(lambda s: open_load(s, flush=False)) == {"lisi": 2, "wangfang": 1}
    finally:
        db.close()


def _plan(conn: Connection, prepared: Prepared, params: dict[str, Any]) -> str:
    sql = prepared._plan(conn.dialect, tuple(params)).sql
    raw = conn.connection.dbapi_connection
    assert raw is not None
    rows = raw.execute(f"EXPLAIN QUERY PLAN {sql}", [0] * sql.count("?")).fetchall()
    return " / ".join(str(row[-1]) for row in rows)


def test_sqlite_answers_both_from_their_composite_indexes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    migrate.upgrade(url)
    db = Database(url)
    try:
        keys = ["target", "category", "kind", "since", "cancelled", "me", "unverified", "enough", "skip"]
        repeat = db.run_sync(lambda s: _plan(s.connection(), _REPEAT_CUSTOMERS, dict.fromkeys(keys)))
        assert "USING INDEX ix_tickets_repeat (target=? AND category=? AND kind=? AND created_at>?)" in repeat
        load = db.run_sync(lambda s: _plan(s.connection(), _OPEN_LOAD, dict(_OPEN_STATUSES)))
        assert "USING COVERING INDEX ix_tickets_open_load" in load
    finally:
        db.close()
