"""The transcript repository on both backends: a first contact creates the customer once; the
messages table's partial indexes still refuse a duplicate delivery and find unanswered rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select

from storage.db import make_unpooled_engine
from storage.models import UNANSWERED
from storage.repositories import transcript
from storage.repositories.transcript import MESSAGES

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_first_contact_creates_the_customer_once(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    try:
        with engine.begin() as conn:
            first = transcript.customer_id(
                conn, channel="telegram", external_id="42", language="zh", name="A", now=NOW
            )
            again = transcript.customer_id(
                conn, channel="telegram", external_id="42", language="en", name="B", now=NOW
            )
            other = transcript.customer_id(
                conn, channel="wechat", external_id="42", language="zh", name=None, now=NOW
            )
    finally:
        engine.dispose()
    assert first == again != other


def _inbound(conn: Connection, customer: int, message_id: str) -> int:
    return transcript.insert_inbound(
        conn,
        customer=customer,
        channel="telegram",
        user_id="42",
        channel_message_id=message_id,
        kind="text",
        text="你好",
        payload=None,
        attachments=[],
        received_at=NOW,
    )


def test_partial_indexes_keep_dedupe_and_find_unanswered_messages(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    unanswered = select(MESSAGES.c.id).where(UNANSWERED).order_by(MESSAGES.c.id)
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="telegram", external_id="42", language="zh", name=None, now=NOW
            )
            first, second = _inbound(conn, customer, "m1"), _inbound(conn, customer, "m2")
            conversation = transcript.new_conversation(
                conn,
                channel="telegram",
                user_id="42",
                customer=customer,
                flow="intake",
                flow_version=1,
                now=NOW,
            )
            row = transcript.OutgoingRow(text="收到", buttons=[], attachments=[])
            transcript.insert_outgoing(  # replies carry no channel id: many of them, no conflict
                conn,
                conversation_id=conversation,
                customer=customer,
                channel="telegram",
                user_id="42",
                rows=[row, row],
                now=NOW,
            )
            transcript.mark_processed(conn, message_id=first, conversation_id=conversation, now=NOW)
            assert list(conn.execute(unanswered).scalars()) == [second]
        with pytest.raises(transcript.DuplicateMessage), engine.begin() as conn:
            _inbound(conn, customer, "m1")
        if engine.dialect.name == "sqlite":  # recovery on start reads the index, not the table
            with engine.connect() as conn:
                sql = str(unanswered.compile(engine))
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "ix_messages_unanswered" in plan
    finally:
        engine.dispose()
