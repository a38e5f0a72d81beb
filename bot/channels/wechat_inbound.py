"""WeChat messages and events as channel-neutral inbound messages.

Message ids: ``MsgId`` for messages. Events, and messages without one, are keyed by sender +
CreateTime + a hash of every field (WeChat's own advice for de-duplicating retries of events): no
shared fallback, so one customer's message can never be taken for another's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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


def message_id(fields: Mapping[str, Any]) -> str:
    """The transcript's id for a checked callback's fields (``wechat_xml.check_fields``)."""
    event = str(fields.get("MsgType", "")).lower() == "event"
    msg_id = fields.get("MsgId")
    if not event and msg_id and int(msg_id) != 0:
        return f"m:{msg_id}"
    content = json.dumps(sorted(fields.items()), ensure_ascii=False, default=str)
    digest = hashlib.sha256(content.encode()).hexdigest()[:32]
    return f"{'ev' if event else 'h'}:{fields.get('FromUserName')}:{fields.get('CreateTime')}:{digest}"


def is_event_id(mid: str | None) -> bool:
    """Whether a transcript id made by ``message_id`` is an event's (a menu click, a follow, a scan)."""
    return bool(mid) and str(mid).startswith("ev:")


def to_inbound(
    message: Any,
    *,
    message_id: str,
    received_at: datetime,
    attachments: tuple[Attachment, ...] = (),
    kind: str | None = None,
) -> InboundMessage | None:
    """The inbound message, or None for events that need no answer (menu links, location reports,
    unsubscribe, which the channel handles itself). ``kind`` overrides the kind read from the
    message (a media download that failed)."""
    read, text = "text", ""
    mtype = getattr(message, "type", "unknown")
    if mtype == "text":
        text = str(message.content or "")
    elif mtype == "image":
        read = "photo"
    elif mtype == "voice":
        recognition = getattr(message, "recognition", None)
        read, text = ("text", str(recognition)) if recognition else ("voice", "")
    elif mtype == "location":
        read = "location"
        text = f"{message.location_x},{message.location_y} {message.label or ''}".strip()
    elif mtype == "link":
        read = "link"
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
            read, text = "event", event
    else:  # files, videos, mini-program cards...: the customer-service API takes images only
        read = "unsupported_images_only"
    return InboundMessage(
        key=ConversationKey("wechat", str(message.source)),
        text=text,
        message_id=message_id,
        received_at=received_at,
        attachments=attachments,
        kind=kind or read,
    )
