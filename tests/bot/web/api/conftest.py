"""The API desk fixture shared by the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.services.ticket_helpers import Clock
from tests.bot.web.api.helpers import ApiDesk, api_desk


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[ApiDesk]:
    d = await api_desk(tmp_path, Clock())
    try:
        yield d
    finally:
        await d.app.stop()
