"""Messages as the engine sees them: channel-neutral, immutable, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Identifies one customer on one channel; hashable so it can key locks and caches."""

    channel: str
    user_id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Attachment:
    """Evidence sent by the customer; ``ref`` is the stored file path or the channel's file id."""

    kind: str  # photo, document, voice, video, location, link
    ref: str
    name: str | None = None
    mime: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a customer. ``payload`` is set when a button was pressed."""

    key: ConversationKey
    text: str
    message_id: str
    received_at: datetime
    payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    kind: str = "text"  # text, photo, document, voice, location, link, event, unsupported
    language_hint: str | None = None  # e.g. Telegram's language_code at first contact
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A choice shown to the customer; channels without buttons render it as numbered text."""

    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One outgoing bot message. Text may hold ``{ticket_number}``-style placeholders that the
    conversation manager fills after running the turn's effects."""

    text: str
    buttons: tuple[Button, ...] = ()
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
