"""WeChat's quotas on what the bot may send, as rules without I/O. The counters they update are
rows every process shares (storage/repositories/send_quotas.py, used by
bot/services/wechat_quotas.py), so the quotas hold however many processes send.

Customer-service messages (the API a reply takes when it missed the callback's passive answer)
are allowed only after the customer did something, and only so many: since June 2023, 5 within
48 hours of a message the customer sent, 3 within a minute of a menu click, a follow or a scan
(errcode 45047 past the count, 45015 past the time). Allowances do not add up: each action
raises what is left to at least its own count and the deadline to at least its own end.

Each API also has a daily quota per account (errcode 45009 once it is spent; 500 000
customer-service messages a day for a new account, more with more followers), counted here per
day of China Standard Time, the platform's day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PLATFORM_DAY = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Allowance:
    """How many customer-service messages one kind of customer action allows, and how long."""

    count: int
    window: timedelta


AFTER_MESSAGE = Allowance(5, timedelta(hours=48))
AFTER_EVENT = Allowance(3, timedelta(minutes=1))  # menu click, follow, scan


@dataclass(frozen=True, slots=True)
class Action:
    """Something the customer did: an inbound transcript row (``id``) received ``at``."""

    id: int
    at: datetime
    allowance: Allowance


@dataclass(frozen=True, slots=True)
class Quota:
    """What is left: ``remaining`` sends until ``until``; ``seen`` is the newest action (inbound
    row id) already counted, so an action raises the allowance once."""

    remaining: int = 0
    until: datetime | None = None
    seen: int = 0


def after(quota: Quota, actions: Iterable[Action]) -> Quota:
    """The quota once the customer's actions newer than ``quota.seen`` are counted."""
    for action in sorted(actions, key=lambda a: a.id):
        if action.id <= quota.seen:
            continue
        end = action.at + action.allowance.window
        live = quota.until is not None and quota.until > action.at
        remaining = max(quota.remaining if live else 0, action.allowance.count)
        until = max(end, quota.until) if live and quota.until is not None else end
        quota = Quota(remaining=remaining, until=until, seen=action.id)
    return quota


def spend(quota: Quota, now: datetime) -> Quota | None:
    """The quota after one send, or None when none is left (or its time is up)."""
    if quota.remaining <= 0 or quota.until is None or now >= quota.until:
        return None
    return replace(quota, remaining=quota.remaining - 1)


def next_day(now: datetime, zone: ZoneInfo = PLATFORM_DAY) -> datetime:
    """The next midnight of the platform's day after ``now`` (aware), as an aware UTC-comparable time."""
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)


def take_daily(quota: Quota, now: datetime, *, limit: int, want: int) -> tuple[int, Quota]:
    """Up to ``want`` sends from the day's ``limit`` (a new day starts full): how many were
    granted, and what is left."""
    if quota.until is None or now >= quota.until:
        quota = Quota(remaining=limit, until=next_day(now))
    granted = max(0, min(want, quota.remaining))
    return granted, replace(quota, remaining=quota.remaining - granted)
