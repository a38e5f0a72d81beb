"""A ticket in the console: the desk's work on it through the console's routes is audited and
reaches the customer; a move the lifecycle refuses comes back as an error."""

from __future__ import annotations

from sqlmodel import col, select

from storage.models import TicketEvent
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import file
from tests.bot.web.console.helpers import Desk, page_csrf, settle


async def test_ticket_work_from_the_console_is_audited_and_reaches_the_customer(desk: Desk) -> None:
    app = desk.app
    ticket, _ = await file(app, "u7")
    await settle(desk, "u7")
    async with desk.client("zhaoliu") as sup:
        csrf = await page_csrf(sup)
        changed = await sup.post(
            f"/console/tickets/{ticket.number}/classify",
            data={
                "csrf_token": csrf,
                "category": "product_quality",
                "category_l2": "漏水",
                "severity": "normal",
            },
        )
        assert changed.status_code == 303
        await sup.post(
            f"/console/tickets/{ticket.number}/status", data={"csrf_token": csrf, "status": "in_progress"}
        )
        await sup.post(
            f"/console/tickets/{ticket.number}/propose",
            data={"csrf_token": csrf, "solution": "为您更换新水壶"},
        )
        wrong = await sup.post(
            f"/console/tickets/{ticket.number}/status", data={"csrf_token": csrf, "status": "closed"}
        )
        assert wrong.status_code == 303 and "error=" in wrong.headers["location"]
    out = await app.console.pop("u7", 2)
    assert "为您更换新水壶" in joined(out)
    assert any(b.payload.endswith(":accept") for m in out for b in m.buttons)

    def audit(session: object) -> list[tuple[str, str]]:
        rows = session.exec(  # type: ignore[attr-defined]
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(col(TicketEvent.id))
        ).all()
        return [(r.action, r.actor) for r in rows]

    events = await app.db.run(audit)
    assert ("reclassified", "agent:zhaoliu") in events
    assert ("status", "agent:zhaoliu") in events
