"""After confirming, the customer reads one acknowledgement (number, department, handler where
known, when they will hear back), not the flow's receipt followed by the desk's near-copy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import TousuApp
from storage.models import Ticket
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import Clock, desk_app, script


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[TousuApp]:
    tousu = await desk_app(tmp_path, Clock())
    try:
        yield tousu
    finally:
        await tousu.stop()


async def _say(app: TousuApp, user: str, text: str) -> list[object]:
    return list(await app.console.say(app.manager, user, text))


async def _last_ticket(app: TousuApp) -> Ticket:
    ticket = await app.db.run(lambda s: s.exec(select(Ticket).order_by(col(Ticket.id).desc())).first())
    assert ticket is not None
    return ticket


async def test_a_complaint_with_a_handler_is_acknowledged_once(app: TousuApp) -> None:
    steps = script("我买的电热水壶用了两天就漏水了", where="北京朝阳门店", product="电热水壶", staff="无")
    for text, expected in steps:
        assert expected in joined(await _say(app, "u1", text))
    closing = await _say(app, "u1", "1")
    ticket = await _last_ticket(app)
    assert len(closing) == 1, joined(closing)
    text = joined(closing)
    assert text.count(ticket.number) == 1
    assert "投诉已受理" in text and "质量管理部" in text and "李四" in text
    assert "11月25日 10:00" in text  # when they will hear back
    assert "{" not in text


async def test_a_complaint_nobody_can_take_yet_names_the_department_once(app: TousuApp) -> None:
    steps = script("快递员把包裹扔在楼下，东西都摔坏了", where="小区门口", product="快递", staff="无")
    steps[2] = ("3", "什么时候")  # 物流配送: a department without handlers in the directory
    for text, expected in steps:
        assert expected in joined(await _say(app, "u2", text))
    closing = await _say(app, "u2", "1")
    ticket = await _last_ticket(app)
    assert ticket.category == "delivery" and ticket.assignee is None
    assert len(closing) == 1, joined(closing)
    text = joined(closing)
    assert text.count(ticket.number) == 1 and "物流部" in text and "投诉已受理" in text


async def test_an_english_question_is_acknowledged_once_as_a_question(app: TousuApp) -> None:
    assert "English" in joined(await _say(app, "u3", "English"))
    await _say(app, "u3", "2")
    assert "phone" in joined(await _say(app, "u3", "What are your opening hours on Sundays?"))
    closing = await _say(app, "u3", "13800138000")
    ticket = await _last_ticket(app)
    assert ticket.kind == "consultation"
    assert len(closing) == 1, joined(closing)
    text = joined(closing)
    assert text.startswith("We have your question as " + ticket.number) and "will answer you by" in text
