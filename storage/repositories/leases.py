"""Named leases: one process at a time holds a role (the scheduler) and keeps renewing it; when it
dies, the lease runs out and another process takes over. A lease is a row, not a held lock, so
nothing stays blocked by a dead process."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from storage.models import Lease


def acquire(session: Session, name: str, *, holder: str, now: datetime, seconds: float) -> bool:
    """Take or renew the lease; True when ``holder`` holds it until ``now + seconds``."""
    dialect = session.get_bind().dialect.name
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert_fn(Lease).values(name=name, holder=None, until=None).on_conflict_do_nothing())
    result = session.execute(
        update(Lease)
        .where(col(Lease.name) == name)
        .where(
            or_(
                col(Lease.holder) == holder,
                col(Lease.holder).is_(None),
                col(Lease.until).is_(None),
                col(Lease.until) < now,
            )
        )
        .values(holder=holder, until=now + timedelta(seconds=seconds))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, name: str, *, holder: str) -> None:
    session.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(holder=None, until=None)
    )


def holder(session: Session, name: str, *, now: datetime) -> str | None:
    row = session.get(Lease, name)
    if row is None or row.until is None or row.until < now:
        return None
    return row.holder


STARTUP_LOCK = 7_105_310_002
"""The advisory lock key under which starting processes publish the flow files one at a time."""


def one_at_a_time(session: Session, key: int) -> None:
    """Until the transaction ends, no other process runs past this point with the same ``key``
    (PostgreSQL's transaction-level advisory lock; SQLite's writer lock already does it)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def count_live(session: Session, *, prefix: str, now: datetime) -> int:
    """How many leases named ``prefix...`` are held now (e.g. the processes sending replies)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(Lease)
            .where(col(Lease.name).startswith(prefix, autoescape=True), col(Lease.until) >= now)
        ).scalar_one()
    )


def forget(session: Session, *, prefix: str, before: datetime) -> None:
    """Delete the leases named ``prefix...`` that ran out before ``before`` (one per process
    that ever started would pile up otherwise)."""
    session.execute(
        delete(Lease).where(
            col(Lease.name).startswith(prefix, autoescape=True),
            or_(col(Lease.until).is_(None), col(Lease.until) < before),
        )
    )
