"""Events every process on one PostgreSQL database must hear (the console's live updates), over
PostgreSQL's LISTEN/NOTIFY: a notification is delivered to every listening connection when the
transaction that sent it commits, and costs no table. SQLite has no such thing (and one process)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import psycopg
from sqlalchemy import Connection, make_url, text

CHANNEL = "tousu_live"
MAX_PAYLOAD = 7900
"""PostgreSQL refuses payloads of 8000 bytes and more."""


def driver_url(url: str) -> str:
    """The libpq URL of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def notify(conn: Connection, *, payloads: list[str]) -> None:
    """Send these payloads to every listener, at this transaction's commit."""
    for payload in payloads:
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


@contextlib.asynccontextmanager
async def listening(url: str) -> AsyncIterator[AsyncIterator[str]]:
    """Listen on a connection of its own (autocommit: notifications arrive between
    transactions); inside, the channel is listened to, and the iterator gives the payloads."""
    async with await psycopg.AsyncConnection.connect(driver_url(url), autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        yield (note.payload async for note in conn.notifies())
