"""REST API tokens: created, listed, revoked, and found by the hash of what a client sends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import ApiToken


def add(
    session: Session,
    *,
    name: str,
    role: str,
    department: str | None,
    token_hash: str,
    prefix: str,
    now: datetime,
) -> ApiToken:
    row = ApiToken(
        name=name, role=role, department=department, token_hash=token_hash, prefix=prefix, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def by_name(session: Session, *, name: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(ApiToken.name == name)).first()


def live_by_hash(session: Session, *, token_hash: str) -> ApiToken | None:
    """The token with this hash unless it was revoked."""
    return session.exec(
        select(ApiToken).where(ApiToken.token_hash == token_hash, col(ApiToken.revoked_at).is_(None))
    ).first()


def listing(session: Session) -> Sequence[ApiToken]:
    return session.exec(select(ApiToken).order_by(col(ApiToken.name))).all()


def mark_used(session: Session, *, token_id: int, now: datetime) -> None:
    session.execute(update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now))


def revoke(session: Session, *, name: str, now: datetime) -> bool:
    """False when there is no live token of that name."""
    row = by_name(session, name=name)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    session.add(row)
    return True
