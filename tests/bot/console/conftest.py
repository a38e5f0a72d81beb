"""The console desk fixture shared by the console tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.console.helpers import Desk, console_desk
from tests.bot.lifecycle.helpers import Clock


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    d = await console_desk(tmp_path, Clock())
    try:
        yield d
    finally:
        await d.app.stop()
