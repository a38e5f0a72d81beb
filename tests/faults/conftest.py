"""The fake WeChat API every fault test drives the bot against (real HTTP on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.wechat_api import FakeWeChat


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    try:
        yield server
    finally:
        server.stop()
