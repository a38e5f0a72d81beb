"""The channel contract. Input and output are separate concerns: a channel turns its platform's
deliveries into InboundMessage for an InboundSink, and delivers OutboundMessage when asked."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.channels.passive import PassiveSlot
    from bot.services.inbox import Handled

from dialogues.types import Attachment, Button, InboundMessage


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    text: str
    buttons: tuple[Button, ...] = ()
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    author: str = "bot"  # or agent:<username>: a channel may show that a person wrote it


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """A channel's answer to one webhook delivery, in HTTP terms but free of the web framework:
    the routes (bot/web/webhooks.py) turn it into a response. A bare status has no media type."""

    status: int = 200
    body: str = ""
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryLimits:
    """How fast a channel may send: ``per_chat_interval`` seconds between two messages to one
    chat, ``global_rate`` messages per second overall (None: unlimited)."""

    per_chat_interval: float = 0.0
    global_rate: float | None = None


class DeliveryError(Exception):
    """Sending failed. ``permanent`` stops retrying (e.g. the customer blocked the bot);
    ``retry_after`` is the platform's requested pause in seconds, if it gave one."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class ClaimLost(Exception):
    """Raised by a channel whose own work before the platform call (a quota to spend, a lookup)
    outlasted the delivery's claim on the reply: another process may be sending it, so this one
    must not; the outbox looks at the reply again once it knows whose it is."""


CLAIM_HELD: ContextVar[Callable[[], bool]] = ContextVar("tousu_claim_held", default=lambda: True)
"""Set by the outbox around each ``Channel.send``: whether this process surely still holds the
reply it is sending. A channel that does slow work before the platform call asks ``claim_held``
right before the call."""


def claim_held() -> bool:
    return CLAIM_HELD.get()()


class InboundSink(Protocol):
    """Where channels hand messages: the conversation manager."""

    async def accept(self, inbound: InboundMessage) -> bool:
        """Store the message (returns False for a duplicate) and schedule its processing."""
        ...

    async def handle(self, inbound: InboundMessage, *, passive: PassiveSlot | None = None) -> Handled:
        """Store and process the message before returning: whether it was a duplicate and
        which replies it produced; the turn may answer in ``passive`` (bot/channels/passive.py)."""
        ...


class Channel(ABC):
    """A transport to customers. ``name`` is the ConversationKey.channel it serves."""

    name: str
    supports_buttons: bool = False
    limits: DeliveryLimits = DeliveryLimits()

    async def start(self, sink: InboundSink) -> None:  # noqa: B027  (optional hook)
        """Begin receiving; the default channel only sends."""

    async def stop(self) -> None:  # noqa: B027  (optional hook)
        """Stop receiving and release resources."""

    def refuses_file(self, mime: str) -> str | None:
        """Why this channel cannot deliver a file of this type an agent attached, or None when it can."""
        return f"files cannot be sent on {self.name}; send text"

    @abstractmethod
    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        """Deliver one message; return the platform's message id if it has one.

        Raise DeliveryError on failure so the outbox can retry or give up.
        """


def button_key(button: Button) -> str:
    """The keypad key a button stands for (payloads are ``step:key``)."""
    return button.payload.rsplit(":", 1)[-1]


def render_plain(message: OutboundMessage) -> str:
    """Text with the buttons as numbered lines, for channels that cannot show buttons."""
    if not message.buttons:
        return message.text
    lines = [message.text, ""] if message.text else []
    for button in message.buttons:
        key = button_key(button)
        label = button.label
        lines.append(
            label if label.startswith(f"{key}.") or label.startswith(f"{key} ") else f"{key}. {label}"
        )
    return "\n".join(lines)
