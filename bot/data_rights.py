"""A customer's data rights: export everything held about them, or erase it.

Erasure removes the person and keeps the statistics: the customer row loses name, phone and
platform id; transcripts (with any reply still to send), conversations and attachment files go;
tickets stay with their kind, category, severity, department, status, dates and score, but lose
every text the customer or staff wrote about them, and their audit events keep who/what/when
without notes.
Each export and erasure is recorded in ``data_requests``.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, SQLModel, col, select

from storage.models import (
    Conversation,
    Customer,
    DataRequest,
    FollowUp,
    Message,
    Ticket,
    TicketEvent,
)

ERASED = "[erased]"
KEPT_EVENT_KEYS = frozenset(
    {"status", "severity", "assignee", "department", "category", "escalated_to", "to"}
)


class NoSuchCustomer(LookupError):
    pass


def _row(obj: SQLModel) -> dict[str, Any]:
    data = obj.model_dump()
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def find_customers(session: Session, query: str, *, limit: int = 50) -> list[Customer]:
    """By row id, platform id, phone or name (contains)."""
    query = query.strip()
    if not query:
        return []
    conditions = [
        col(Customer.external_id) == query,
        col(Customer.phone) == query,
        col(Customer.name).contains(query),
    ]
    if query.isdigit():
        conditions.append(col(Customer.id) == int(query))
    return list(
        session.exec(select(Customer).where(or_(*conditions)).order_by(col(Customer.id)).limit(limit))
    )


def _attachment_paths(items: list[dict[str, Any]], root: Path) -> list[Path]:
    """Files under the attachment folder only (a stored ref is never trusted to point elsewhere),
    each once: a message's file is often the ticket's too."""
    out: list[Path] = []
    base = root.resolve()
    for item in items:
        ref = str(item.get("ref") or "")
        if not ref:
            continue
        path = Path(ref).resolve()
        if path.is_relative_to(base) and path.is_file() and path not in out:
            out.append(path)
    return out


@dataclass
class Export:
    data: dict[str, Any]
    files: list[Path]

    def zip_bytes(self) -> bytes:
        """``data.json`` plus every attachment under ``files/``."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.json", json.dumps(self.data, ensure_ascii=False, indent=2, default=str))
            for index, path in enumerate(self.files):
                archive.write(path, f"files/{index:03d}-{path.name}")
        return buffer.getvalue()


def export(session: Session, customer_id: int, *, actor: str, now: datetime, files_root: Path) -> Export:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NoSuchCustomer(f"no customer {customer_id}")
    conversations = list(session.exec(select(Conversation).where(Conversation.customer_id == customer_id)))
    messages = list(
        session.exec(select(Message).where(Message.customer_id == customer_id).order_by(col(Message.id)))
    )
    tickets = list(
        session.exec(select(Ticket).where(Ticket.customer_id == customer_id).order_by(col(Ticket.id)))
    )
    ticket_ids = [t.id for t in tickets]
    events = (
        list(
            session.exec(
                select(TicketEvent)
                .where(col(TicketEvent.ticket_id).in_(ticket_ids))
                .order_by(col(TicketEvent.id))
            )
        )
        if ticket_ids
        else []
    )
    files = _attachment_paths(
        [a for m in messages for a in m.attachments] + [a for t in tickets for a in t.attachments], files_root
    )
    data = {
        "exported_at": now.isoformat(),
        "customer": _row(customer),
        "conversations": [_row(c) for c in conversations],
        "messages": [_row(m) for m in messages],
        "tickets": [_row(t) for t in tickets],
        "ticket_events": [_row(e) for e in events],
    }
    session.add(
        DataRequest(
            customer_id=customer_id,
            action="export",
            actor=actor,
            at=now,
            summary={"messages": len(messages), "tickets": len(tickets), "files": len(files)},
        )
    )
    return Export(data, files)


def erase(
    session: Session, customer_id: int, *, actor: str, now: datetime, files_root: Path
) -> tuple[dict[str, int], list[Path]]:
    """Erase the customer's personal data in this transaction; the files go after it commits
    (the caller deletes the returned paths), so a failure leaves everything as it was.
    Returns a count of what went and the attachment files to delete."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NoSuchCustomer(f"no customer {customer_id}")
    messages = list(session.exec(select(Message).where(Message.customer_id == customer_id)))
    tickets = list(session.exec(select(Ticket).where(Ticket.customer_id == customer_id)))
    paths = _attachment_paths(
        [a for m in messages for a in m.attachments] + [a for t in tickets for a in t.attachments], files_root
    )
    conversation_ids = list(
        session.exec(select(Conversation.id).where(Conversation.customer_id == customer_id))
    )
    for ticket in tickets:
        ticket.description = ERASED
        ticket.details = {}
        ticket.contact_name = None
        ticket.contact_phone = None
        ticket.references = []
        ticket.desired_outcome = None
        ticket.attachments = []
        ticket.solution = None
        ticket.satisfaction_comment = None
        ticket.conversation_id = None
        ticket.awaiting = None
        ticket.updated_at = now
        session.add(ticket)
        for event in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)):
            event.note = None
            event.before = {k: v for k, v in event.before.items() if k in KEPT_EVENT_KEYS}
            event.after = {k: v for k, v in event.after.items() if k in KEPT_EVENT_KEYS}
            session.add(event)
        session.add(TicketEvent(ticket_id=ticket.id or 0, at=now, actor=actor, action="customer_erased"))
        for follow_up in session.exec(
            select(FollowUp).where(FollowUp.ticket_id == ticket.id, FollowUp.status == "pending")
        ):
            if follow_up.kind in ("callback", "survey_reminder", "auto_close"):
                follow_up.status = "cancelled"
                follow_up.outcome = "customer erased"
                session.add(follow_up)
    session.execute(delete(Message).where(col(Message.customer_id) == customer_id))
    session.flush()
    if conversation_ids:
        session.execute(
            update(Ticket)
            .where(col(Ticket.conversation_id).in_(conversation_ids))
            .values(conversation_id=None)
        )
        session.execute(delete(Conversation).where(col(Conversation.id).in_(conversation_ids)))
    customer.name = None
    customer.phone = None
    customer.external_id = f"erased:{customer_id}"
    customer.erased_at = now
    customer.unreachable = True
    session.add(customer)
    summary = {
        "messages": len(messages),
        "tickets": len(tickets),
        "conversations": len(conversation_ids),
        "files": len(paths),
    }
    session.add(DataRequest(customer_id=customer_id, action="erase", actor=actor, at=now, summary=summary))
    return summary, paths


def delete_files(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
