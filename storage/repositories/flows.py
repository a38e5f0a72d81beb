"""Stored flow versions: the history admins roll back through."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.models import FlowVersion

_FLOWS = FlowVersion.__table__  # type: ignore[attr-defined]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def live(session: Session, *, name: str) -> FlowVersion | None:
    return session.exec(
        select(FlowVersion)
        .where(FlowVersion.name == name, col(FlowVersion.live).is_(True))
        .order_by(col(FlowVersion.version).desc())
    ).first()


def live_version(conn: Connection, *, name: str) -> int | None:
    """The live version's number only: every new conversation asks, and the content is cached."""
    found = conn.execute(
        sa_select(_FLOWS.c.version)
        .where(_FLOWS.c.name == name, _FLOWS.c.live.is_(True))
        .order_by(_FLOWS.c.version.desc())
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


def get(session: Session, *, name: str, version: int) -> FlowVersion | None:
    return session.exec(
        select(FlowVersion).where(FlowVersion.name == name, FlowVersion.version == version)
    ).first()


def publish(session: Session, *, name: str, content: str, author: str) -> FlowVersion:
    """Store ``content`` as the new live version, unless it equals the live one already."""
    current = live(session, name=name)
    digest = sha256(content)
    if current is not None and current.sha256 == digest:
        return current
    top = session.exec(select(func.max(FlowVersion.version)).where(FlowVersion.name == name)).one()
    for row in session.exec(
        select(FlowVersion).where(FlowVersion.name == name, col(FlowVersion.live).is_(True))
    ):
        row.live = False
        session.add(row)
    version = FlowVersion(name=name, version=(top or 0) + 1, content=content, sha256=digest, author=author)
    session.add(version)
    session.flush()
    return version


def latest_by(session: Session, *, name: str, author: str) -> FlowVersion | None:
    """The newest version of ``name`` that ``author`` published (live or not)."""
    return session.exec(
        select(FlowVersion)
        .where(FlowVersion.name == name, FlowVersion.author == author)
        .order_by(col(FlowVersion.version).desc())
    ).first()


def history(session: Session, *, name: str) -> list[FlowVersion]:
    return list(
        session.exec(
            select(FlowVersion).where(FlowVersion.name == name).order_by(col(FlowVersion.version).desc())
        )
    )


def names(session: Session) -> list[str]:
    return list(session.exec(select(FlowVersion.name).distinct().order_by(col(FlowVersion.name))))
