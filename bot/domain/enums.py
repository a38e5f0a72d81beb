"""The product's vocabularies, each listed once. StrEnum members are their own database values,
so rows, queries and JSON keep plain strings while the code gets names a checker can follow.
(The storage layer sits below the domain and keeps plain ``str`` columns.)"""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    SOLUTION_PROPOSED = "solution_proposed"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"


class TicketKind(StrEnum):
    COMPLAINT = "complaint"
    CONSULTATION = "consultation"
    SUGGESTION = "suggestion"
    GRIEVANCE = "grievance"


class Severity(StrEnum):
    NORMAL = "normal"
    MAJOR = "major"


class StaffRole(StrEnum):
    """A person's roles (several allowed), in rising order of reach: an agent takes
    conversations, a handler works tickets routing assigns, a supervisor is urged at breaches
    and works their departments, a manager takes major complaints, an admin runs the desk."""

    AGENT = "agent"
    HANDLER = "handler"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    ADMIN = "admin"


class ContactMethod(StrEnum):
    """How a person reached the customer (recorded contact meets the acknowledge clock)."""

    PHONE = "phone"
    MESSAGE = "message"
    VISIT = "visit"  # in person
    EMAIL = "email"
    REPLY = "reply"  # a reply in the customer's own chat (the takeover records it)


class ConversationStatus(StrEnum):
    BOT = "bot"
    AGENT = "agent"  # a person holds it or it waits for one
    CLOSED = "closed"


class FollowUpKind(StrEnum):
    SLA_WARN = "sla_warn"
    SLA_BREACH = "sla_breach"
    CALLBACK = "callback"
    SURVEY_REMINDER = "survey_reminder"
    AUTO_CLOSE = "auto_close"


class FollowUpStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class NotifyChannel(StrEnum):
    """Where a person may be told of their work (WeCom: their departments' group robots)."""

    CONSOLE = "console"
    EMAIL = "email"
    TELEGRAM = "telegram"
    WECOM = "wecom"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class NotifyFailure(StrEnum):
    """Why a notification could not go out, in words a person can act on (``notify.fail_*``)."""

    NOT_CONFIGURED = "not_configured"  # no SMTP server, bot token or robot set up
    NO_ADDRESS = "no_address"  # no e-mail address, Telegram not linked, no robot for my department
    UNREACHABLE = "unreachable"  # the server could not be reached or answered with an error
    REFUSED = "refused"  # the server refused the address or the message
