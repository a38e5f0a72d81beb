"""Every later message (status updates, proposals, surveys) is in the language the customer
chose last, not the one the ticket was filed in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import TousuApp
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import Clock, desk_app, file, inbox


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[TousuApp]:
    tousu = await desk_app(tmp_path, Clock())
    try:
        yield tousu
    finally:
        await tousu.stop()


async def test_a_customer_who_switched_to_english_hears_of_their_ticket_in_english(app: TousuApp) -> None:
    ticket, _closing = await file(app, "u1")
    assert "Switched to English" in joined(await app.console.say(app.manager, "u1", "English"))
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))
    update = await inbox(app, "u1")
    assert update.startswith(f"An update on ticket {ticket.number}: in progress"), update
    assert "您的工单" not in update
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: app.desk.propose(w, t, "A new kettle", actor="agent:lisi")
    )
    proposal = (await app.console.pop("u1", 1))[0]
    assert proposal.text.endswith("Is this all right for you?"), proposal.text
    assert [b.label for b in proposal.buttons] == ["Accept", "Not satisfied"]
