"""Turning a finished intake (the engine's CreateTicket effect) into a stored ticket."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlmodel import Session

from bot.domain.severity import parse_rules
from bot.domain.sla import MAJOR_KINDS
from bot.settings import ConfigError
from dialogues.state import CreateTicket
from dialogues.types import Language
from storage.models import Ticket
from storage.repositories import customers as customer_repo
from storage.repositories import tickets as ticket_repo
from storage.repositories.transcript import CustomerProfile

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
    "contact_name",
    "evidence",
    "references",
    "language",
}
_REFERENCE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{0,4}\d[\dA-Za-z-]{7,31}(?![A-Za-z0-9])")
"""Bounded quantifiers only: a lookahead scanning to the end of the run made 5 000 dashes
quadratic."""

SeverityFn = Callable[[str, dict[str, Any]], tuple[str, list[dict[str, str]]]]
"""(description, fields) -> (severity, reasons); the rules are bot/domain/severity.py's."""


def no_severity(_text: str, _fields: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    return "normal", []


def load_severity(path: Path) -> SeverityFn:
    """The severity rules file (setting ``nlu.severity_rules``) as the intake hook; a missing or
    malformed file is a configuration error naming the setting and the path."""
    try:
        return parse_rules(yaml.safe_load(path.read_text(encoding="utf-8"))).assess
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"config error: nlu.severity_rules: {path}: {exc}") from exc


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
    order_number = _str_or_none(fields.get("order_number"))
    if order_number and order_number not in references:  # the one the customer confirmed comes first
        references.insert(0, order_number)
    # Only complaints can be major: a question that names 12345 keeps its own answer clock.
    level, reasons = severity(description, fields) if effect.kind in MAJOR_KINDS else ("normal", [])
    phone = fields.get("phone")
    ticket = Ticket(
        number=ticket_repo.next_number(session, local_day=now.astimezone(tz).date()),
        kind=effect.kind,
        severity=level,
        severity_reasons=reasons,
        category=_str_or_none(fields.get("category")),
        category_source=_str_or_none(fields.get("category_source")),
        nlu_confidence=_float_or_none(fields.get("nlu_confidence")),
        description=description,
        details={k: v for k, v in fields.items() if k not in _COLUMN_FIELDS},
        contact_name=_str_or_none(fields.get("contact_name")) or customer.name,
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
    session.add(ticket)
    session.flush()  # its id, for the event and the desk's rows
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
    name = _str_or_none(fields.get("contact_name"))
    if name and name != customer.name:  # staff see the customer by the name they gave
        customer_repo.set_name(session, customer_id=customer.id, name=name[:200])
    phone_on_file = customer.phone
    if isinstance(phone, str) and phone:
        if phone != customer.phone:
            customer_repo.set_phone(session, customer_id=customer.id, phone=phone)
        phone_on_file = phone
    return CreatedTicket(
        ticket=ticket,
        reply_by=now + timedelta(hours=FIRST_REPLY_HOURS.get(effect.kind, 24)),
        phone_on_file=phone_on_file,
    )


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
