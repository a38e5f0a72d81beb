"""Staff notifications with several processes on one database, on SQLite and PostgreSQL: each
row is claimed by one process before it is sent, so two senders at once never send one twice
(counted on a real SMTP server on loopback); a live claim is left to its holder, a claim that
ran out is taken over; a failed send frees its row for a retry after the backoff; two
processes fanning out the same alerts at once queue each notification once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.domain.catalog import Catalog
from bot.services import notifications
from bot.services.notifications import CLAIM_SECONDS, Notifier, NotifyError
from bot.settings import Settings
from storage.db import Database
from storage.models import Staff, StaffAlert, StaffNotification
from tests.bot.services.loopback_smtp import Inbox, smtp_server
from tests.bot.services.ticket_helpers import Clock
from tests.conftest import make_settings


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' connections to one database."""
    first, second = Database(db_url, pool_size=4), Database(db_url, pool_size=4)
    yield first, second
    first.close()
    second.close()


def _settings(tmp_path: Path, db_url: str, port: int = 25) -> Settings:
    settings = make_settings(tmp_path, db_url=db_url)
    conf = settings.notifications.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    return settings.model_copy(update={"notifications": conf})


def _queue(db: Database, clock: Clock, addresses: list[str], **values: object) -> None:
    def add(session: Session) -> None:
        for address in addresses:
            session.add(
                StaffNotification(
                    username="lisi",
                    channel="email",
                    address=address,
                    kind="assigned",
                    subject=f"to {address}",
                    text=f"news for {address}",
                    next_attempt_at=clock(),
                    created_at=clock(),
                    **values,
                )
            )

    db.run_sync(add)


def _rows(db: Database) -> list[StaffNotification]:
    return list(db.run_sync(lambda s: s.exec(select(StaffNotification).order_by(StaffNotification.id)).all()))


async def test_two_senders_at_once_send_every_row_exactly_once(
    two: tuple[Database, Database], tmp_path: Path, db_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    first, second = two
    clock = Clock()
    settings = _settings(tmp_path, db_url, port)
    addresses = [f"p{n}@example.com" for n in range(24)]
    _queue(first, clock, addresses)
    senders = [
        Notifier(db=db, settings=settings, clock=clock, holder=name, claim_limit=4)
        for db, name in ((first, "one"), (second, "two"))
    ]
    by: Counter[str] = Counter()

    def counting(notifier: Notifier) -> None:
        real = notifier.transports["email"]

        async def send(address: str, subject: str, text: str) -> None:
            by[notifier.holder] += 1
            await real(address, subject, text)

        notifier.transports["email"] = send

    for notifier in senders:
        counting(notifier)

    async def drain(notifier: Notifier) -> None:
        for _ in range(20):
            if not await notifier.send_due():
                return

    await asyncio.gather(*(drain(n) for n in senders))
    received = Counter(m["To"] for m in inbox.messages)
    assert received == Counter(addresses)  # each address got its message, none twice
    assert by["one"] > 0 and by["two"] > 0  # both processes did a share
    rows = _rows(first)
    assert all(r.status == "sent" and r.attempts == 1 and r.claimed_by is None for r in rows)


async def test_a_live_claim_is_left_to_its_holder_and_one_run_out_is_taken_over(
    two: tuple[Database, Database], tmp_path: Path, db_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    first, _ = two
    clock = Clock()
    settings = _settings(tmp_path, db_url, port)
    _queue(
        first, clock, ["held@example.com"], claimed_by="gone", claimed_until=clock() + timedelta(seconds=60)
    )
    notifier = Notifier(db=first, settings=settings, clock=clock, holder="here")
    assert await notifier.send_due() == 0
    assert inbox.messages == []
    [row] = _rows(first)
    assert row.status == "pending" and row.claimed_by == "gone"
    clock.advance(seconds=61)  # the holder died: its claim ran out
    assert await notifier.send_due() == 1
    assert [m["To"] for m in inbox.messages] == ["held@example.com"]
    [row] = _rows(first)
    assert row.status == "sent" and row.claimed_by is None


async def test_a_failed_send_frees_its_row_and_another_process_retries_it_after_the_backoff(
    two: tuple[Database, Database], tmp_path: Path, db_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    first, second = two
    clock = Clock()
    settings = _settings(tmp_path, db_url, port)
    _queue(first, clock, ["retry@example.com"])

    async def down(address: str, subject: str, text: str) -> None:
        raise NotifyError("connection refused")

    failing = Notifier(db=first, settings=settings, clock=clock, holder="one", transports={"email": down})
    assert await failing.send_due() == 0
    [row] = _rows(first)
    base = settings.outbox.backoff_base_seconds
    assert row.status == "pending" and row.attempts == 1 and row.claimed_by is None
    assert row.next_attempt_at == clock() + timedelta(seconds=base)
    other = Notifier(db=second, settings=settings, clock=clock, holder="two")
    assert await other.send_due() == 0  # not due yet
    clock.advance(seconds=base)
    assert await other.send_due() == 1
    assert [m["To"] for m in inbox.messages] == ["retry@example.com"]
    [row] = _rows(first)
    assert row.status == "sent" and row.attempts == 2


async def test_a_send_that_outlives_its_claim_stops_and_leaves_the_rest_to_the_next_round(
    two: tuple[Database, Database], tmp_path: Path, db_url: str
) -> None:
    first, _ = two
    clock = Clock()
    settings = _settings(tmp_path, db_url)
    _queue(first, clock, ["a@x.cn", "b@x.cn", "c@x.cn"])
    sent: list[str] = []
    ticks = iter([0.0, 1.0, CLAIM_SECONDS])  # claimed at 0; the second send starts after 2/3

    async def record(address: str, subject: str, text: str) -> None:
        sent.append(address)

    notifier = Notifier(db=first, settings=settings, clock=clock, holder="slow", transports={"email": record})
    notifier.monotonic = lambda: next(ticks, CLAIM_SECONDS)
    assert await notifier.send_due() == 1
    assert sent == ["a@x.cn"]
    rows = _rows(first)
    assert [(r.status, r.claimed_by) for r in rows] == [("sent", None), ("pending", None), ("pending", None)]


async def test_two_processes_fanning_out_at_once_queue_each_notification_once(
    two: tuple[Database, Database], tmp_path: Path, db_url: str
) -> None:
    first, second = two
    clock = Clock()
    settings = _settings(tmp_path, db_url)
    texts = Catalog.load()

    def seed(session: Session) -> None:
        session.add(
            Staff(username="lisi", display_name="李四", notify=["console", "email"], email="lisi@example.com")
        )
        for n in range(30):
            session.add(StaffAlert(username="lisi", kind="assigned", text=f"工单 {n}", created_at=clock()))

    first.run_sync(seed)
    prepared = await asyncio.gather(
        *(
            db.run(lambda s: notifications.prepare(s, texts=texts, settings=settings, now=clock()))
            for db in (first, second, first, second)
        )
    )
    assert sum(prepared) == 30
    rows = _rows(first)
    assert sorted(r.text for r in rows) == sorted(f"工单 {n}" for n in range(30))
