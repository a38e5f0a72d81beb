"""The one-staff-table migration keeps every login, assignment and recusal of the two old tables."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import text

from storage import migrate
from storage.db import make_unpooled_engine

BEFORE = "f4b2d6e8a031"  # console_users and staff apart


def test_two_tables_become_one_person_each(db_url: str) -> None:
    command.downgrade(migrate.alembic_config(db_url), BEFORE)
    engine = make_unpooled_engine(db_url)
    at = "2026-12-02 08:00:00"
    try:
        with engine.begin() as conn:
            for username, name, dept, role in (
                ("wangfang", "王芳", "quality", "handler"),
                ("xiaoli", "小李", "billing", "handler"),
                ("zhao", "赵六", "quality", "supervisor"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO staff (username, name, department, role, active, created_at) "
                        "VALUES (:u, :n, :d, :r, true, :at)"
                    ),
                    {"u": username, "n": name, "d": dept, "r": role, "at": at},
                )
            for username, name, role, dept in (
                ("wangfang", "王芳", "agent", "quality"),
                ("li", "小李", "agent", None),
                ("root", "管理员", "admin", None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO console_users (username, display_name, role, department, password_hash, "
                        "language, active, created_at) VALUES (:u, :n, :r, :d, :h, 'zh', true, :at)"
                    ),
                    {"u": username, "n": name, "r": role, "d": dept, "h": f"hash-{username}", "at": at},
                )
            customer = conn.execute(
                text(
                    "INSERT INTO customers (channel, external_id, language, unreachable, created_at) "
                    "VALUES ('telegram', '42', 'zh', false, :at) RETURNING id"
                ),
                {"at": at},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO tickets (number, kind, status, severity, severity_reasons, description, "
                    'details, "references", attachments, channel, language, customer_id, assignee, '
                    "recused, redispatches, created_at, updated_at) VALUES ('2612020001', 'complaint', "
                    "'acknowledged', 'normal', '[]', 'x', '{}', '[]', '[]', 'telegram', 'zh', :c, "
                    "'xiaoli', '[\"xiaoli\", \"zhao\"]', 0, :at, :at)"
                ),
                {"c": customer, "at": at},
            )
        migrate.upgrade(db_url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT username, roles, departments, password_hash FROM staff ORDER BY username")
            ).all()
            ticket = conn.execute(text("SELECT assignee, recused FROM tickets")).one()
    finally:
        engine.dispose()
    people = {u: (_list(r), _list(d), h) for u, r, d, h in rows}
    assert set(people) == {"li", "root", "wangfang", "zhao"}  # xiaoli and li are one person
    assert people["wangfang"] == (["agent", "handler"], ["quality"], "hash-wangfang")
    assert people["li"] == (["agent", "handler"], ["billing"], "hash-li")
    assert people["zhao"] == (["supervisor"], ["quality"], None)
    assert people["root"] == (["admin"], [], "hash-root")
    assert ticket[0] == "li"
    assert _list(ticket[1]) == ["li", "zhao"]


def _list(value: object) -> list[str]:
    """A JSON column as read back: a string on SQLite's raw text(), a list on PostgreSQL."""
    return list(json.loads(value) if isinstance(value, str) else value)  # type: ignore[arg-type]
