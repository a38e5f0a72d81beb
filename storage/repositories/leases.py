"""Named leases: one process at a time holds a role (the scheduler) and keeps renewing it; when it
dies, the lease runs out and another process takes over. A lease is a row, not a held lock, so
nothing stays blocked by a dead process."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
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
