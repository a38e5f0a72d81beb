"""Ticket numbers and the audit trail, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from storage.db import Database
from storage.models import Customer, Ticket, TicketEvent
from storage.repositories import tickets as ticket_repo


def _customer(db: Database) -> int:
    def add(session: Session) -> int:
        customer = Customer(channel="console", external_id="c1")
        session.add(customer)
        session.flush()
        assert customer.id is not None
        return customer.id

    return db.run_sync(add)


def _create(db: Database, customer_id: int, day: date) -> str:
    def work(session: Session) -> str:
        number = ticket_repo.next_number(session, local_day=day)
        session.add(Ticket(number=number, kind="complaint", channel="console", customer_id=customer_id))
        return number

    return db.run_sync(work)


def test_200_concurrent_creations_get_distinct_consecutive_numbers(db_url: str) -> None:
    db = Database(db_url, pool_size=20)
    try:
        customer_id = _customer(db)
        day = date(2026, 11, 22)
        with ThreadPoolExecutor(max_workers=20) as pool:
            numbers = list(pool.map(lambda _: _create(db, customer_id, day), range(200)))
        assert len(set(numbers)) == 200
        assert sorted(numbers) == [f"261122{i:04d}" for i in range(1, 201)]
        stored = db.run_sync(lambda s: sorted(t.number for t in s.exec(select(Ticket))))
        assert stored == sorted(numbers)
    finally:
        db.close()


def test_rolled_back_ticket_returns_its_number(db_url: str) -> None:
    db = Database(db_url)
    try:
        customer_id = _customer(db)
        day = date(2026, 1, 5)
        assert _create(db, customer_id, day) == "2601050001"

        def fail(session: Session) -> None:
            number = ticket_repo.next_number(session, local_day=day)
            assert number == "2601050002"
            raise RuntimeError("crash before commit")

        with pytest.raises(RuntimeError):
            db.run_sync(fail)
        assert _create(db, customer_id, day) == "2601050002"
        assert _create(db, customer_id, date(2026, 1, 6)) == "2601060001"
    finally:
        db.close()


def test_events_keep_who_what_when_and_before_after(db_url: str) -> None:
    db = Database(db_url)
    try:
        customer_id = _customer(db)
        number = _create(db, customer_id, date(2026, 3, 1))
        at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)

        def log(session: Session) -> None:
            ticket = ticket_repo.by_number(session, number=number)
            assert ticket is not None and ticket.id is not None
            ticket_repo.add_event(
                session,
                ticket_id=ticket.id,
                actor="agent:li",
                action="status",
                before={"status": "new"},
                after={"status": "acknowledged"},
                at=at,
            )

        db.run_sync(log)
        events = db.run_sync(lambda s: list(s.exec(select(TicketEvent))))
        assert len(events) == 1
        event = events[0]
        assert (event.actor, event.action) == ("agent:li", "status")
        assert event.before == {"status": "new"} and event.after == {"status": "acknowledged"}
        assert event.at == at and event.at.tzinfo is not None
    finally:
        db.close()
