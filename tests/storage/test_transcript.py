"""The transcript repository on both backends: a first contact creates the customer once; the
messages table's partial indexes still refuse a duplicate delivery and find unanswered rows; a
message reads back through the ORM as written; replies are marked sent with their platform ids;
a conversation saved from a stale version is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, select
from sqlmodel import Session

from storage.db import make_unpooled_engine
from storage.models import UNANSWERED, Conversation, Message
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


def test_a_message_reads_back_through_the_orm_as_written(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    when = datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))  # not UTC
    text = "热水壶漏水 💧 '; DROP TABLE messages; --"
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="telegram", external_id="42", language="zh", name=None, now=when
            )
            row_id = transcript.insert_inbound(
                conn,
                customer=customer,
                channel="telegram",
                user_id="42",
                channel_message_id="m1",
                kind="image",
                text=text,
                payload="yes",
                attachments=[{"kind": "image", "name": "壶.jpg"}],
                received_at=when,
            )
        with Session(engine) as session:
            stored = session.get(Message, row_id)
        assert stored is not None
        assert (stored.text, stored.kind, stored.payload) == (text, "image", "yes")
        assert stored.attachments == [{"kind": "image", "name": "壶.jpg"}] and stored.buttons == []
        assert stored.created_at == when and stored.created_at.tzinfo is not None
        assert (stored.customer_id, stored.processed_at) == (customer, None)
    finally:
        engine.dispose()


def test_replies_are_marked_sent_with_their_ids_and_a_stale_save_is_refused(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    try:
        with engine.begin() as conn:
            customer = transcript.customer_id(
                conn, channel="telegram", external_id="42", language="zh", name=None, now=NOW
            )
            conversation = transcript.new_conversation(
                conn,
                channel="telegram",
                user_id="42",
                customer=customer,
                flow="intake",
                flow_version=1,
                now=NOW,
            )
            rows = [transcript.OutgoingRow(text=f"第{i}条", buttons=[], attachments=[]) for i in range(3)]
            ids = transcript.insert_outgoing(
                conn,
                conversation_id=conversation,
                customer=customer,
                channel="telegram",
                user_id="42",
                rows=rows,
                now=NOW,
            )
            later = NOW + timedelta(seconds=5)
            transcript.mark_sent(conn, sent=[(ids[0], "tg-1"), (ids[2], None)], now=later)
            assert transcript.save_state(
                conn, conversation_id=conversation, expected_version=0, values={"step": "a"}
            )
            assert not transcript.save_state(
                conn, conversation_id=conversation, expected_version=0, values={"step": "b"}
            )
        with Session(engine) as session:
            sent = [session.get(Message, i) for i in ids]
            conv = session.get(Conversation, conversation)
        assert [m.text for m in sent if m is not None] == ["第0条", "第1条", "第2条"]  # ids in order
        assert [(m.delivery, m.external_id, m.sent_at) for m in sent if m is not None] == [
            ("sent", "tg-1", later),
            ("pending", None, None),
            ("sent", None, later),
        ]
        assert conv is not None and (conv.step, conv.version) == ("a", 1)
    finally:
        engine.dispose()
