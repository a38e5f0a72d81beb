"""Telegram updates as channel-neutral inbound messages, and button payloads as callback data.

No I/O here: the downloads an update needs are done by the caller and passed in as attachments.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from datetime import datetime
from typing import Any

from telegram import Message, Update

from dialogues.types import Attachment, ConversationKey, InboundMessage

CALLBACK_LIMIT = 64  # bytes, Telegram's limit on callback_data
_TOKEN = "t:"
_TOKEN_KEY_BYTES = CALLBACK_LIMIT - len(_TOKEN) - 16 - 1

COMMAND_TEXT = {
    "/human": "0",
    "/start": "/start",
    "/help": "/help",
    "/status": "/status",
    "/cancel": "/cancel",
    "/lang": "/lang",
}
"""Bot commands as the text the engine understands (``0`` reaches a person)."""


_FILE = {"file_id": (str, True), "file_unique_id": (str, True), "file_size": (int, False)}
_USER = {
    "id": (int, True),
    "first_name": (str, False),
    "last_name": (str, False),
    "language_code": (str, False),
}
_MESSAGE: dict[str, tuple[Any, bool]] = {
    "message_id": (int, True),
    "date": (int, True),
    "chat": ({"id": (int, True)}, True),
    "from": (_USER, False),
    "text": (str, False),
    "caption": (str, False),
    "location": ({"latitude": (float, True), "longitude": (float, True)}, False),
    "photo": ([{**_FILE, "width": (int, False), "height": (int, False)}], False),
    "document": ({**_FILE, "mime_type": (str, False), "file_name": (str, False)}, False),
    "voice": ({**_FILE, "mime_type": (str, False)}, False),
    "audio": ({**_FILE, "mime_type": (str, False)}, False),
}
_UPDATE: dict[str, tuple[Any, bool]] = {
    "update_id": (int, True),
    "message": (_MESSAGE, False),
    "edited_message": (_MESSAGE, False),
    "callback_query": (
        {
            "id": (str, True),
            "from": (_USER, True),
            "data": (str, False),
            "message": ({"message_id": (int, True), "chat": ({"id": (int, True)}, True)}, False),
        },
        False,
    ),
}
"""The fields of an update that we read, with their types and whether they must be there."""


def _fits(value: Any, schema: Any) -> bool:
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return False
        for name, (inner, required) in schema.items():
            if value.get(name) is None:
                if required:
                    return False
            elif not _fits(value[name], inner):
                return False
        return True
    if isinstance(schema, list):
        return isinstance(value, list) and all(_fits(item, schema[0]) for item in value)
    if isinstance(value, bool):
        return schema is bool
    if schema is int:
        return isinstance(value, int) and abs(value) < 2**63
    if schema is float:
        return isinstance(value, int | float) and math.isfinite(value)
    if schema is str:
        return _encodable(value)
    return isinstance(value, schema)


def _encodable(value: Any) -> bool:
    """Text the database can store: JSON can carry lone surrogates, which UTF-8 cannot."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def readable(data: Any) -> bool:
    """Whether a webhook body is an update whose fields we read have the types Telegram gives
    them: python-telegram-bot does not check types, and a wrong one would fail mid-turn."""
    return _fits(data, _UPDATE)


class CallbackPayloads:
    """Button payloads as callback data within Telegram's 64 bytes. A longer payload travels as
    ``t:<hash>:<key>`` and is remembered in a bounded dict; once forgotten (a restart, eviction)
    the key alone is used, which the engine reads like a typed menu key."""

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        if len(payload.encode()) <= CALLBACK_LIMIT and not payload.startswith(_TOKEN):
            return payload
        key = payload.rsplit(":", 1)[-1].encode()[:_TOKEN_KEY_BYTES].decode(errors="ignore")
        token = f"{_TOKEN}{hashlib.sha256(payload.encode()).hexdigest()[:16]}:{key}"
        self._payloads[token] = payload
        self._payloads.move_to_end(token)
        while len(self._payloads) > self.capacity:
            self._payloads.popitem(last=False)
        return token

    def decode(self, data: str) -> tuple[str, str | None]:
        """(text, payload) for a pressed button; payload None when only the key is known."""
        key = data.rsplit(":", 1)[-1]
        if data.startswith(_TOKEN):
            payload = self._payloads.get(data)
            return (payload.rsplit(":", 1)[-1], payload) if payload is not None else (key, None)
        return key, data


def message_of(update: Update) -> tuple[Message | None, bool]:
    """The message an update carries and whether it is an edit."""
    if update.message is not None:
        return update.message, False
    if update.edited_message is not None:
        return update.edited_message, True
    return None, False


def command_text(text: str) -> str:
    """``/status@tousu_bot 2611200001`` -> ``/status 2611200001``; unknown commands stay as typed."""
    head, _, rest = text.partition(" ")
    command = head.split("@", 1)[0].lower()
    mapped = COMMAND_TEXT.get(command)
    if mapped is None:
        return text
    return f"{mapped} {rest}".strip()


def media_kind(message: Message) -> str | None:
    """The evidence kind we keep, ``unsupported`` for other media, None for plain text."""
    if message.photo:
        return "photo"
    if message.document is not None:
        return "document"
    if message.voice is not None or message.audio is not None:
        return "voice"
    if message.location is not None:
        return "location"
    if message.text is not None:
        return None
    return "unsupported"


def to_inbound(
    update: Update,
    *,
    received_at: datetime,
    attachments: tuple[Attachment, ...] = (),
    kind_override: str | None = None,
    payloads: CallbackPayloads | None = None,
) -> InboundMessage | None:
    """The inbound message for an update, or None for updates we do not handle (polls, joins...)."""
    query = update.callback_query
    if query is not None and query.message is not None:
        text, payload = (payloads or CallbackPayloads()).decode(query.data or "")
        presser = query.from_user
        return InboundMessage(
            key=ConversationKey("telegram", str(query.message.chat.id)),
            text=text,
            payload=payload,
            message_id=f"u{update.update_id}",
            received_at=received_at,
            kind="text",
            language_hint=presser.language_code if presser else None,
            display_name=presser.full_name if presser else None,
        )
    message, edited = message_of(update)
    if message is None:
        return None
    kind = kind_override or media_kind(message) or "text"
    if kind == "location" and message.location is not None:
        text = f"{message.location.latitude:.6f},{message.location.longitude:.6f}"
    elif kind == "text":
        text = command_text(message.text or "")
    else:
        text = message.caption or ""
    user = message.from_user
    return InboundMessage(
        key=ConversationKey("telegram", str(message.chat.id)),
        text=text,
        message_id=f"{'e' if edited else 'u'}{update.update_id}",
        received_at=received_at,
        attachments=attachments,
        kind=kind,
        language_hint=user.language_code if user else None,
        display_name=user.full_name if user else None,
    )
