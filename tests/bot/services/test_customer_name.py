"""The name a customer writes after their phone number is how staff see them: on the ticket and
as the customer's name (the console shows it instead of a random id)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import TousuApp
from storage.models import Customer, Ticket
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import Clock, desk_app, script


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[TousuApp]:
    tousu = await desk_app(tmp_path, Clock())
    try:
        yield tousu
    finally:
        await tousu.stop()


async def test_the_name_given_with_the_phone_reaches_the_ticket_and_the_customer(app: TousuApp) -> None:
    steps = script("我买的电热水壶用了两天就漏水了", where="北京朝阳门店", product="电热水壶", staff="无")
    steps[-1] = ("13800138000 王女士", "称呼：王女士")  # the summary shows it back
    for text, expected in steps:
        assert expected in joined(await app.console.say(app.manager, "u1", text))
    await app.console.say(app.manager, "u1", "1")
    ticket = await app.db.run(lambda s: s.exec(select(Ticket)).one())
    customer = await app.db.run(lambda s: s.exec(select(Customer).where(Customer.external_id == "u1")).one())
    assert ticket.contact_name == "王女士" and ticket.contact_phone == "13800138000"
    assert customer.name == "王女士"
    assert "contact_name" not in ticket.details


async def test_no_name_keeps_what_the_channel_knew(app: TousuApp) -> None:
    steps = script("我买的电热水壶用了两天就漏水了", where="北京朝阳门店", product="电热水壶", staff="无")
    for text, expected in steps:
        assert expected in joined(await app.console.say(app.manager, "u2", text))
    await app.console.say(app.manager, "u2", "1")
    ticket = await app.db.run(lambda s: s.exec(select(Ticket)).one())
    assert ticket.contact_name is None
