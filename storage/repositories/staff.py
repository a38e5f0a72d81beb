"""The staff table as routing and recusal read it for every new ticket."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from storage.models import Staff

_STAFF: Any = Staff.__table__  # type: ignore[attr-defined]


def active(
    conn: Connection,
) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...], str | None]]:
    """Active people as (username, display name, departments, roles, employee number), by username."""
    rows = conn.execute(
        select(
            _STAFF.c.username,
            _STAFF.c.display_name,
            _STAFF.c.departments,
            _STAFF.c.roles,
            _STAFF.c.employee_no,
        )
        .where(_STAFF.c.active.is_(True))
        .order_by(_STAFF.c.username)
    )
    return [(str(u), str(n), tuple(d or ()), tuple(r or ()), e) for u, n, d, r, e in rows]
