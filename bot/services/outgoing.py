"""Replies on their way out: written to the transcript as outbox rows (their delivery state is
the row's), and returned as the messages and outbox items the delivery queues take after the
commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bot.channels.base import OutboundMessage
from bot.services.delivery import OutboxItem
from dialogues.types import Attachment, ConversationKey, Reply
from storage.repositories import transcript


def attachment_dict(attachment: Attachment) -> dict[str, Any]:
    """How an attachment is kept in a transcript row."""
    return {
        "kind": attachment.kind,
        "ref": attachment.ref,
        "name": attachment.name,
        "mime": attachment.mime,
        "size": attachment.size,
    }


def queue_replies(
    conn: Connection,
    *,
    key: ConversationKey,
    conversation_id: int,
    customer_id: int,
    replies: Sequence[Reply],
    placeholders: Mapping[str, str],
    now: datetime,
    author: str = "bot",
) -> tuple[list[OutboundMessage], list[OutboxItem]]:
    """Write ``replies`` (placeholders such as ``{ticket_number}`` filled in) as outbox rows."""
    rows: list[transcript.OutgoingRow] = []
    messages: list[OutboundMessage] = []
    for reply in replies:
        text = reply.text
        for marker, value in placeholders.items():
            text = text.replace(marker, value)
        rows.append(
            transcript.OutgoingRow(
                text=text,
                buttons=[{"label": b.label, "payload": b.payload} for b in reply.buttons],
                attachments=[attachment_dict(a) for a in reply.attachments],
                author=author,
            )
        )
        messages.append(
            OutboundMessage(text=text, buttons=reply.buttons, attachments=reply.attachments, author=author)
        )
    ids = transcript.insert_outgoing(
        conn,
        conversation_id=conversation_id,
        customer=customer_id,
        channel=key.channel,
        user_id=key.user_id,
        rows=rows,
        now=now,
    )
    outbox = [
        OutboxItem(id=row_id, channel=key.channel, user_id=key.user_id, message=message)
        for row_id, message in zip(ids, messages, strict=True)
    ]
    return messages, outbox
