"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage import migrate
from storage.db import make_unpooled_engine


def schema_diff(url: str) -> list[object]:
    """What autogenerate would write to bring the database at ``url`` to the models."""
    engine = make_unpooled_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": migrate.include_object}
            )
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
            left = set(inspect(conn).get_table_names()) - migrate.FOREIGN_TABLES - {"alembic_version"}
    finally:
        engine.dispose()
    assert left == set()
    migrate.upgrade(db_url)
    assert schema_diff(db_url) == []
