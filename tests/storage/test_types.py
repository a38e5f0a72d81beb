"""UTCDateTime on SQLite binds the same text as SQLAlchemy's own chain (process_bind_param, then
the dialect's DATETIME format), and refuses what that chain refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from storage.types import UTCDateTime

DIALECT = sqlite.dialect()


def reference(value: Any) -> Any:
    step = UTCDateTime().process_bind_param(value, DIALECT)
    inner = DateTime(timezone=True).dialect_impl(DIALECT).bind_processor(DIALECT)
    assert inner is not None
    return inner(step)


@pytest.mark.parametrize(
    "value",
    [
        None,
        datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 16, 5, 7, 123456, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 12, 2, 7, 40, 1, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 15, 59, 59, 999999, tzinfo=timezone(timedelta(hours=8))),
    ],
)
def test_the_fused_processor_writes_what_the_chain_wrote(value: datetime | None) -> None:
    fused = UTCDateTime().bind_processor(DIALECT)
    assert fused is not None
    assert fused(value) == reference(value)


@pytest.mark.parametrize(
    ("value", "error"), [(datetime(2026, 11, 23), ValueError), ("2026-11-23", TypeError)]
)
def test_naive_and_non_datetimes_are_refused(value: Any, error: type[Exception]) -> None:
    fused = UTCDateTime().bind_processor(DIALECT)
    assert fused is not None
    with pytest.raises(error):
        fused(value)
    with pytest.raises(error):
        reference(value)


def test_the_last_value_kept_never_answers_for_another() -> None:
    fused = UTCDateTime().bind_processor(DIALECT)
    assert fused is not None
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    later = now + timedelta(microseconds=1)
    east = now.astimezone(timezone(timedelta(hours=8)))  # equal to now, another object
    london = ZoneInfo("Europe/London")  # 01:30 on 2026-10-25 happens twice
    first = datetime(2026, 10, 25, 1, 30, tzinfo=london)
    second = first.replace(fold=1)
    sequence = [now, now, later, now, None, east, east, now, later, later, first, second, first]
    sequence += [now + timedelta(seconds=s) for s in range(40)] + [now, later]
    assert [fused(v) for v in sequence] == [reference(v) for v in sequence]
    assert fused(first) != fused(second)
    with pytest.raises(ValueError, match="naive"):
        fused(datetime(2026, 11, 23))
    assert fused(later) == reference(later)
