"""WeChat's quotas, held across every process on the database (rules: bot/domain/send_quotas.py).

Before a customer-service message goes out, ``take`` spends one unit of the customer's allowance
(5 in the 48 hours after their last message, 3 in the minute after a menu click, follow or
scan) and one of the day's API quota, in one transaction on shared rows, under their row locks:
two processes sending to one customer, or to many, never spend the same unit. The day's quota is
taken from the shared row in blocks (``block`` sends at a time), so the one row every send would
otherwise lock is locked once per block; a process that dies forfeits at most one block.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from bot.domain import send_quotas as rules
from storage.db import Database
from storage.models import SendQuota
from storage.repositories import send_quotas
from storage.types import utcnow

DAY_QUOTA = "wechat:day:message/custom/send"


def customer_quota(user_id: str) -> str:
    return f"wechat:customer:{user_id}"[:200]


class Verdict(StrEnum):
    SEND = "send"
    NO_ALLOWANCE = "no_allowance"  # the customer's window closed or its count is spent
    DAY_SPENT = "day_spent"  # the account's customer-service messages for today are spent


@dataclass(frozen=True, slots=True)
class Permit:
    verdict: Verdict
    retry_after: float = 0.0  # DAY_SPENT: seconds until the platform's next day


@dataclass(slots=True)
class _Block:
    left: int = 0
    until: datetime | None = None


class WeChatQuotas:
    def __init__(
        self,
        db: Database,
        *,
        daily_limit: int,
        is_event: Callable[[str | None], bool],
        block: int = 20,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.daily_limit = daily_limit
        self.is_event = is_event
        self.block_size = max(1, min(block, daily_limit))
        self.clock = clock
        self._block = _Block()
        self._lock = asyncio.Lock()  # one block refill at a time in this process

    async def take(self, user_id: str) -> Permit:
        """Spend one customer-service message to ``user_id``, or say why not."""
        now = self.clock()
        own = self._take_local(now)
        if own:
            permit, _ = await self.db.run(lambda s: self._spend(s, user_id, now, want=0))
            if permit.verdict is not Verdict.SEND:
                self._block.left += 1  # not used: keep it for the next send
            return permit
        async with self._lock:  # another send may have refilled the block meanwhile
            if self._take_local(now):
                permit, _ = await self.db.run(lambda s: self._spend(s, user_id, now, want=0))
                if permit.verdict is not Verdict.SEND:
                    self._block.left += 1
                return permit
            permit, (granted, until) = await self.db.run(
                lambda s: self._spend(s, user_id, now, want=self.block_size)
            )
            if granted:
                self._block = _Block(left=granted - 1, until=until)  # one of them is this send's
            return permit

    async def give_back(self, user_id: str) -> None:
        """The platform refused the message (busy, a quota it counts itself): the customer's unit
        is theirs again (the call still counted against the day's quota)."""
        await self.db.run(lambda s: self._give_back(s, user_id))

    async def used_up(self, user_id: str) -> None:
        """WeChat said the customer's window is closed (45015) or its count spent (45047): nothing
        is left until they write again, whatever the counter thought."""
        now = self.clock()

        def run(session: Session) -> None:
            row = send_quotas.locked(session, customer_quota(user_id))
            seen = self._counted(session, user_id, row)
            send_quotas.save(session, row, remaining=0, until=now, seen=seen.seen)

        await self.db.run(run)

    # ---------------------------------------------------------------------- in a transaction
    def _take_local(self, now: datetime) -> bool:
        block = self._block
        if block.left > 0 and block.until is not None and now < block.until:
            block.left -= 1
            return True
        return False

    def _counted(self, session: Session, user_id: str, row: SendQuota) -> rules.Quota:
        quota = rules.Quota(remaining=row.remaining, until=row.until, seen=row.seen)
        actions = [
            rules.Action(
                id=i.id,
                at=i.at,
                allowance=rules.AFTER_EVENT if self.is_event(i.channel_message_id) else rules.AFTER_MESSAGE,
            )
            for i in send_quotas.inbound_after(session, channel="wechat", user_id=user_id, after=row.seen)
        ]
        return rules.after(quota, actions)

    def _spend(
        self, session: Session, user_id: str, now: datetime, *, want: int
    ) -> tuple[Permit, tuple[int, datetime | None]]:
        row = send_quotas.locked(session, customer_quota(user_id))
        quota = self._counted(session, user_id, row)
        spent = rules.spend(quota, now)
        if spent is None:
            send_quotas.save(session, row, remaining=quota.remaining, until=quota.until, seen=quota.seen)
            return Permit(Verdict.NO_ALLOWANCE), (0, None)
        granted, until = 0, None
        if want:
            day = send_quotas.locked(session, DAY_QUOTA)
            granted, left = rules.take_daily(
                rules.Quota(remaining=day.remaining, until=day.until),
                now,
                limit=self.daily_limit,
                want=want,
            )
            send_quotas.save(session, day, remaining=left.remaining, until=left.until, seen=0)
            until = left.until
            if not granted:
                send_quotas.save(session, row, remaining=quota.remaining, until=quota.until, seen=quota.seen)
                assert until is not None
                wait = max(1.0, (until - now).total_seconds())
                return Permit(Verdict.DAY_SPENT, retry_after=wait), (0, until)
        send_quotas.save(session, row, remaining=spent.remaining, until=spent.until, seen=spent.seen)
        return Permit(Verdict.SEND), (granted, until)

    def _give_back(self, session: Session, user_id: str) -> None:
        row = send_quotas.locked(session, customer_quota(user_id))
        if row.until is not None and row.until > self.clock():
            cap = max(rules.AFTER_MESSAGE.count, rules.AFTER_EVENT.count)
            remaining = min(cap, row.remaining + 1)
            send_quotas.save(session, row, remaining=remaining, until=row.until, seen=row.seen)
