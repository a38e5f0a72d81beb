"""Throwaway databases for tests: a SQLite file per test, and on PostgreSQL a database per test
session (migrated once) whose tables are emptied before each test."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlmodel import SQLModel

from storage import migrate
from storage.db import make_unpooled_engine

POSTGRES_ADMIN_URL = os.environ.get("TOUSU_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'tousu.db'}"


def _with_db(url: str, name: str) -> str:
    base = url.rsplit("/", 1)[0]
    return f"{base}/{name}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh, migrated database and drop it afterwards. Fails loudly when PostgreSQL
    cannot be reached: the storage tests must run against it, never be skipped."""
    name = f"tousu_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL at {POSTGRES_ADMIN_URL} is required for the storage tests: {exc}"
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(POSTGRES_ADMIN_URL, name).replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_postgres(url: str) -> None:
    import storage.models  # noqa: F401

    engine = make_unpooled_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
