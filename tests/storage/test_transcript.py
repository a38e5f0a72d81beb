"""The transcript repository on both backends: a first contact creates the customer once."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.db import make_unpooled_engine
from storage.repositories import transcript

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
