"""What the ticket panel (the ticket page and a conversation's current ticket) shows beside the
ticket itself: the ways to record a contact and the form's "now" in the configured zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.enums import ContactMethod
from bot.domain.states import OPEN
from storage.models import Ticket

LOCAL_MINUTE = "%Y-%m-%dT%H:%M"
"""What a ``datetime-local`` field sends and shows (the browser's own format, minutes)."""

CONTACT_METHODS = tuple(m for m in ContactMethod if m is not ContactMethod.REPLY)
"""What a person records by hand; a reply in the chat is recorded by sending it."""


@dataclass(frozen=True, slots=True)
class Panel:
    contact_methods: tuple[ContactMethod, ...]
    contact_open: bool
    """Whether a contact can be recorded (open or resolved: a callback may follow)."""
    local_now: str
    """The contact form's default and latest time, as the field writes it."""


def local_minute(moment: datetime, tz: ZoneInfo) -> str:
    """``moment`` as a ``datetime-local`` field shows it, in the configured zone."""
    return moment.astimezone(tz).strftime(LOCAL_MINUTE)


def panel(ticket: Ticket, *, now: datetime, tz: ZoneInfo) -> Panel:
    return Panel(
        contact_methods=CONTACT_METHODS,
        contact_open=ticket.status in OPEN | {"resolved"},
        local_now=local_minute(now, tz),
    )
