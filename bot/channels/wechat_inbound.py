"""WeChat messages and events as channel-neutral inbound messages.

Message ids: ``MsgId`` for messages; events have none, so sender + CreateTime + event stands in
(WeChat's own advice for de-duplicating its retries).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dialogues.types import Attachment, ConversationKey, InboundMessage

CLICK_COMMANDS = {
    "progress": "/status",
    "status": "/status",
    "human": "0",
    "restart": "/start",
    "help": "/help",
    "complain": "1",
}
"""Custom-menu CLICK keys (``wechat.menu`` in config.yaml) as the text the engine understands."""

SILENT_EVENTS = {"view", "location", "templatesendjobfinish", "masssendjobfinish", "view_miniprogram"}


def message_id(message: Any) -> str:
    if getattr(message, "type", "") == "event":
        event = getattr(message, "event", "")
        key = getattr(message, "key", "") or ""
        return f"ev:{message.source}:{int(message.create_time.timestamp())}:{event}:{key}"[:128]
    return f"m:{message.id}"


def to_inbound(
    message: Any, *, received_at: datetime, attachments: tuple[Attachment, ...] = ()
) -> InboundMessage | None:
    """The inbound message, or None for events that need no answer (menu links, location reports,
    unsubscribe, which the channel handles itself)."""
    kind, text = "text", ""
    mtype = getattr(message, "type", "unknown")
    if mtype == "text":
        text = str(message.content or "")
    elif mtype == "image":
        kind = "photo"
    elif mtype == "voice":
        recognition = getattr(message, "recognition", None)
        kind, text = ("text", str(recognition)) if recognition else ("voice", "")
    elif mtype == "location":
        kind = "location"
        text = f"{message.location_x},{message.location_y} {message.label or ''}".strip()
    elif mtype == "link":
        kind = "link"
        text = f"{message.title or ''} {message.url or ''}".strip()
    elif mtype == "event":
        event = str(getattr(message, "event", "")).lower()
        if event in SILENT_EVENTS or event == "unsubscribe":
            return None
        if event == "click":
            command = CLICK_COMMANDS.get(str(getattr(message, "key", "")).lower())
            if command is None:
                return None
            text = command
        else:  # subscribe, subscribe_scan, scan: greet
            kind, text = "event", event
    else:
        kind = "unsupported"
    return InboundMessage(
        key=ConversationKey("wechat", str(message.source)),
        text=text,
        message_id=message_id(message),
        received_at=received_at,
        attachments=attachments,
        kind=kind,
    )
