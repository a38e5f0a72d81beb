"""one staff table: console accounts and the routing directory become one row per person;
the staff notification outbox

Revision ID: c8e2a4f6b310
Revises: f4b2d6e8a031
Create Date: 2026-12-04 02:00:00

A console account and a directory row with the same username become one person with both
roles. An account and a directory row left unmatched that carry the same display name (the one
way they were linked before) become one person too, under the account's username (logins keep
working); tickets, escalations and alerts naming the directory username are rewritten to it, so
no assignment or recusal is lost.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "c8e2a4f6b310"
down_revision: str | None = "f4b2d6e8a031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.MetaData()
_OLD_STAFF = sa.Table(
    "staff",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String),
    sa.Column("name", sa.String),
    sa.Column("employee_no", sa.String),
    sa.Column("department", sa.String),
    sa.Column("role", sa.String),
    sa.Column("active", sa.Boolean),
    sa.Column("created_at", storage.types.UTCDateTime(timezone=True)),
)
_USERS = sa.Table(
    "console_users",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String),
    sa.Column("display_name", sa.String),
    sa.Column("role", sa.String),
    sa.Column("department", sa.String),
    sa.Column("password_hash", sa.Text),
    sa.Column("language", sa.String),
    sa.Column("active", sa.Boolean),
    sa.Column("created_at", storage.types.UTCDateTime(timezone=True)),
)
_new_meta = sa.MetaData()
_PEOPLE = sa.Table(
    "staff",
    _new_meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String),
    sa.Column("display_name", sa.String),
    sa.Column("employee_no", sa.String),
    sa.Column("roles", sa.JSON),
    sa.Column("departments", sa.JSON),
    sa.Column("password_hash", sa.Text),
    sa.Column("language", sa.String),
    sa.Column("active", sa.Boolean),
    sa.Column("notify", sa.JSON),
    sa.Column("created_at", storage.types.UTCDateTime(timezone=True)),
)
_TICKETS = sa.Table(
    "tickets",
    _new_meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("assignee", sa.String),
    sa.Column("escalated_to", sa.String),
    sa.Column("recused", sa.JSON),
)
_ALERTS = sa.Table("staff_alerts", _new_meta, sa.Column("id", sa.Integer), sa.Column("username", sa.String))
_ROLE_ORDER = ("agent", "handler", "supervisor", "manager", "admin")


def _roles(*names: str | None) -> list[str]:
    found = {n for n in names if n}
    return [r for r in _ROLE_ORDER if r in found]


def merge(
    staff: list[dict[str, Any]], users: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The people rows, and the directory usernames renamed to an account's (a name match)."""
    by_user = {u["username"]: u for u in users}
    people: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}
    matched = {s["username"] for s in staff if s["username"] in by_user}
    lone_staff = [s for s in staff if s["username"] not in matched]
    lone_users = [u for u in users if u["username"] not in matched]
    for user in lone_users:
        name = (user["display_name"] or "").strip()
        same = [s for s in lone_staff if len(name) >= 2 and (s["name"] or "").strip() == name]
        others = [u for u in lone_users if (u["display_name"] or "").strip() == name]
        if len(same) == 1 and len(others) == 1:
            renamed[same[0]["username"]] = user["username"]
    staff_of = {renamed.get(s["username"], s["username"]): s for s in staff}
    for username in sorted(set(staff_of) | set(by_user)):
        s, u = staff_of.get(username), by_user.get(username)
        roles = _roles(
            s["role"] if s is not None and s["active"] else None, u["role"] if u is not None else None
        )
        if s is not None and not s["active"] and u is None:
            roles = _roles(s["role"])
        departments = [
            d for d in dict.fromkeys([(s or {}).get("department"), (u or {}).get("department")]) if d
        ]
        people.append(
            {
                "username": username,
                "display_name": (u["display_name"] if u is not None else None)
                or (s or {}).get("name")
                or username,
                "employee_no": (s or {}).get("employee_no"),
                "roles": roles,
                "departments": departments,
                "password_hash": u["password_hash"] if u is not None and u["active"] else None,
                "language": (u or {}).get("language") or "zh",
                "active": bool((s is not None and s["active"]) or (u is not None and u["active"])),
                "notify": ["console"],
                "created_at": min(r["created_at"] for r in (s, u) if r is not None),
            }
        )
    return people, renamed


def upgrade() -> None:
    conn = op.get_bind()
    staff = [dict(r._mapping) for r in conn.execute(sa.select(_OLD_STAFF))]
    users = [dict(r._mapping) for r in conn.execute(sa.select(_USERS))]
    people, renamed = merge(staff, users)

    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_users_username"))
    op.drop_table("console_users")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_username"))
        batch_op.drop_index(batch_op.f("ix_staff_department"))
    op.drop_table("staff")
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("employee_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("telegram_chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("telegram_code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("telegram_code_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notify", sa.JSON(), nullable=False),
        sa.Column("quiet_from", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("quiet_until", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_username"), ["username"], unique=True)
    if people:
        conn.execute(sa.insert(_PEOPLE), people)
    if renamed:
        _rename(conn, renamed)

    op.create_table(
        "staff_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_staff_notifications_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_notifications_username"), ["username"], unique=False)


def _rename(conn: sa.Connection, renamed: dict[str, str]) -> None:
    """Point tickets and alerts at the merged person's username."""
    olds = list(renamed)
    for column in (_TICKETS.c.assignee, _TICKETS.c.escalated_to):
        for old, new in renamed.items():
            conn.execute(sa.update(_TICKETS).where(column == old).values({column.name: new}))
    for old, new in renamed.items():
        conn.execute(sa.update(_ALERTS).where(_ALERTS.c.username == old).values(username=new))
    for ticket_id, recused in conn.execute(sa.select(_TICKETS.c.id, _TICKETS.c.recused)):
        names = list(recused or [])
        if any(n in olds for n in names):
            moved = list(dict.fromkeys(renamed.get(n, n) for n in names))
            conn.execute(sa.update(_TICKETS).where(_TICKETS.c.id == ticket_id).values(recused=moved))


def downgrade() -> None:
    conn = op.get_bind()
    people = [dict(r._mapping) for r in conn.execute(sa.select(_PEOPLE))]
    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_notifications_username"))
        batch_op.drop_index("ix_staff_notifications_due")
    op.drop_table("staff_notifications")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_username"))
    op.drop_table("staff")
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("employee_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_username"), ["username"], unique=True)
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_users_username"), ["username"], unique=True)
    for p in people:
        roles = list(p["roles"] or [])
        departments = list(p["departments"] or [])
        directory = [r for r in ("manager", "supervisor", "handler") if r in roles]
        if directory:
            conn.execute(
                sa.insert(_OLD_STAFF).values(
                    username=p["username"],
                    name=p["display_name"],
                    employee_no=p["employee_no"],
                    department=departments[0] if departments else "",
                    role=directory[0],
                    active=p["active"],
                    created_at=p["created_at"],
                )
            )
        if p["password_hash"]:
            console = (
                "admin"
                if "admin" in roles
                else "supervisor"
                if {"supervisor", "manager"} & set(roles)
                else "agent"
            )
            conn.execute(
                sa.insert(_USERS).values(
                    username=p["username"],
                    display_name=p["display_name"],
                    role=console,
                    department=departments[0] if departments else None,
                    password_hash=p["password_hash"],
                    language=p["language"],
                    active=p["active"],
                    created_at=p["created_at"],
                )
            )
