"""The console desk fixture shared by the console tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.services.ticket_helpers import Clock
from tests.bot.web.console.helpers import Desk, console_desk


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    d = await console_desk(tmp_path, Clock())
    try:
        yield d
    finally:
        await d.app.stop()
