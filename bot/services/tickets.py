"""The async face of the desk: runs an operation in one database transaction on a worker thread,
then hands the customer messages to delivery and new follow-ups to the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from sqlmodel import Session

from bot.services import followups
from bot.services.delivery import Delivery
from bot.services.ticket_desk import LifecycleError, TicketDesk
from bot.services.work import Work
from storage.db import Database
from storage.models import Ticket
from storage.repositories import tickets as ticket_repo

T = TypeVar("T")


class TicketService:
    def __init__(
        self,
        *,
        db: Database,
        desk: TicketDesk,
        delivery: Delivery | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.desk = desk
        self.delivery = delivery
        self.clock = clock
        self.follow_up_listeners: list[Callable[[datetime], None]] = []
        """Told when the first of newly committed follow-ups is due."""

    async def run(self, operation: Callable[[Work], T]) -> T:
        def tx(session: Session) -> tuple[T, Work]:
            work = Work(session, self.clock())
            result = operation(work)
            session.flush()
            return result, work

        result, work = await self.db.run(tx)
        self.after_commit(work)
        return result

    def after_commit(self, work: Work) -> None:
        if self.delivery is not None and work.outbox:
            self.delivery.enqueue(work.outbox)
        if work.follow_ups and work.soonest_follow_up is not None:
            for listener in self.follow_up_listeners:
                listener(work.soonest_follow_up)

    async def on_ticket(self, number: str, operation: Callable[[Work, Ticket], T]) -> T:
        """Run ``operation`` on the ticket with this number (LifecycleError when there is none)."""

        def with_ticket(work: Work) -> T:
            ticket = ticket_repo.by_number(work.session, number=number)
            if ticket is None:
                raise LifecycleError(f"no ticket {number}")
            return operation(work, ticket)

        return await self.run(with_ticket)

    async def fire(self, follow_up_id: int) -> str:
        return await self.run(lambda work: followups.fire(self.desk, work, follow_up_id))

    async def fire_due(self, *, limit: int = 500) -> list[str]:
        """Fire everything due now, one transaction each (the sweep, and tests with a clock),
        including what firing made due: a warning writes its breach follow-up, due already when
        the deadline passed too. At most ``limit`` follow-ups per call."""
        outcomes: list[str] = []
        while len(outcomes) < limit:
            ids = await self.run(partial(_due_now, limit=limit - len(outcomes)))
            if not ids:
                break
            outcomes += [await self.fire(i) for i in ids]
        return outcomes


def _due_now(work: Work, *, limit: int) -> list[int]:
    return followups.due_ids(work, work.now, limit=limit)
