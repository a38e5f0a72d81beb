"""The two queries every new ticket runs, the repeat rule's count and routing's load: their
answers on both backends, and on SQLite the indexes they search (a table walk made the intake
slower with every ticket stored)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from bot.services.work import open_load
from storage import migrate
from storage.db import Database
from storage.models import Customer, Ticket
from storage.repositories import tickets as ticket_repo
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
    return db.run_sync(lambda session: _count_others(session, me, enough))


def _count_others(session: Session, me: int, enough: int) -> int:
    return ticket_repo.count_other_customers(
        session,
        target="电热水壶",
        category="product_quality",
        kind="complaint",
        since=NOW - timedelta(days=30),
        not_status="cancelled",
        not_customer=me,
        not_channel="webchat",
        enough=enough,
    )


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


def _plan(db: Database, query: Callable[[Session], object]) -> str:
    """SQLite's plan for the one statement ``query`` runs, as the driver received it."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        db.run_sync(query)
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    [(sql, params)] = [(sql, params) for sql, params in seen if sql.lstrip().upper().startswith("SELECT")]
    rows = db.run_sync(lambda s: s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all())
    return " / ".join(str(row[-1]) for row in rows)


def test_sqlite_answers_both_from_their_composite_indexes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    migrate.upgrade(url)
    db = Database(url)
    try:
        repeat = _plan(db, lambda s: _count_others(s, me=0, enough=3))
        assert "USING INDEX ix_tickets_repeat (target=? AND category=? AND kind=? AND created_at>?)" in repeat
        load = _plan(db, lambda s: open_load(s, flush=False))
        assert "USING COVERING INDEX ix_tickets_open_load" in load
    finally:
        db.close()
