"""The customer chat page at /chat. Each browser gets a server-issued secret in an HttpOnly
cookie; its conversation is keyed by a public id derived from that secret (what staff see);
replies go to its open WebSockets and the page reloads the transcript on connect, so a reply sent
while the page was closed is shown when it opens again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path, PurePath

from fastapi import WebSocket

from bot.channels.base import Channel, DeliveryLimits, OutboundMessage, button_key

log = logging.getLogger(__name__)


FILES_PATH = "/chat/files/"
KEY_FILE = "chat_cookie.key"
MAX_COOKIE = 128


class ChatIdentity:
    """A browser's chat identity. The cookie is ``secret.signature``: a random secret and its
    HMAC under the server's key, so a value the server never issued is refused without storing
    anything. The conversation key (``public_id``), which staff see and which lands in logs and
    folder names, is a one-way hash of the secret: knowing it does not give the cookie."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the chat cookie key needs at least 16 bytes")
        self._key = key

    @classmethod
    def load(cls, secret: str | None, data_dir: Path) -> ChatIdentity:
        """The key is ``web.session_secret`` when set (every worker shares the config), else a
        random key kept in ``<data_dir>/chat_cookie.key`` (0600), created on first use."""
        if secret:
            return cls(hashlib.sha256(b"tousu-chat-key:" + secret.encode()).digest())
        path = data_dir / KEY_FILE
        try:
            return cls(path.read_bytes())
        except FileNotFoundError:
            pass
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker made it first
            return cls(path.read_bytes())
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        return cls(key)

    def _sign(self, secret: str) -> str:
        mac = hmac.new(self._key, b"tousu-chat-cookie:" + secret.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    @staticmethod
    def _public(secret: str) -> str:
        return "w" + hashlib.sha256(b"tousu-chat-id:" + secret.encode()).hexdigest()[:23]

    def issue(self) -> tuple[str, str]:
        """A new cookie value and the public id it stands for."""
        secret = secrets.token_urlsafe(32)
        return f"{secret}.{self._sign(secret)}", self._public(secret)

    def public_id(self, cookie: str | None) -> str | None:
        """The public id of a cookie this server issued; None for anything else."""
        if not cookie or len(cookie) > MAX_COOKIE:
            return None
        secret, dot, signature = cookie.partition(".")
        if not dot or len(secret) < 32:
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(secret).encode()):
            return None
        return self._public(secret)


def message_json(message: OutboundMessage) -> dict[str, object]:
    return {
        "from": "agent" if message.author.startswith("agent:") else "bot",  # a person wrote it
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
