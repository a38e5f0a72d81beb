"""The staff notification outbox's claims: a process sends only the rows it has claimed, so with
several processes on one database each notification goes out from exactly one of them.

A claim is ``claimed_by``/``claimed_until`` on the row, taken with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` serialises claims anyway) and conditional on the row
being free, so two processes claiming at once split the rows instead of sharing them; a claim
that runs out (its process died) lets another process take the row. Rows are claimed a whole
address at a time where possible (an address with a row another process holds is left to it),
so a burst for one person becomes one digest from one process."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, update
from sqlmodel import Session, col, select

from storage.models import StaffNotification

PENDING = "pending"

Batches = dict[tuple[str, str], list[StaffNotification]]


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(col(StaffNotification.claimed_until).is_(None), col(StaffNotification.claimed_until) < now)


def claim_due(
    session: Session,
    *,
    holder: str,
    now: datetime,
    until: datetime,
    gap: timedelta,
    limit: int = 500,
) -> Batches:
    """Claim the rows due now for ``holder`` until ``until``, grouped by (channel, address), and
    return detached copies of them. Non-urgent rows for an address sent to less than ``gap`` ago
    are not claimed: they wait until the gap has passed and then go out together (a digest)."""
    candidates = session.exec(
        select(StaffNotification)
        .where(
            StaffNotification.status == PENDING,
            col(StaffNotification.next_attempt_at) <= now,
            _free(now),
        )
        .order_by(col(StaffNotification.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        return {}
    by_address: Batches = {}
    for row in candidates:
        by_address.setdefault((row.channel, row.address), []).append(row)
    busy = set(
        session.exec(
            select(StaffNotification.channel, StaffNotification.address)
            .where(
                StaffNotification.status == PENDING,
                col(StaffNotification.claimed_by).is_not(None),
                col(StaffNotification.claimed_by) != holder,
                col(StaffNotification.claimed_until) >= now,
            )
            .distinct()
        ).all()
    )
    take: list[int] = []
    for (channel, address), batch in list(by_address.items()):
        if (channel, address) in busy:  # another process is sending to this address right now
            del by_address[(channel, address)]
            continue
        last = session.exec(
            select(func.max(StaffNotification.sent_at)).where(
                StaffNotification.channel == channel, StaffNotification.address == address
            )
        ).one()
        if last is not None and now - last < gap:
            for row in batch:
                if not row.urgent:
                    row.next_attempt_at = last + gap
                    session.add(row)
            batch = [r for r in batch if r.urgent]
            if not batch:
                del by_address[(channel, address)]
                continue
            by_address[(channel, address)] = batch
        take.extend(r.id for r in batch if r.id is not None)
    session.flush()
    if not take:
        return {}
    claimed = set(
        session.execute(
            update(StaffNotification)
            .where(col(StaffNotification.id).in_(take), _free(now))
            .values(claimed_by=holder, claimed_until=until)
            .returning(col(StaffNotification.id))
        ).scalars()
    )
    out: Batches = {}
    for key, batch in by_address.items():
        mine = [r for r in batch if r.id in claimed]
        for row in mine:
            session.refresh(row)
            session.expunge(row)
        if mine:
            out[key] = mine
    return out


def held(session: Session, *, ids: Collection[int], holder: str) -> list[StaffNotification]:
    """Of these rows, the ones ``holder`` still holds (pending, claimed by it), locked for the
    caller's update."""
    if not ids:
        return []
    return list(
        session.exec(
            select(StaffNotification)
            .where(
                col(StaffNotification.id).in_(list(ids)),
                StaffNotification.claimed_by == holder,
                StaffNotification.status == PENDING,
            )
            .with_for_update()
        ).all()
    )


def release(session: Session, *, ids: Collection[int], holder: str) -> int:
    """Give up claims on rows not sent after all (time ran out): they are free at once."""
    if not ids:
        return 0
    result = session.execute(
        update(StaffNotification)
        .where(col(StaffNotification.id).in_(list(ids)), col(StaffNotification.claimed_by) == holder)
        .values(claimed_by=None, claimed_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
