"""WeChat's send quotas as rules: a customer's allowance of customer-service messages after
what they did, and an API's daily count on the platform's day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.send_quotas import (
    AFTER_EVENT,
    AFTER_MESSAGE,
    Action,
    Quota,
    after,
    next_day,
    spend,
    take_daily,
)

T0 = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def spend_all(quota: Quota, now: datetime) -> int:
    sent = 0
    while (left := spend(quota, now)) is not None:
        quota, sent = left, sent + 1
    return sent


def test_a_message_allows_five_within_48_hours() -> None:
    quota = after(Quota(), [Action(1, T0, AFTER_MESSAGE)])
    assert spend_all(quota, T0 + timedelta(hours=47)) == 5
    assert spend(quota, T0 + timedelta(hours=48)) is None  # the window closed


def test_an_event_allows_three_within_a_minute() -> None:
    quota = after(Quota(), [Action(1, T0, AFTER_EVENT)])
    assert spend_all(quota, T0 + timedelta(seconds=30)) == 3
    assert spend(quota, T0 + timedelta(seconds=61)) is None


def test_nothing_before_the_customer_did_anything() -> None:
    assert spend(after(Quota(), []), T0) is None


def test_a_new_message_fills_the_allowance_again_and_counts_once() -> None:
    quota = after(Quota(), [Action(1, T0, AFTER_MESSAGE)])
    for _ in range(5):
        left = spend(quota, T0)
        assert left is not None
        quota = left
    assert spend(quota, T0) is None
    later = T0 + timedelta(hours=1)
    quota = after(quota, [Action(1, T0, AFTER_MESSAGE), Action(7, later, AFTER_MESSAGE)])
    assert quota.seen == 7 and quota.remaining == 5 and quota.until == later + timedelta(hours=48)
    assert after(quota, [Action(7, later, AFTER_MESSAGE)]) == quota  # already counted


def test_allowances_do_not_add_up_and_keep_the_longer_deadline() -> None:
    quota = after(Quota(), [Action(1, T0, AFTER_MESSAGE)])
    left = spend(quota, T0)
    assert left is not None
    click = T0 + timedelta(minutes=5)
    both = after(left, [Action(2, click, AFTER_EVENT)])
    assert both.remaining == 4  # max(4 left, 3), not 4 + 3
    assert both.until == T0 + timedelta(hours=48)  # the message's deadline outlasts the click's
    # once the message's window is over, a click gives only its own three for a minute
    late = T0 + timedelta(hours=50)
    alone = after(both, [Action(3, late, AFTER_EVENT)])
    assert alone.remaining == 3 and alone.until == late + timedelta(minutes=1)


def test_the_day_is_the_platforms_and_starts_full() -> None:
    # 15:59 UTC is 23:59 in Beijing: the day ends a minute later
    now = datetime(2026, 12, 4, 15, 59, tzinfo=UTC)
    assert next_day(now) == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    granted, left = take_daily(Quota(), now, limit=10, want=4)
    assert granted == 4 and left.remaining == 6
    granted, left = take_daily(left, now, limit=10, want=8)
    assert granted == 6 and left.remaining == 0
    assert take_daily(left, now, limit=10, want=1)[0] == 0
    granted, fresh = take_daily(left, now + timedelta(minutes=1), limit=10, want=1)
    assert granted == 1 and fresh.remaining == 9
    assert fresh.until == datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
