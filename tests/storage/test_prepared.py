"""Prepared statements on both backends: what they write reads back through the ORM exactly as a
Core insert would have written it, and driver errors keep SQLAlchemy's exception classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.db import make_unpooled_engine
from storage.models import Message
from storage.prepared import Prepared, PreparedError
from storage.repositories import transcript

MESSAGES = Message.__table__  # type: ignore[attr-defined]
LOCAL = timezone(timedelta(hours=8))


def row(message_id: str, when: datetime) -> dict[str, object]:
    return {
        "customer_id": None,
        "channel": "console",
        "user_id": "u1",
        "direction": "in",
        "author": "customer",
        "channel_message_id": message_id,
        "kind": "text",
        "text": "热水壶漏水 💧 '; DROP TABLE messages; --",
        "payload": None,
        "buttons": [{"label": "是", "payload": "yes"}],
        "attachments": [],
        "created_at": when,
    }


def test_rows_read_back_as_a_core_insert_writes_them(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    prepared = Prepared(insert(MESSAGES).returning(MESSAGES.c.id))
    when = datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=LOCAL)  # not UTC: must be converted
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="console", external_id="u1", language="zh", name=None, now=when
            )
            fast = prepared.execute(conn, {**row("m1", when), "customer_id": customer}).fetchone()[0]
            core = conn.execute(
                insert(MESSAGES).returning(MESSAGES.c.id), {**row("m2", when), "customer_id": customer}
            ).scalar_one()
        with Session(engine) as session:
            a, b = (session.get(Message, i) for i in (fast, core))
            assert a is not None and b is not None
            assert (a.text, a.buttons, a.created_at) == (b.text, b.buttons, b.created_at)
            assert a.created_at == when and a.created_at.tzinfo is not None
    finally:
        engine.dispose()


def test_a_duplicate_raises_sqlalchemys_integrity_error(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    prepared = Prepared(insert(MESSAGES).returning(MESSAGES.c.id))
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="console", external_id="u1", language="zh", name=None, now=now
            )
            prepared.execute(conn, {**row("same", now), "customer_id": customer})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            prepared.execute(conn, {**row("same", now), "customer_id": customer})
        with Session(engine) as session:
            assert len(session.exec(select(Message)).all()) == 1
    finally:
        engine.dispose()


def test_many_rows_and_rowcounts(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    mark = Prepared(
        update(MESSAGES).where(MESSAGES.c.id == bindparam("k_id")).values(processed_at=bindparam("k_at"))
    )
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="console", external_id="u1", language="zh", name=None, now=now
            )
            Prepared(insert(MESSAGES)).execute_many(
                conn, [{**row(f"m{i}", now), "customer_id": customer} for i in range(3)]
            )
            ids = [m.id for m in Session(bind=conn).exec(select(Message)).all()]
            assert mark.execute(conn, {"k_id": ids[0], "k_at": now}).rowcount == 1
            assert mark.execute(conn, {"k_id": -1, "k_at": now}).rowcount == 0
        with Session(engine) as session:
            done = [m.processed_at for m in session.exec(select(Message).order_by(Message.id)).all()]
        assert done[0] == now and done[1:] == [None, None]
    finally:
        engine.dispose()


def test_a_statement_whose_binds_are_not_the_keys_is_refused(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    literal = Prepared(update(MESSAGES).where(MESSAGES.c.id == bindparam("k_id")).values(kind="voice"))
    try:
        with pytest.raises(PreparedError), engine.begin() as conn:
            literal.execute(conn, {"k_id": 1})
    finally:
        engine.dispose()


def test_a_single_bind_is_passed_with_its_processor_or_as_it_is(db_url: str) -> None:
    """One bind is the shape ``itemgetter`` does not return as a tuple; a time must still go
    through the UTC processor (the driver's own text for it would not match the stored one)."""
    engine = make_unpooled_engine(db_url)
    by_time = Prepared(select(MESSAGES.c.channel_message_id).where(MESSAGES.c.created_at == bindparam("at")))
    by_key = Prepared(select(MESSAGES.c.created_at).where(MESSAGES.c.channel_message_id == bindparam("key")))
    when = datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=LOCAL)
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="console", external_id="u1", language="zh", name=None, now=when
            )
            Prepared(insert(MESSAGES)).execute(conn, {**row("m1", when), "customer_id": customer})
            Prepared(insert(MESSAGES)).execute(
                conn, {**row("m2", when + timedelta(seconds=1)), "customer_id": customer}
            )
            assert by_time.execute(conn, {"at": when}).fetchall() == [("m1",)]
            assert by_time.execute(conn, {"at": when.astimezone(UTC)}).fetchall() == [("m1",)]
            assert len(by_key.execute(conn, {"key": "m2"}).fetchall()) == 1
            assert by_key.execute(conn, {"key": "m3"}).fetchall() == []
    finally:
        engine.dispose()
