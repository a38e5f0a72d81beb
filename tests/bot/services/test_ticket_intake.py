"""A finished intake becomes a stored ticket on both backends: every collected field reads back
from a fresh session, and changes made to the returned ticket in the same transaction (the
desk's routing) are saved by the ORM's flush as an update of that row."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlmodel import Session, col, select

from bot.services.ticket_intake import CreatedTicket, create_ticket
from dialogues.state import CreateTicket
from storage.db import make_unpooled_engine
from storage.models import Customer, Ticket, TicketEvent
from storage.repositories import transcript

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # 01:30 on the 24th in Shanghai
FIELDS = {
    "description": "电热水壶用了两天就漏水 💧，订单号 A20261120001",
    "category": "product_quality",
    "category_source": "nlu",
    "nlu_confidence": 0.91,
    "desired_outcome": "退货",
    "phone": "13800138000",
    "evidence": [{"kind": "image", "name": "壶.jpg"}],
    "where": "北京朝阳门店",
    "language": "zh",
}


def _create(session: Session) -> CreatedTicket:
    conn = session.connection()
    customer_id = transcript.customer_id(
        conn, channel="console", external_id="u1", language="zh", name="王女士", now=NOW
    )
    profile = transcript.customer_by_id(conn, customer_id)
    assert profile is not None
    return create_ticket(
        session,
        effect=CreateTicket(kind="complaint", fields=dict(FIELDS)),
        customer=profile,
        conversation_id=None,
        channel="console",
        now=NOW,
        tz=SHANGHAI,
    )


def test_a_new_ticket_reads_back_and_takes_later_changes_as_an_update(db_url: str) -> None:
    engine = make_unpooled_engine(db_url)
    statements: list[str] = []
    try:
        with Session(engine) as session:
            ticket = _create(session).ticket
            customer_id = ticket.customer_id
            made = ticket.model_dump()  # every column set, as on a row read back
            ticket.assignee = "lisi"  # as the desk does in the same transaction
            ticket.status = "acknowledged"
            ticket.severity_reasons = [{"rule": "repeat_complaint", "reason": "3 位顾客"}]
            ticket.recused = ["zhangsan"]
            session.add(ticket)
            event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
            session.commit()
        with Session(engine) as session:
            [stored] = session.exec(select(Ticket)).all()
            events = session.exec(select(TicketEvent).order_by(col(TicketEvent.id))).all()
            customer = session.get(Customer, customer_id)
        assert stored.number == "2611240001"  # the local day, first of the day
        assert (stored.kind, stored.status, stored.assignee) == ("complaint", "acknowledged", "lisi")
        assert stored.description == FIELDS["description"] and stored.references == ["A20261120001"]
        assert (stored.category, stored.category_source, stored.nlu_confidence) == (
            "product_quality",
            "nlu",
            0.91,
        )
        assert (stored.contact_name, stored.contact_phone, stored.desired_outcome) == (
            "王女士",
            "13800138000",
            "退货",
        )
        assert stored.attachments == FIELDS["evidence"] and stored.details == {"where": "北京朝阳门店"}
        assert (stored.customer_id, stored.channel, stored.language) == (customer_id, "console", "zh")
        assert stored.created_at == NOW and stored.updated_at == NOW
        assert stored.severity_reasons == [{"rule": "repeat_complaint", "reason": "3 位顾客"}]
        assert stored.recused == ["zhangsan"]
        assert [(e.ticket_id, e.action) for e in events] == [(stored.id, "created")]
        changes = [sql for sql in statements if sql.lstrip().upper().startswith(("INSERT", "UPDATE"))]
        assert len(changes) == 1 and changes[0].lstrip().upper().startswith("UPDATE TICKETS")
        assert customer is not None and customer.phone == "13800138000"
        assert made == {
            **stored.model_dump(),
            "assignee": None,
            "status": "new",
            "severity_reasons": [],
            "recused": [],
        }
    finally:
        engine.dispose()
