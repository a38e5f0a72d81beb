"""Asked how their ticket is doing, the customer reads its status, who has it and when they will
hear from us next, and not the whole greeting menu again under it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import TousuApp
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import Clock, desk_app, file


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[TousuApp]:
    tousu = await desk_app(tmp_path, Clock())
    try:
        yield tousu
    finally:
        await tousu.stop()


async def test_progress_names_the_status_the_handler_and_the_next_deadline(app: TousuApp) -> None:
    ticket, _closing = await file(app, "u1")
    replies = await app.console.say(app.manager, "u1", "进度")
    assert len(replies) == 1
    text = joined(replies)
    assert f"· {ticket.number}（投诉，11月23日 10:00 提交）：已确认" in text
    assert "负责人：质量管理部 李四" in text
    assert "我们会在 11月25日 10:00 前给您答复" in text
    assert "请回复数字选择服务" not in text and not replies[0].buttons
    # the menu still waits behind the answer: 1 starts a complaint
    assert "请描述" in joined(await app.console.say(app.manager, "u1", "1"))


async def test_progress_in_english_and_a_cancelled_ticket_has_no_deadline(app: TousuApp) -> None:
    ticket, _closing = await file(app, "u2")
    await app.console.say(app.manager, "u2", "English please")
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.cancel(w, t, actor="agent:lisi"))
    await app.console.pop("u2", 1)
    text = joined(await app.console.say(app.manager, "u2", "check my ticket"))
    assert f"· {ticket.number} (complaint, filed Nov 23, 10:00): cancelled" in text
    assert "Looked after" not in text and "hear from us" not in text
