"""The staff directory routing reads for every new ticket."""

from __future__ import annotations

from sqlalchemy import Connection, select

from storage.models import Staff

_STAFF = Staff.__table__  # type: ignore[attr-defined]


def active(conn: Connection) -> list[tuple[str, str, str, str, str | None]]:
    """Active staff as (username, name, department, role, employee number), by username."""
    rows = conn.execute(
        select(_STAFF.c.username, _STAFF.c.name, _STAFF.c.department, _STAFF.c.role, _STAFF.c.employee_no)
        .where(_STAFF.c.active.is_(True))
        .order_by(_STAFF.c.username)
    )
    return [(str(u), str(n), str(d), str(r), e) for u, n, d, r, e in rows]
