"""Turning a finished intake (the engine's CreateTicket effect) into a stored ticket."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import PydanticUndefined
from sqlalchemy import bindparam, insert, inspect, update
from sqlalchemy.orm import make_transient, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, instance_state
from sqlmodel import Session

from dialogues.state import CreateTicket
from dialogues.types import Language
from storage.models import Customer, Ticket
from storage.prepared import Prepared
from storage.repositories import tickets as ticket_repo
from storage.repositories.transcript import CustomerProfile

_CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
_TICKETS = Ticket.__table__  # type: ignore[attr-defined]
_TICKET_COLUMNS = tuple(column.key for column in _TICKETS.columns if column.key != "id")
_TICKET_COLUMN_SET = frozenset(_TICKET_COLUMNS)
_TICKET_FIELDS = tuple((name, Ticket.model_fields[name]) for name in _TICKET_COLUMNS)
_TICKET_MAPPER = inspect(Ticket)
_TICKET_INSERT = Prepared(insert(_TICKETS).returning(_TICKETS.c.id))
_TICKET_UPDATE = Prepared(update(_TICKETS).where(_TICKETS.c.id == bindparam("k_id")))  # SET: the keys given
_SET_PHONE = Prepared(
    update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("k_id")).values(phone=bindparam("k_phone"))
)

# When the customer will hear back, by kind (DOMAIN.md: acknowledge within 24 h; consultations
# are answered within 1-2 working days). The lifecycle's SLA clocks refine this.
FIRST_REPLY_HOURS: dict[str, int] = {
    "complaint": 24,
    "consultation": 48,
    "suggestion": 72,
    "grievance": 24,
}

_COLUMN_FIELDS = {
    "description",
    "category",
    "category_source",
    "nlu_confidence",
    "desired_outcome",
    "phone",
    "evidence",
    "references",
    "language",
}
_REFERENCE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{0,4}\d[\dA-Za-z-]{7,31}(?![A-Za-z0-9])")
"""Bounded quantifiers only: a lookahead scanning to the end of the run made 5 000 dashes
quadratic."""

SeverityFn = Callable[[str, dict[str, Any]], tuple[str, list[dict[str, str]]]]
"""(description, fields) -> (severity, reasons); the rules live with the NLU package."""


def no_severity(_text: str, _fields: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    return "normal", []


@dataclass(frozen=True, slots=True)
class CreatedTicket:
    ticket: Ticket
    reply_by: datetime
    phone_on_file: str | None
    """The customer's number after this intake (the one given now, else the one kept)."""


def extract_references(text: str) -> list[str]:
    """Order/reference numbers quoted in free text (letters optional, 8+ characters, a digit)."""
    seen: list[str] = []
    for match in _REFERENCE.finditer(text):
        value = match.group(0)
        if value not in seen and not re.fullmatch(r"\+?1[3-9]\d{9}", value):
            seen.append(value)
    return seen


def create_ticket(
    session: Session,
    *,
    effect: CreateTicket,
    customer: CustomerProfile,
    conversation_id: int | None,
    channel: str,
    now: datetime,
    tz: ZoneInfo,
    severity: SeverityFn = no_severity,
) -> CreatedTicket:
    """Insert the ticket, its number and its first audit event in the caller's transaction;
    a phone number given in the intake becomes the customer's number on file."""
    fields = dict(effect.fields)
    description = str(fields.get("description") or "")
    evidence = fields.get("evidence") or []
    references = list(fields.get("references") or []) or extract_references(description)
    level, reasons = severity(description, fields)
    phone = fields.get("phone")
    ticket = _store_new(
        session,
        number=ticket_repo.next_number(session, local_day=now.astimezone(tz).date()),
        kind=effect.kind,
        severity=level,
        severity_reasons=reasons,
        category=_str_or_none(fields.get("category")),
        category_source=_str_or_none(fields.get("category_source")),
        nlu_confidence=_float_or_none(fields.get("nlu_confidence")),
        description=description,
        details={k: v for k, v in fields.items() if k not in _COLUMN_FIELDS},
        contact_name=customer.name,
        contact_phone=_str_or_none(phone),
        references=references,
        desired_outcome=_str_or_none(fields.get("desired_outcome")),
        attachments=list(evidence) if isinstance(evidence, list) else [],
        channel=channel,
        language=str(fields.get("language") or customer.language),
        customer_id=customer.id,
        conversation_id=conversation_id,
        created_at=now,
        updated_at=now,
    )
    assert ticket.id is not None
    ticket_repo.add_event(
        session,
        ticket_id=ticket.id,
        actor="customer",
        action="created",
        after={"status": ticket.status, "severity": ticket.severity, "category": ticket.category},
        note="; ".join(r.get("reason", "") for r in reasons) or None,
        at=now,
    )
    phone_on_file = customer.phone
    if isinstance(phone, str) and phone:
        if phone != customer.phone:
            _SET_PHONE.execute(session.connection(), {"k_id": customer.id, "k_phone": phone})
        phone_on_file = phone
    return CreatedTicket(
        ticket=ticket,
        reply_by=now + timedelta(hours=FIRST_REPLY_HOURS.get(effect.kind, 24)),
        phone_on_file=phone_on_file,
    )


def _store_new(session: Session, **given: Any) -> Ticket:
    """Insert a new ticket as a prepared statement and hand it to the session as a stored row,
    so the desk's changes to it in this transaction are one UPDATE (``write_changes``).

    The object is made the way the ORM makes one for a loaded row (an instance from the class
    manager, values in its dict) instead of by ``Ticket(...)``: SQLModel's constructor, which
    does not validate table models either, took ~240 us in a warm timed loop and 0.35-0.43 ms
    inside a ticket turn, against ~5 us. The ORM's insert itself was ~2 % of a turn's
    instructions (3.147 -> 3.081 M, bench/turn_instructions.py). Columns not given take the
    model's defaults; none relies on a server default."""
    values: dict[str, Any] = {}
    for name, field in _TICKET_FIELDS:
        value = given[name] if name in given else field.get_default(call_default_factory=True)
        if value is PydanticUndefined:
            raise TypeError(f"a new ticket needs {name}")
        values[name] = value
    [ticket_id] = _TICKET_INSERT.execute(session.connection(), values).fetchone()
    _TICKET_MAPPER.registry.configure()  # as the constructor would; once, unless models were added
    ticket: Ticket = _TICKET_MAPPER.class_manager.new_instance()
    instance_dict(ticket).update(values, id=int(ticket_id))
    _attach_as_stored(session, ticket)
    return ticket


def write_changes(session: Session, ticket: Ticket) -> None:
    """Write the columns changed on a stored ticket since it was stored or loaded (the desk's
    routing of a new one) as one prepared UPDATE, and leave it in the session as stored, so
    the session's next flush has nothing to do for it. ``Session.commit`` flushing it through
    the ORM's unit of work took 0.7-1.0 ms of a 5-7 ms ticket turn; this and the commit now
    take ~0.3 ms (timers around both in sequential intakes, bench/RESULTS.md)."""
    state = instance_state(ticket)
    assert ticket.id is not None and state.persistent
    changed = sorted(state.committed_state)
    if not changed or not _TICKET_COLUMN_SET.issuperset(changed):
        return  # nothing to write, or something only the ORM's flush knows how to
    values = {key: state.dict[key] for key in changed}
    _TICKET_UPDATE.execute(session.connection(), {**values, "k_id": ticket.id})
    session.expunge(ticket)
    make_transient(ticket)  # keeps the values; the next call takes them all as stored
    _attach_as_stored(session, ticket)


def _attach_as_stored(session: Session, ticket: Ticket) -> None:
    make_transient_to_detached(ticket)  # as if just loaded: no pending changes
    session.add(ticket)


def format_local(moment: datetime, tz: ZoneInfo, language: Language) -> str:
    local = moment.astimezone(tz)
    if language == "zh":
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local:%b} {local.day}, {local:%H:%M}"


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
