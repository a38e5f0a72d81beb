"""SQLModel tables. Times are aware UTC (see UTCDateTime); JSON columns hold lists and dicts.

Every table is imported by the Alembic env, so a new table here needs a migration too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


# Empty JSON defaults made by our own functions, not ``list``/``dict``: pydantic inspects a default
# factory's signature each time it calls one, and for a builtin that means parsing its text
# signature (about 0.2 ms per new Ticket, measured with cProfile), while a Python function's
# signature is read from its code object.
def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_customer_channel_ext"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="zh", max_length=8)
    phone: str | None = Field(default=None, max_length=32)
    unreachable: bool = False
    created_at: datetime = _ts()
    last_inbound_at: datetime | None = _ts(nullable=True)
    erased_at: datetime | None = _ts(nullable=True)


class Conversation(SQLModel, table=True):
    """One customer's dialogue with the bot. ``state`` is the engine's ConversationState JSON;
    ``version`` guards against two processes saving the same conversation at once."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "user_id", name="uq_conversation_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    user_id: str = Field(max_length=128)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    flow: str = Field(max_length=64)
    flow_version: int
    step: str = Field(default="", max_length=64)
    slots: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)
    state: str = Field(default="{}", sa_type=Text)
    status: str = Field(default="bot", max_length=16, index=True)
    handoff_reason: str | None = Field(default=None, max_length=64)
    # indexed: the webhook feed reads new handoffs by it (a range), the queue finds waiting rows
    waiting_since: datetime | None = _ts(nullable=True, index=True)
    assigned_agent: str | None = Field(default=None, max_length=64)
    # the console queue: 2 major ticket, 1 angry wording, 0 otherwise; a transfer can name a department
    priority: int = 0
    queue_department: str | None = Field(default=None, max_length=64)
    taken_at: datetime | None = _ts(nullable=True)
    version: int = 0
    created_at: datetime = _ts()
    updated_at: datetime = _ts(index=True)


UNANSWERED = sql_text("direction = 'in' AND processed_at IS NULL")
"""The partial index's condition; a query must spell it with these literals to use the index."""
UNDELIVERED = sql_text("delivery = 'pending'")
"""Replies still to send, as their partial index spells it. Queries use this literal:
PostgreSQL cannot match a bound parameter to a partial index in a generic plan."""


class Message(SQLModel, table=True):
    """The full transcript, and the outbox. Inbound rows are stored before any processing;
    ``processed_at`` stays empty until the turn is saved, which is how a restart finds
    unanswered messages. An outgoing row is also its own delivery record: ``delivery`` is
    pending until a channel took it, then sent, or dead after a permanent failure (None: not
    for sending). One row per reply instead of a transcript row and an outbox row with the
    same text: the outbox insert was ~8 % of a turn's instructions (bench/RESULTS.md).

    Every turn inserts two or three rows, so the indexes are partial where they can be: only
    unanswered inbound rows are in ``ix_messages_unanswered``, only replies still to send in
    ``ix_messages_undelivered``, and only rows with a channel message id in the
    de-duplication index."""

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_message_dedupe",
            "channel",
            "direction",
            "channel_message_id",
            unique=True,
            sqlite_where=sql_text("channel_message_id IS NOT NULL"),
            postgresql_where=sql_text("channel_message_id IS NOT NULL"),
        ),
        Index("ix_messages_unanswered", "id", sqlite_where=UNANSWERED, postgresql_where=UNANSWERED),
        Index("ix_messages_undelivered", "id", sqlite_where=UNDELIVERED, postgresql_where=UNDELIVERED),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", index=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    channel: str = Field(max_length=32)
    user_id: str = Field(max_length=128)
    direction: str = Field(max_length=8)  # in, out
    author: str = Field(default="customer", max_length=64)  # customer, bot, agent:<name>, note
    channel_message_id: str | None = Field(default=None, max_length=128)
    kind: str = Field(default="text", max_length=32)
    text: str = Field(default="", sa_type=Text)
    payload: str | None = Field(default=None, max_length=256)
    buttons: list[dict[str, str]] = Field(default_factory=_empty_list, sa_type=JSON)
    attachments: list[dict[str, Any]] = Field(default_factory=_empty_list, sa_type=JSON)
    created_at: datetime = _ts()
    processed_at: datetime | None = _ts(nullable=True)
    delivery: str | None = Field(default=None, max_length=16)  # pending, sent, dead
    # the database's default, not SQLAlchemy's: inserts that leave it out need not name it
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = _ts(nullable=True)
    external_id: str | None = Field(default=None, max_length=128)  # the platform's id, once sent
    # which process sends this pending reply, and until when unless it renews the claim
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = _ts(nullable=True)


class TicketSequence(SQLModel, table=True):
    """The last number handed out per local day; incremented inside the ticket's transaction so
    numbers stay gapless (a rolled-back ticket rolls its number back too)."""

    __tablename__ = "ticket_sequences"

    day: str = Field(primary_key=True, max_length=6)
    last: int = 0


class Ticket(SQLModel, table=True):
    """Two composite indexes serve what every new ticket asks: the repeat rule (other customers
    on one target and category lately) and routing's load (open tickets per assignee, read from
    the index alone). Their leading columns serve lookups by target or status alone."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_repeat", "target", "category", "kind", "created_at"),
        Index("ix_tickets_open_load", "status", "assignee"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=16, unique=True, index=True)
    kind: str = Field(max_length=16, index=True)
    status: str = Field(default="new", max_length=24)
    severity: str = Field(default="normal", max_length=16, index=True)
    severity_reasons: list[dict[str, str]] = Field(default_factory=_empty_list, sa_type=JSON)
    category: str | None = Field(default=None, max_length=64, index=True)
    category_l2: str | None = Field(default=None, max_length=64)
    category_l3: str | None = Field(default=None, max_length=64)
    category_l4: str | None = Field(default=None, max_length=64)
    category_source: str | None = Field(default=None, max_length=16)
    nlu_confidence: float | None = None
    description: str = Field(default="", sa_type=Text)
    details: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=32)
    references: list[str] = Field(default_factory=_empty_list, sa_type=JSON)
    desired_outcome: str | None = Field(default=None, sa_type=Text)
    attachments: list[dict[str, Any]] = Field(default_factory=_empty_list, sa_type=JSON)
    channel: str = Field(max_length=32)
    language: str = Field(default="zh", max_length=8)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id")
    department: str | None = Field(default=None, max_length=64)
    assignee: str | None = Field(default=None, max_length=64, index=True)
    # what the complaint is about (a store, product or person), for the repeat-complaint rule
    target: str | None = Field(default=None, max_length=200)
    # staff the complaint names: never assigned the ticket, never shown it (recusal)
    recused: list[str] = Field(default_factory=_empty_list, sa_type=JSON)
    escalated_to: str | None = Field(default=None, max_length=64)
    solution: str | None = Field(default=None, sa_type=Text)
    redispatches: int = 0
    awaiting: str | None = Field(default=None, max_length=16)  # solution, survey: a customer answer
    satisfaction: int | None = None
    satisfaction_comment: str | None = Field(default=None, sa_type=Text)
    appeal_of: int | None = Field(default=None, foreign_key="tickets.id", index=True)
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    resolved_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)


class TicketEvent(SQLModel, table=True):
    """Append-only audit trail: rows are inserted, never updated or deleted."""

    __tablename__ = "ticket_events"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    at: datetime = _ts()
    actor: str = Field(max_length=64)  # customer, bot, system, agent:<name>
    action: str = Field(max_length=48)
    before: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)
    after: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)
    note: str | None = Field(default=None, sa_type=Text)


class FlowVersion(SQLModel, table=True):
    """Every published version of a flow, so a conversation finishes on the one it started."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_flow_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    version: int
    content: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64)
    author: str = Field(default="system", max_length=64)
    created_at: datetime = _ts()
    live: bool = True


class SharedToken(SQLModel, table=True):
    """A platform credential every bot process shares (WeChat's access_token): one fetch serves all,
    and ``lease_until`` lets exactly one process refresh it without holding a transaction open."""

    __tablename__ = "shared_tokens"

    name: str = Field(primary_key=True, max_length=64)
    value: str | None = Field(default=None, sa_type=Text)
    expires_at: datetime | None = _ts(nullable=True)
    lease_until: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class Staff(SQLModel, table=True):
    """One person of the desk, the only table of people: routing draws handlers from it, the
    access policy reads their roles and departments, the console logs them in (``password_hash``;
    None: no console login), and notifications reach them on the channels they chose.

    ``roles`` (several allowed): agent takes conversations, handler works tickets, supervisor is
    urged at breaches, manager takes major complaints, admin runs the desk. ``departments``:
    empty means every department (a small desk)."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=200)
    employee_no: str | None = Field(default=None, max_length=32)
    roles: list[str] = Field(default_factory=_empty_list, sa_type=JSON)
    departments: list[str] = Field(default_factory=_empty_list, sa_type=JSON)
    password_hash: str | None = Field(default=None, sa_type=Text)
    language: str = Field(default="zh", max_length=8)
    active: bool = True
    email: str | None = Field(default=None, max_length=254)
    telegram_chat_id: str | None = Field(default=None, max_length=64)
    # a one-time code the person sends the bot to link their Telegram chat (its SHA-256)
    telegram_code_hash: str | None = Field(default=None, max_length=64)
    telegram_code_until: datetime | None = _ts(nullable=True)
    notify: list[str] = Field(default_factory=_empty_list, sa_type=JSON)  # console, email, telegram, wecom
    notify_sound: bool = True  # a short sound in the console when a new alert arrives
    quiet_from: str | None = Field(default=None, max_length=5)  # HH:MM, local time
    quiet_until: str | None = Field(default=None, max_length=5)
    last_login_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class Department(SQLModel, table=True):
    """A department of the desk, as an admin keeps it in the console: its names in both
    languages (every screen and message names it so, never by its code), its WeCom group
    robot's webhook URL (a secret: shown masked, never logged) and whether it still takes new
    tickets. Seeded from config.yaml (``lifecycle.departments``, ``default_department``,
    ``notifications.wecom_webhooks``) for codes the table does not have yet."""

    __tablename__ = "departments"

    code: str = Field(primary_key=True, max_length=64)
    name_zh: str = Field(max_length=100)
    name_en: str = Field(max_length=100)
    wecom_url: str | None = Field(default=None, sa_type=Text)
    active: bool = True
    created_at: datetime = _ts()


class CategoryRoute(SQLModel, table=True):
    """Which department a complaint category goes to (one row per category); a category with
    no row falls back to config.yaml's ``lifecycle.departments``, then ``default_department``."""

    __tablename__ = "category_routes"

    category: str = Field(primary_key=True, max_length=64)
    department: str = Field(max_length=64)


class TicketDeadline(SQLModel, table=True):
    """One SLA clock of a ticket; ``met_at`` stops it, ``warned_at``/``breached_at`` record what the
    scheduler did about it."""

    __tablename__ = "ticket_deadlines"
    __table_args__ = (UniqueConstraint("ticket_id", "name", name="uq_deadline_ticket_name"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    name: str = Field(max_length=32)
    started_at: datetime = _ts()
    due_at: datetime = _ts()
    warn_at: datetime = _ts()
    met_at: datetime | None = _ts(nullable=True)
    warned_at: datetime | None = _ts(nullable=True)
    breached_at: datetime | None = _ts(nullable=True)


class FollowUp(SQLModel, table=True):
    """Work due at a moment: an SLA warning or breach, a callback, a survey reminder, an auto-close.

    This row is the truth; the APScheduler job that wakes for it carries only its id. Firing
    flips ``status`` from pending in the same transaction as the work, so it happens once.
    """

    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_pending", "status", "due_at"),
        Index("ix_follow_ups_unscheduled", "status", "scheduled", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    kind: str = Field(max_length=32)
    due_at: datetime = _ts()
    data: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)
    status: str = Field(default="pending", max_length=16)  # pending, done, cancelled
    scheduled: bool = False  # an APScheduler job exists for it
    created_at: datetime = _ts()
    fired_at: datetime | None = _ts(nullable=True)
    outcome: str | None = Field(default=None, max_length=64)


class StaffAlert(SQLModel, table=True):
    """A message for a staff member (warning, urge, escalation, major complaint), shown in the
    console; ``read_at`` is set when they open it."""

    __tablename__ = "staff_alerts"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id", index=True)
    kind: str = Field(max_length=32)
    text: str = Field(sa_type=Text)
    created_at: datetime = _ts()
    read_at: datetime | None = _ts(nullable=True)


class StaffNotification(SQLModel, table=True):
    """A notification on its way to a person over one channel (email, telegram, wecom): the
    persistent, retried outbox of the staff side, with the customer outbox's retry rules.
    ``urgent`` (a major complaint, a breach) goes out in quiet hours; rows for one address due
    together go out as one digest."""

    __tablename__ = "staff_notifications"
    __table_args__ = (Index("ix_staff_notifications_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=500)  # an e-mail address, a Telegram chat id, a webhook URL
    kind: str = Field(max_length=32)
    subject: str = Field(max_length=200)
    text: str = Field(sa_type=Text)
    urgent: bool = False
    status: str = Field(default="pending", max_length=16)  # pending, sent, dead
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    # the process sending this row now, and until when its claim holds (then anyone may take it)
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: datetime | None = _ts(nullable=True)


class SendQuota(SQLModel, table=True):
    """A platform quota every process spends from (bot/domain/send_quotas.py): one customer's
    allowance of WeChat customer-service messages (``wechat:customer:<openid>``) or one API's
    daily count (``wechat:day:<api>``). A send takes from the row under its lock, so two
    processes never spend the same unit."""

    __tablename__ = "send_quotas"

    name: str = Field(primary_key=True, max_length=200)
    remaining: int = 0
    until: datetime | None = _ts(nullable=True)
    seen: int = Field(default=0, sa_type=BigInteger)  # the newest inbound row already counted


class Lease(SQLModel, table=True):
    """A named role one process holds at a time (the scheduler): renewed while alive, taken over
    by another process once ``until`` passes."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str | None = Field(default=None, max_length=128)
    until: datetime | None = _ts(nullable=True)


class ConsoleSession(SQLModel, table=True):
    """A login. Only the SHA-256 of the cookie value is stored, so a database dump logs no one in;
    rows outlive restarts and are shared by every worker."""

    __tablename__ = "console_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=64, index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)


class LoginAttempt(SQLModel, table=True):
    """Failed logins, counted per username and per address to slow down password guessing."""

    __tablename__ = "login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)
    at: datetime = _ts(index=True)


class CannedReply(SQLModel, table=True):
    """A reply agents insert with one click; ``{customer_name}``, ``{ticket_number}`` and
    ``{agent_name}`` are filled for the conversation at hand."""

    __tablename__ = "canned_replies"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=100)
    language: str = Field(default="zh", max_length=8)
    text: str = Field(sa_type=Text)
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts()


class DataRequest(SQLModel, table=True):
    """Audit of a data-rights request: who exported or erased which customer's data, and when.
    Kept after an erasure (it holds no personal data beyond the customer's row id)."""

    __tablename__ = "data_requests"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(index=True)
    action: str = Field(max_length=16)  # export, erase
    actor: str = Field(max_length=64)
    at: datetime = _ts()
    summary: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)


class NluSample(SQLModel, table=True):
    """A real customer message the NLU was unsure about (``low_confidence``) or got wrong (an
    agent corrected the ticket's category: ``corrected``), waiting for an admin's review."""

    __tablename__ = "nlu_samples"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_type=Text)
    predicted: str | None = Field(default=None, max_length=64)
    confidence: float | None = None
    source: str = Field(max_length=16)  # low_confidence, corrected
    classifier: str | None = Field(default=None, max_length=16)  # rasa, builtin: whose guess it was
    intent: str | None = Field(default=None, max_length=64)  # the right one, once reviewed
    status: str = Field(default="pending", max_length=16, index=True)  # pending, accepted, dismissed, live
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id")
    reviewed_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()


class NluCandidate(SQLModel, table=True):
    """A model trained with reviewed samples, evaluated against the live one before anyone may
    switch to it. ``before``/``after`` hold the held-out scores of the live and the new model."""

    __tablename__ = "nlu_candidates"

    id: int | None = Field(default=None, primary_key=True)
    model_file: str = Field(max_length=500)
    data_file: str = Field(max_length=500)
    samples: list[int] = Field(default_factory=_empty_list, sa_type=JSON)
    status: str = Field(default="training", max_length=16)  # training, evaluated, failed, live, replaced
    before: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)
    after: dict[str, Any] = Field(default_factory=_empty_dict, sa_type=JSON)
    error: str | None = Field(default=None, sa_type=Text)
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts()
    switched_at: datetime | None = _ts(nullable=True)


class ApiToken(SQLModel, table=True):
    """A REST API token an admin created (``tousu api-tokens create``). Only the SHA-256 of the
    token is kept, so a database dump authenticates no one; ``prefix`` (its first characters)
    tells tokens apart in a list. The token acts as the console account ``name`` would, with
    ``role`` and ``department``: the same access policy decides what it sees."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=16)  # agent, supervisor, admin
    department: str | None = Field(default=None, max_length=64)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    """When a request last came with it, to the minute (written at most once a minute)."""
    revoked_at: datetime | None = _ts(nullable=True)


class WebhookEndpoint(SQLModel, table=True):
    """A receiver of signed event POSTs (``tousu webhooks add``). ``secret`` signs every body; it
    is shown once when the endpoint is made. A 410 answer turns the endpoint off
    (``disabled_reason`` is then ``gone``, bot/services/webhooks.Disabled); an admin can turn it
    on again."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=500)
    events: list[str] = Field(default_factory=_empty_list, sa_type=JSON)
    secret: str = Field(max_length=128)
    active: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)  # why it went off (a code)
    disabled_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: the persistent queue and the delivery log at once. ``body`` is
    fixed when the event is queued, so every retry sends the same bytes and event id; rows with
    the same ``order_key`` (a ticket, a conversation) go out one after another."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id", index=True)
    event_id: str = Field(max_length=64)
    event: str = Field(max_length=48)
    order_key: str = Field(max_length=64)
    body: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=16)  # pending, delivered, failed, cancelled
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()
    delivered_at: datetime | None = _ts(nullable=True)


class WebhookCursor(SQLModel, table=True):
    """How far the webhook feed has read a source (the audit trail by id, handoffs by time)."""

    __tablename__ = "webhook_cursors"

    name: str = Field(primary_key=True, max_length=32)
    position: int = Field(default=0, sa_type=BigInteger)  # an id, or microseconds since 1970


class SavedFilter(SQLModel, table=True):
    """A ticket-list filter a person saved under a name: the list's query string, replayed as is
    (the list parses and checks it on every use, so a stale value filters nothing)."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_filter_user_name"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    name: str = Field(max_length=100)
    query: str = Field(default="", sa_type=Text)
    created_at: datetime = _ts()


ALL_TABLES = (
    Customer,
    Conversation,
    Message,
    TicketSequence,
    Ticket,
    TicketEvent,
    FlowVersion,
    SharedToken,
    SendQuota,
    Staff,
    TicketDeadline,
    FollowUp,
    StaffAlert,
    StaffNotification,
    Lease,
    ConsoleSession,
    LoginAttempt,
    CannedReply,
    DataRequest,
    NluSample,
    NluCandidate,
    ApiToken,
    WebhookEndpoint,
    WebhookDelivery,
    WebhookCursor,
    SavedFilter,
)
