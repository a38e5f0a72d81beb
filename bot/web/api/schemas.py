"""The API's bodies: Pydantic models, never ORM rows, so the schema is the contract and a column
added to a table does not leak out. Times are aware UTC datetimes (ISO 8601 on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.enums import Severity, TicketStatus

NO_NUL = r"^[^\x00]*$"
"""No NUL characters: PostgreSQL refuses them in text, so they are a 422 here, not a 500 there."""
MAX_ID = 2**31 - 1
"""Row ids are 32-bit on PostgreSQL; a larger one is a 422, never a database error."""


class ErrorOut(BaseModel):
    detail: Any
    """A sentence for a person; for 422, FastAPI's list of what failed where."""


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "a request the API cannot act on"),
        (401, "no token, or an unknown or revoked one"),
        (403, "the token's role or the access policy refuses it"),
        (404, "no such thing, or not the token's to see"),
        (409, "the ticket or conversation is in a state that refuses it"),
        (422, "a parameter or body field is malformed"),
        (429, "the token's rate limit"),
    )
}


class CallerOut(BaseModel):
    name: str
    role: str
    department: str | None


class Page(BaseModel):
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; null on the last one."""


class TicketSummary(BaseModel):
    number: str
    kind: str
    status: str
    severity: str
    category: str | None
    department: str | None
    assignee: str | None
    channel: str
    customer_id: int
    conversation_id: int | None
    created_at: datetime
    updated_at: datetime


class TicketPage(Page):
    items: list[TicketSummary]


class EventOut(BaseModel):
    at: datetime
    actor: str
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    note: str | None


class DeadlineOut(BaseModel):
    name: str
    due_at: datetime
    met_at: datetime | None
    breached_at: datetime | None


class IntakeFacts(BaseModel):
    """What the customer said at intake beside the description, field by field: their answers,
    or what the bot read from the description and the customer confirmed. Null when not given."""

    when: str | None = None
    where: str | None = None
    product: str | None = None
    staff: str | None = None
    """The member of staff the customer named (a name, a role, a staff number), in their words."""
    order_number: str | None = None
    amount: str | None = None
    """The money involved as the customer's summary showed it (¥200, $35)."""


class TicketOut(TicketSummary):
    category_l2: str | None
    category_l3: str | None
    category_l4: str | None
    description: str
    language: str
    target: str | None
    desired_outcome: str | None
    facts: IntakeFacts
    references: list[str]
    """Order and reference numbers: the one the customer confirmed first, then any in the text."""
    contact_name: str | None
    contact_phone: str | None
    solution: str | None
    awaiting: str | None
    satisfaction: int | None
    satisfaction_comment: str | None
    resolved_at: datetime | None
    closed_at: datetime | None
    next_statuses: list[str]
    """The statuses the state machine allows from here."""
    events: list[EventOut]
    deadlines: list[DeadlineOut]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus
    note: str | None = Field(default=None, pattern=NO_NUL, max_length=4000)


class TicketEdit(BaseModel):
    """Only the fields sent change; an empty string clears a category level or department.
    Category levels are codes of the live intake flow's tree (``GET /categories``), each under
    the level above (a 409 lists the choices there); the department a code the desk has."""

    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(default=None, pattern=NO_NUL, max_length=64)
    category_l2: str | None = Field(default=None, pattern=NO_NUL, max_length=64)
    category_l3: str | None = Field(default=None, pattern=NO_NUL, max_length=64)
    category_l4: str | None = Field(default=None, pattern=NO_NUL, max_length=64)
    department: str | None = Field(default=None, pattern=NO_NUL, max_length=64)
    severity: Severity | None = None


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(min_length=1, pattern=NO_NUL, max_length=64)
    """A staff-directory username."""


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, pattern=NO_NUL, max_length=4000)


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    solution: str = Field(min_length=1, pattern=NO_NUL, max_length=4000)


class ConversationOut(BaseModel):
    id: int
    channel: str
    customer_id: int
    status: str
    step: str
    handoff_reason: str | None
    waiting_since: datetime | None
    assigned_agent: str | None
    queue_department: str | None
    created_at: datetime
    updated_at: datetime


class ConversationPage(Page):
    items: list[ConversationOut]


class MessageOut(BaseModel):
    id: int
    direction: str
    """in (the customer), out (bot or agent), note (staff only)."""
    author: str
    kind: str
    text: str
    attachments: list[str]
    created_at: datetime
    delivery: str | None


class Transcript(BaseModel):
    conversation_id: int
    items: list[MessageOut]
    next_after: int | None
    """Pass as ``after`` for the messages that follow; null when there are none yet."""


class AgentMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, pattern=NO_NUL, max_length=4000)
    take: bool = False
    """Take the conversation from the queue or the bot first (else it must already be this
    token's)."""


class Accepted(BaseModel):
    conversation_id: int
    queued: bool


class CustomerOut(BaseModel):
    id: int
    channel: str
    name: str | None
    language: str
    phone: str | None
    created_at: datetime
    last_inbound_at: datetime | None
    erased_at: datetime | None
    tickets: list[str]
    """Ticket numbers of this customer, newest first."""
    conversations: list[int]


class CustomerExport(BaseModel):
    """Everything held about the customer, as the console's export's ``data.json`` (attachments
    are not included: download the zip from the console for those)."""

    exported_at: datetime
    customer: dict[str, Any]
    conversations: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    tickets: list[dict[str, Any]]
    ticket_events: list[dict[str, Any]]


class DurationsOut(BaseModel):
    count: int
    mean_hours: float | None
    median_hours: float | None
    p90_hours: float | None


class MonthlyReport(BaseModel):
    """The monthly analysis (bot/services/reports.py) over the tickets the token may see."""

    period: dict[str, str]
    total: int
    by_kind: dict[str, int]
    by_category: dict[str, dict[str, Any]]
    by_department: dict[str, int]
    by_channel: dict[str, int]
    by_severity: dict[str, int]
    by_status: dict[str, int]
    per_day: dict[str, dict[str, int]]
    sla: dict[str, dict[str, int | float | None]]
    first_response: DurationsOut
    resolution: DurationsOut
    satisfaction: dict[str, Any]
    repeat_customers: list[dict[str, Any]]
    repeat_targets: list[dict[str, Any]]
    causes: dict[str, int]
    major_reasons: dict[str, int]
