"""The callback's security and XML: signatures checked in constant time, a replay window, hostile
XML refused before any parser sees it, and replies rendered plain or encrypted (safe mode)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply


class CallbackRefused(Exception):
    """The callback is not accepted; ``status`` is the HTTP answer (400, 403, 413)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(token: str, given: str, timestamp: str, nonce: str) -> None:
    if not hmac.compare_digest(signature(token, timestamp, nonce).encode(), given.encode()):
        raise CallbackRefused(403, "bad signature")


def check_timestamp(timestamp: str, window: int, now: float | None = None) -> None:
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise CallbackRefused(403, "bad timestamp") from exc
    if abs((now or time.time()) - sent) > window:
        raise CallbackRefused(403, "timestamp outside the replay window")


def refuse_hostile(xml: bytes | str) -> str:
    """The body as text, refusing DTDs and entities (XXE, billion laughs) before parsing."""
    text = xml.decode("utf-8", errors="strict") if isinstance(xml, bytes) else xml
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise CallbackRefused(400, "XML with a DTD or entities")
    return text


def parse(xml: str) -> Any:
    """wechatpy's message object; malformed XML is a 400, never a crash."""
    try:
        message = parse_message(refuse_hostile(xml))
    except CallbackRefused:
        raise
    except Exception as exc:  # expat errors, missing MsgType, ...
        raise CallbackRefused(400, f"malformed XML: {type(exc).__name__}") from exc
    if message is None:
        raise CallbackRefused(400, "empty message")
    return message


class Envelope:
    """Plain, compatible or safe mode, decided by the query (``encrypt_type=aes``)."""

    def __init__(self, token: str, aes_key: str | None, app_id: str):
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None

    def open(self, body: bytes, query: Mapping[str, str]) -> str:
        """The inner message XML of a POST, after every check."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        check_signature(self.token, query.get("signature", ""), timestamp, nonce)
        text = refuse_hostile(body)
        if query.get("encrypt_type", "raw") != "aes":
            return text
        if self.crypto is None:
            raise CallbackRefused(400, "encrypted message but no encoding_aes_key configured")
        try:
            inner = self.crypto.decrypt_message(text, query.get("msg_signature", ""), timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException) as exc:
            raise CallbackRefused(403, "bad message signature") from exc
        except Exception as exc:
            raise CallbackRefused(400, f"undecryptable message: {type(exc).__name__}") from exc
        return refuse_hostile(inner)

    def reply(self, message: Any, content: str, query: Mapping[str, str]) -> str:
        xml: str = TextReply(message=message, content=content).render()
        if query.get("encrypt_type", "raw") == "aes" and self.crypto is not None:
            encrypted: str = self.crypto.encrypt_message(xml, query.get("nonce", ""), query.get("timestamp"))
            return encrypted
        return xml
