"""The customer chat page at /chat. Each browser gets an unguessable id in an HttpOnly cookie;
replies go to its open WebSockets and the page reloads the transcript on connect, so a reply sent
while the page was closed is shown when it opens again."""

from __future__ import annotations

import logging
from pathlib import PurePath

from fastapi import WebSocket

from bot.channels.base import Channel, DeliveryLimits, OutboundMessage, button_key

log = logging.getLogger(__name__)


FILES_PATH = "/chat/files/"


def message_json(message: OutboundMessage) -> dict[str, object]:
    return {
        "from": "bot",
        "text": message.text,
        "buttons": [{"key": button_key(b), "label": b.label, "payload": b.payload} for b in message.buttons],
        # files an agent sent: stored under a random name, served only to this chat's cookie
        "files": [
            {"name": a.name or "file", "url": FILES_PATH + PurePath(a.ref).name}
            for a in message.attachments
            if PurePath(a.ref).is_absolute()
        ],
    }


class WebChatChannel(Channel):
    name = "webchat"
    supports_buttons = True
    limits = DeliveryLimits()

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocket]] = {}

    def connect(self, user_id: str, socket: WebSocket) -> None:
        self._sockets.setdefault(user_id, set()).add(socket)

    def disconnect(self, user_id: str, socket: WebSocket) -> None:
        sockets = self._sockets.get(user_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[user_id]

    def refuses_file(self, mime: str) -> str | None:
        return None  # a download link, served only to the customer's browser

    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        for socket in list(self._sockets.get(user_id, ())):
            try:
                await socket.send_json(message_json(message))
            except Exception:  # a closed tab; the transcript shows the reply on its next visit
                self.disconnect(user_id, socket)
        return None
