"""Constraints and column behaviour the rest of the app relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.db import Database
from storage.models import Customer, Message
from storage.repositories import customers as customer_repo
from storage.repositories import flows as flow_repo


def test_customer_is_unique_per_channel_identity(db_url: str) -> None:
    db = Database(db_url)
    try:
        first = db.run_sync(
            lambda s: customer_repo.get_or_create(s, channel="telegram", external_id="42", language="en").id
        )
        again = db.run_sync(
            lambda s: customer_repo.get_or_create(s, channel="telegram", external_id="42", language="zh").id
        )
        other = db.run_sync(
            lambda s: customer_repo.get_or_create(s, channel="wechat", external_id="42", language="zh").id
        )
        assert first == again != other
        with pytest.raises(IntegrityError):
            db.run_sync(lambda s: s.add(Customer(channel="telegram", external_id="42")))
    finally:
        db.close()


def test_channel_message_id_deduplicates_and_text_is_stored_intact(db_url: str) -> None:
    db = Database(db_url)
    nasty = "😀 '; DROP TABLE messages; -- \u202e\x07\ttab\n" + "长" * 20_000
    try:
        cid = db.run_sync(
            lambda s: customer_repo.get_or_create(s, channel="console", external_id="u", language="zh").id
        )
        assert cid is not None

        def add(session: Session) -> None:
            session.add(
                Message(
                    customer_id=cid,
                    channel="console",
                    user_id="u",
                    direction="in",
                    channel_message_id="m1",
                    text=nasty,
                )
            )

        db.run_sync(add)
        with pytest.raises(IntegrityError):
            db.run_sync(add)
        texts = db.run_sync(lambda s: [m.text for m in s.exec(select(Message))])
        assert texts == [nasty]
    finally:
        db.close()


def test_times_come_back_aware_utc(db_url: str) -> None:
    db = Database(db_url)
    shanghai = timezone(timedelta(hours=8))
    local = datetime(2026, 11, 22, 9, 0, tzinfo=shanghai)
    try:
        cid = db.run_sync(
            lambda s: customer_repo.get_or_create(s, channel="c", external_id="t", language="zh").id
        )

        def add(session: Session) -> None:
            customer = session.get(Customer, cid)
            assert customer is not None
            customer.last_inbound_at = local
            session.add(customer)

        db.run_sync(add)
        back = db.run_sync(lambda s: s.get(Customer, cid))
        assert back is not None and back.last_inbound_at == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
        assert back.last_inbound_at.tzinfo is not None
        with pytest.raises(Exception, match="naive"):
            db.run_sync(
                lambda s: s.add(Customer(channel="c", external_id="n", created_at=datetime(2026, 1, 1)))
            )
    finally:
        db.close()


def test_flow_versions_publish_only_changes(db_url: str) -> None:
    db = Database(db_url)
    try:
        v1 = db.run_sync(lambda s: flow_repo.publish(s, name="intake", content="a: 1", author="x").version)
        same = db.run_sync(lambda s: flow_repo.publish(s, name="intake", content="a: 1", author="y").version)
        v2 = db.run_sync(lambda s: flow_repo.publish(s, name="intake", content="a: 2", author="y").version)
        assert (v1, same, v2) == (1, 1, 2)
        live = db.run_sync(lambda s: flow_repo.live(s, name="intake"))
        old = db.run_sync(lambda s: flow_repo.get(s, name="intake", version=1))
        assert live is not None and live.version == 2 and live.author == "y"
        assert old is not None and old.content == "a: 1" and not old.live
    finally:
        db.close()
