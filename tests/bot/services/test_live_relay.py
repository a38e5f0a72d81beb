"""Live console events across processes (PostgreSQL LISTEN/NOTIFY): a customer message taken by
one process reaches the console pages of another within a second, once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.app import TousuApp
from bot.services.live_relay import LiveRelay
from bot.web.console.context import Console
from bot.web.console.live import LiveHub
from storage.db import Database
from tests.conftest import make_settings
from tests.databases import empty_postgres

pytestmark = pytest.mark.postgres


async def _events(hub: LiveHub, into: list[dict[str, object]]) -> None:
    async for chunk in hub.stream():
        if chunk.startswith("data: "):
            into.append(json.loads(chunk[len("data: ") :]))


async def _until(check: Callable[[], object], timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError("not in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_an_event_on_one_hub_reaches_the_other_processes_hub_once(postgres_url: str) -> None:
    dbs = [Database(postgres_url, pool_size=2) for _ in range(2)]
    relays = [LiveRelay(db, origin=f"proc-{n}") for n, db in enumerate(dbs)]
    hubs = [LiveHub(), LiveHub()]
    seen: list[list[dict[str, object]]] = [[], []]
    for hub, relay in zip(hubs, relays, strict=True):
        hub.relay_through(relay)
        await relay.start()
    pages = [asyncio.create_task(_events(hub, into)) for hub, into in zip(hubs, seen, strict=True)]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.listening.wait() for r in relays)), 10)
        await asyncio.sleep(0.05)  # the pages subscribed
        hubs[0].publish("activity", id=12)
        took = await _until(lambda: seen[1], 1.0)
        await asyncio.sleep(0.3)
    finally:
        for page in pages:
            page.cancel()
        for relay in relays:
            await relay.stop()
        for db in dbs:
            db.close()
    assert seen[1] == [{"type": "activity", "id": 12}]
    assert seen[0] == [{"type": "activity", "id": 12}]  # its own page had it at once, not twice
    assert took < 1.0


async def test_a_burst_of_events_arrives_once_each_in_order_in_few_notifications(postgres_url: str) -> None:
    dbs = [Database(postgres_url, pool_size=2) for _ in range(2)]
    relays = [LiveRelay(db, origin=f"proc-{n}") for n, db in enumerate(dbs)]
    hubs = [LiveHub(), LiveHub()]
    seen: list[dict[str, object]] = []
    payloads: list[str] = []
    for hub, relay in zip(hubs, relays, strict=True):
        hub.relay_through(relay)
        await relay.start()
    deliver = relays[1]._deliver
    relays[1]._deliver = lambda payload: (payloads.append(payload), deliver(payload))[1]  # type: ignore[method-assign]
    page = asyncio.create_task(_events(hubs[1], seen))
    try:
        await asyncio.wait_for(asyncio.gather(*(r.listening.wait() for r in relays)), 10)
        await asyncio.sleep(0.05)
        for n in range(300):  # every turn publishes its conversation's activity
            hubs[0].publish("activity", id=n % 150)
        await _until(lambda: len(seen) >= 150, 2.0)
        await asyncio.sleep(0.3)
    finally:
        page.cancel()
        for relay in relays:
            await relay.stop()
        for db in dbs:
            db.close()
    assert seen == [{"type": "activity", "id": n} for n in range(150)]  # each once, in order
    assert len(payloads) <= 3  # not one notification per event


@pytest.fixture
async def apps(postgres_url: str, tmp_path: Path) -> AsyncIterator[list[tuple[TousuApp, Console]]]:
    empty_postgres(postgres_url)
    started: list[tuple[TousuApp, Console]] = []
    for name in ("one", "two"):
        app = TousuApp(make_settings(tmp_path / name, db_url=postgres_url), channels=[], use_nlu=False)
        await app.start()
        console = Console(app)  # as create_web_app wires it
        console.hub.relay_through(app.live)
        started.append((app, console))
    try:
        yield started
    finally:
        for app, _ in started:
            await app.stop()


async def test_a_console_page_on_one_process_sees_a_message_taken_by_another(
    apps: list[tuple[TousuApp, Console]],
) -> None:
    (one, page_console), (two, _) = apps
    await asyncio.wait_for(asyncio.gather(one.live.listening.wait(), two.live.listening.wait()), 10)
    seen: list[dict[str, object]] = []
    page = asyncio.create_task(_events(page_console.hub, seen))
    try:
        await asyncio.sleep(0.05)
        await two.console.say(two.manager, "live-customer", "你好")
        await _until(lambda: any(e.get("type") == "activity" for e in seen), 1.0)
    finally:
        page.cancel()
    assert all(isinstance(e.get("id"), int) for e in seen if e.get("type") == "activity")
