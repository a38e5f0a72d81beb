"""Column types shared by the tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

RECENT_BINDS = 16


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware.

    SQLite drops the offset, PostgreSQL keeps it; normalising here means code never compares a
    naive datetime with an aware one, whichever database is behind it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        utc = _as_utc(value)
        if utc is None:
            return None
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, ``process_bind_param`` and the dialect's own DATETIME formatting fused into
        one function (the same text, checked in tests/storage/test_types.py): every turn binds
        half a dozen times, and the two-step chain was ~5 % of a turn's time. A turn binds a few
        distinct moments a dozen times or more (1.7 us each), so the texts of recent UTC moments
        are kept (only those in UTC: other zones' wall times can compare equal across a DST
        fold while being different instants)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        recent: dict[datetime, str] = {}

        def process(value: Any) -> str | None:
            if isinstance(value, datetime) and value.tzinfo is UTC:
                known = recent.get(value)
                if known is not None:
                    return known
                # The aware text without its "+00:00": replace(tzinfo=None) alone took longer
                # than the whole of this (timed loop).
                text = value.isoformat(" ", "microseconds")[:26]
                if len(recent) >= RECENT_BINDS:
                    recent.clear()
                recent[value] = text
                return text
            utc = _as_utc(value)
            if utc is None:
                return None
            return utc.replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        aware: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError("naive datetime given; store aware UTC times")
    return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
