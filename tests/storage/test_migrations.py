"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage import migrate
from storage.db import make_unpooled_engine


def schema_diff(url: str) -> list[object]:
    """What autogenerate would write to bring the database at ``url`` to the models."""
    engine = make_unpooled_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models(db_url: str) -> None:
    migrate.upgrade(db_url)  # idempotent on an already migrated database
    assert schema_diff(db_url) == []


def test_every_migration_downgrades_and_upgrades_again(db_url: str) -> None:
    """Every downgrade, down to an empty schema, then every upgrade again, on both backends: a
    release can be rolled back, and the round trip ends at the models' schema."""
    command.downgrade(migrate.alembic_config(db_url), "base")
    engine = make_unpooled_engine(db_url)
    try:
        with engine.connect() as conn:
            left = set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    assert left == set()
    migrate.upgrade(db_url)
    assert schema_diff(db_url) == []


BEFORE_MERGE = "3a9c5d7e1b42"  # the last revision with an outbox table


def test_outbox_rows_move_onto_their_replies_and_back(db_url: str) -> None:
    """Upgrading puts each outbox row's delivery state on the reply it was written with, makes a
    reply of a pending row that has none, and the downgrade writes the outbox back."""
    command.downgrade(migrate.alembic_config(db_url), BEFORE_MERGE)
    engine = make_unpooled_engine(db_url)
    at = "2026-12-02 08:00:00"
    try:
        with engine.begin() as conn:
            customer = conn.execute(
                text(
                    "INSERT INTO customers (channel, external_id, language, unreachable, created_at) "
                    "VALUES ('telegram', '42', 'zh', false, :at) RETURNING id"
                ),
                {"at": at},
            ).scalar_one()
            for reply in ("已收到", "请描述问题"):
                conn.execute(
                    text(
                        "INSERT INTO messages (customer_id, channel, user_id, direction, author, kind, "
                        "text, buttons, attachments, created_at, processed_at) VALUES (:c, 'telegram', "
                        "'42', 'out', 'bot', 'text', :t, '[]', '[]', :at, :at)"
                    ),
                    {"c": customer, "t": reply, "at": at},
                )
            for reply, status, attempts in (
                ("已收到", "sent", 0),
                ("请描述问题", "pending", 2),
                ("孤儿", "pending", 1),
            ):
                conn.execute(
                    text(
                        "INSERT INTO outbox (channel, user_id, text, buttons, attachments, status, "
                        "attempts, next_attempt_at, created_at) "
                        "VALUES ('telegram', '42', :t, '[]', '[]', :s, :a, :at, :at)"
                    ),
                    {"t": reply, "s": status, "a": attempts, "at": at},
                )
        migrate.upgrade(db_url)
        with engine.connect() as conn:
            moved = conn.execute(
                text("SELECT text, delivery, attempts FROM messages WHERE direction = 'out' ORDER BY id")
            ).all()
        assert [tuple(row) for row in moved] == [
            ("已收到", "sent", 0),
            ("请描述问题", "pending", 2),
            ("孤儿", "pending", 1),  # a pending row without its reply: nothing waiting is lost
        ]
        command.downgrade(migrate.alembic_config(db_url), BEFORE_MERGE)
        with engine.connect() as conn:
            back = conn.execute(text("SELECT text, status, attempts FROM outbox ORDER BY id")).all()
        assert [tuple(row) for row in back] == [tuple(row) for row in moved]
    finally:
        engine.dispose()
        migrate.upgrade(db_url)


def test_the_old_scheduler_job_table_is_dropped(db_url: str) -> None:
    """A database from before the in-memory job store loses APScheduler's stale copy of the jobs."""
    command.downgrade(migrate.alembic_config(db_url), "6d2b8f0e4c17")
    engine = make_unpooled_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT)")
            )
        migrate.upgrade(db_url)
        with engine.connect() as conn:
            assert "apscheduler_jobs" not in inspect(conn).get_table_names()
    finally:
        engine.dispose()
    assert schema_diff(db_url) == []


def test_conversations_are_found_by_waiting_since(db_url: str) -> None:
    """The webhook feed's handoff read and the queue use an index, and the downgrade drops it."""
    engine = make_unpooled_engine(db_url)

    def indexed() -> bool:
        with engine.connect() as conn:
            found = inspect(conn).get_indexes("conversations")
        return any(i["column_names"] == ["waiting_since"] for i in found)

    try:
        assert indexed()
        command.downgrade(migrate.alembic_config(db_url), "d3f5a7c9e1b2")
        assert not indexed()
        migrate.upgrade(db_url)
        assert indexed()
    finally:
        engine.dispose()


def test_the_migrations_have_one_head() -> None:
    """Two migrations written at once on different branches both name the same parent: the
    second to land must re-point its ``down_revision``, or ``upgrade head`` is ambiguous."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads
