"""Shared platform tokens with a refresh lease.

Fetching a new WeChat token invalidates the old one within minutes and is rationed, so one
process refreshes while the others wait and re-read. The lease is a timestamp, not a lock held
across the network call: a process that dies mid-refresh blocks the others only until it expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from storage.models import SharedToken


def read(session: Session, name: str) -> SharedToken | None:
    return session.get(SharedToken, name)


def try_lease(session: Session, name: str, *, now: datetime, seconds: float) -> bool:
    """Take the refresh lease unless another process holds an unexpired one."""
    if session.get(SharedToken, name) is None:
        try:
            with session.begin_nested():
                until = now + timedelta(seconds=seconds)
                session.add(SharedToken(name=name, lease_until=until, updated_at=now))
            return True
        except IntegrityError:  # another process created the row first
            pass
    result = session.execute(
        update(SharedToken)
        .where(col(SharedToken.name) == name)
        .where(or_(col(SharedToken.lease_until).is_(None), col(SharedToken.lease_until) < now))
        .values(lease_until=now + timedelta(seconds=seconds))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def store(session: Session, name: str, *, value: str, expires_at: datetime, now: datetime) -> None:
    """Save a fresh token and release the lease."""
    session.execute(
        update(SharedToken)
        .where(col(SharedToken.name) == name)
        .values(value=value, expires_at=expires_at, lease_until=None, updated_at=now)
    )


def release(session: Session, name: str) -> None:
    session.execute(update(SharedToken).where(col(SharedToken.name) == name).values(lease_until=None))
