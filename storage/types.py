"""Column types shared by the tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


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
        half a dozen times, and the two-step chain was ~5 % of a turn's time. A turn binds the
        same ``now`` a dozen times or more (3 us each), so the last value's text is kept: a
        datetime is immutable, and the memo holds the object itself, so its id is not reused."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        memo: tuple[Any, str | None] = (None, None)

        def process(value: Any) -> str | None:
            nonlocal memo
            seen, text = memo  # one read of the pair: safe beside other threads' writes
            if value is seen and value is not None:
                return text
            utc = _as_utc(value)
            text = None if utc is None else utc.replace(tzinfo=None).isoformat(" ", "microseconds")
            memo = (value, text)
            return text

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
