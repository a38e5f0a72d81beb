"""The WeChat access_token shared through the database by several processes (here: several
Database objects and clients on one database), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from bot.channels.wechat_api import SharedTokenClient
from storage.db import Database
from storage.repositories import shared_tokens
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def databases(db_url: str) -> Iterator[list[Database]]:
    dbs = [Database(db_url) for _ in range(3)]
    try:
        yield dbs
    finally:
        for db in dbs:
            db.close()


def client(fake: FakeWeChat, db: Database, **kwargs: object) -> SharedTokenClient:
    return SharedTokenClient(wx.APP_ID, wx.SECRET, api_base_url=fake.base_url, db=db, **kwargs)  # type: ignore[arg-type]


def test_many_processes_asking_at_once_fetch_one_token(fake: FakeWeChat, databases: list[Database]) -> None:
    clients = [client(fake, databases[i % 3]) for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        tokens = list(pool.map(lambda c: c.access_token, clients))
    assert fake.token_fetches == 1
    assert len(set(tokens)) == 1 and tokens[0] == fake.current_token


def test_a_rejected_token_is_refreshed_once_for_everyone(fake: FakeWeChat, databases: list[Database]) -> None:
    a, b = client(fake, databases[0]), client(fake, databases[1])
    old = a.access_token
    fake.expire_token()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: c.refresh_if_current(old), [a, b]))
    assert fake.token_fetches == 2
    assert a.access_token == b.access_token == fake.current_token != old


def test_a_token_near_expiry_is_refreshed_before_it_runs_out(
    fake: FakeWeChat, databases: list[Database]
) -> None:
    first = client(fake, databases[0]).access_token
    later = client(fake, databases[1], now=lambda: datetime.now(UTC) + timedelta(seconds=7200 - 200))
    assert later.access_token != first
    assert fake.token_fetches == 2


def test_a_lease_left_by_a_dead_process_expires(fake: FakeWeChat, databases: list[Database]) -> None:
    now = datetime.now(UTC)
    name = f"wechat:{wx.APP_ID}"
    assert databases[0].run_sync(lambda s: shared_tokens.try_lease(s, name, now=now, seconds=15))
    # the holder died; another process sees the lease run out and takes over
    survivor = client(fake, databases[1], now=lambda: datetime.now(UTC) + timedelta(seconds=16))
    assert survivor.access_token == fake.current_token
    assert fake.token_fetches == 1


def test_a_process_reads_the_shared_token_again_only_near_its_refresh_or_when_rejected(
    fake: FakeWeChat, databases: list[Database]
) -> None:
    clock = {"now": datetime.now(UTC)}
    reads: list[str] = []
    event.listen(
        databases[0].engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: reads.append(statement) if "shared_tokens" in statement else None,
    )
    a = client(fake, databases[0], now=lambda: clock["now"])
    b = client(fake, databases[1], now=lambda: clock["now"])
    first = a.access_token
    asked = len(reads)
    for _ in range(50):  # every API call asks for the token twice (ours and wechatpy's)
        assert a.access_token == first
    assert len(reads) == asked  # not once more per call
    fake.expire_token()  # another process found it rejected and refreshed it early
    b.refresh_if_current(first)
    a.refresh_if_current(first)  # this process's next call was rejected: it reads the new one
    assert a.access_token == b.access_token == fake.current_token != first
    assert fake.token_fetches == 2
    clock["now"] += timedelta(seconds=7200 - 200)  # near the refresh margin: asks the table again
    asked = len(reads)
    assert a.access_token == fake.current_token
    assert len(reads) > asked and fake.token_fetches == 3
