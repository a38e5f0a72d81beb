"""The real app with a WeChat channel in plain mode, pointed at a fake WeChat API, on a database of
either backend (the in-process fault tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.settings import Settings
from storage import migrate
from tests.conftest import make_settings
from tests.databases import empty_postgres, sqlite_url
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat


def database(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> str:
    """A migrated, empty database on ``backend``."""
    if backend == "sqlite":
        url = sqlite_url(tmp_path)
        migrate.upgrade(url)
        return url
    url = str(request.getfixturevalue("postgres_url"))
    empty_postgres(url)
    return url


def wechat_settings(tmp_path: Path, fake: FakeWeChat, db_url: str, **wechat: Any) -> Settings:
    values: dict[str, Any] = {
        "app_id": wx.APP_ID,
        "app_secret": SecretStr(wx.SECRET),
        "token": SecretStr(wx.TOKEN),
        "encoding_aes_key": None,  # plain mode: the bodies below are WeChat's plain XML
        "api_base_url": fake.base_url,
        "templates": {"status_update": "TPL-1"},
        **wechat,
    }
    return make_settings(tmp_path, db_url=db_url, wechat=values, outbox={"backoff_base_seconds": 0.05})
