"""The callback's security and XML: signatures checked in constant time, a replay window with a
nonce cache, safe mode that cannot be downgraded to plaintext, hostile XML refused before any parser
sees it, every field checked before wechatpy reads it, and replies rendered plain or encrypted."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

log = logging.getLogger(__name__)

NONCE_CAPACITY = 100_000
"""Callbacks remembered per replay window; WeChat would have to send 330 a second to fill it."""

MAX_DEPTH = 8
"""Element nesting allowed inside a field (WeChat's deepest, SendPicsInfo's PicList items, is 4)."""

_DIGITS = re.compile(r"[0-9]{1,20}")
_TIMESTAMP = re.compile(r"[0-9]{1,10}")
_NONCE = re.compile(r"[0-9A-Za-z_-]{1,64}")
_OPENID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_MSG_TYPE = re.compile(r"[A-Za-z_]{1,32}")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

TEXT_FIELDS = frozenset(
    {
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "MsgId",
        "MsgID",
        "Content",
        "MediaId",
        "PicUrl",
        "Format",
        "Recognition",
        "ThumbMediaId",
        "Location_X",
        "Location_Y",
        "Scale",
        "Label",
        "Title",
        "Description",
        "Url",
        "Event",
        "EventKey",
    }
)
"""Fields wechatpy or we read as text: a nested element there would be read as a dict."""


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
    if not _TIMESTAMP.fullmatch(timestamp):
        raise CallbackRefused(403, "bad timestamp")
    if abs((now or time.time()) - int(timestamp)) > window:
        raise CallbackRefused(403, "timestamp outside the replay window")


class NonceCache:
    """The (timestamp, nonce) pairs of verified callbacks still inside the replay window, each with
    a digest of its body: the URL signature covers only the pair, so a captured callback could
    otherwise carry another body within the window. The same pair with the same body is let
    through: it is WeChat's own retry (whether WeChat signs retries anew is not documented), or a
    replay the message-id de-duplication answers exactly as before and never processes twice.
    Older pairs need no memory (their timestamp is refused); past ``capacity`` the oldest are
    forgotten, with a warning."""

    def __init__(self, window: int, capacity: int = NONCE_CAPACITY):
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def use(self, timestamp: str, nonce: str, body: bytes, now: float | None = None) -> None:
        """Record a pair and its body, refusing the pair with any other body."""
        now = now or time.time()
        while self._seen and next(iter(self._seen.values()))[0] < now:
            self._seen.popitem(last=False)
        key, digest = (timestamp, nonce), hashlib.sha256(body).digest()
        seen = self._seen.get(key)
        if seen is not None:
            if not hmac.compare_digest(seen[1], digest):
                raise CallbackRefused(403, "timestamp and nonce replayed with another body")
            return
        self._seen[key] = (int(timestamp) + self.window + 1, digest)
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
            log.warning("WeChat nonce cache full (%d): forgetting the oldest", self.capacity)


def refuse_hostile(xml: bytes | str) -> str:
    """The body as text, refusing non-UTF-8 and DTDs or entities (XXE, billion laughs) before parsing."""
    try:
        text = xml.decode("utf-8", errors="strict") if isinstance(xml, bytes) else xml
    except UnicodeDecodeError as exc:
        raise CallbackRefused(400, "body is not UTF-8") from exc
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise CallbackRefused(400, "XML with a DTD or entities")
    return text


@dataclass(frozen=True, slots=True)
class Callback:
    """One checked message: wechatpy's object and the raw fields it was read from."""

    message: Any
    fields: Mapping[str, Any]  # text, or nested elements in fields we do not read


def _depth(value: Any) -> int:
    """How deep elements nest (iteratively: the message id's hash would recurse)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
    return deepest


def check_fields(fields: Mapping[str, Any], account: str | None) -> None:
    """Every field wechatpy converts or we read, checked so that reading it cannot fail or lie."""
    for name, value in fields.items():
        if isinstance(value, list):
            raise CallbackRefused(400, f"{name[:40]} given {len(value)} times")
        if name in TEXT_FIELDS and not (value is None or isinstance(value, str)):
            raise CallbackRefused(400, f"{name} is not text")
        if _depth(value) > MAX_DEPTH:
            raise CallbackRefused(400, f"{name[:40]} nested too deep")
    to, sender = fields.get("ToUserName"), fields.get("FromUserName")
    if not to or not _OPENID.fullmatch(to) or (account is not None and to != account):
        raise CallbackRefused(400, "ToUserName is not this account")
    if not sender or not _OPENID.fullmatch(sender):
        raise CallbackRefused(400, "FromUserName missing or malformed")
    if not _MSG_TYPE.fullmatch(fields.get("MsgType") or ""):
        raise CallbackRefused(400, "MsgType missing or malformed")
    if not _TIMESTAMP.fullmatch(fields.get("CreateTime") or ""):
        raise CallbackRefused(400, "CreateTime missing or not a number")
    for name in ("MsgId", "MsgID"):
        if fields.get(name) is not None and not _DIGITS.fullmatch(fields[name]):
            raise CallbackRefused(400, f"{name} is not a number")


def parse(xml: str, account: str | None = None) -> Callback:
    """The checked message; anything malformed or wrong is a 400, never a crash."""
    text = refuse_hostile(xml)
    try:
        tree = xmltodict.parse(text)
    except Exception as exc:  # expat errors
        raise CallbackRefused(400, f"malformed XML: {type(exc).__name__}") from exc
    fields = tree.get("xml") if isinstance(tree, dict) else None
    if not isinstance(fields, dict):
        raise CallbackRefused(400, "no <xml> message")
    check_fields(fields, account)
    try:
        message = parse_message(text)
    except Exception as exc:
        raise CallbackRefused(400, f"unreadable message: {type(exc).__name__}") from exc
    return Callback(message, fields)


def cdata_safe(text: str) -> str:
    """Text that survives wechatpy's ``<![CDATA[...]]>``: a ``]]>`` is split across two sections
    and characters XML 1.0 forbids are dropped."""
    return _XML_INVALID.sub("", text).replace("]]>", "]]]]><![CDATA[>")


class Envelope:
    """Plain mode, or safe mode when an AES key is configured: then every body must be encrypted
    and carry a valid ``msg_signature``, whatever the query's ``encrypt_type`` claims."""

    def __init__(self, token: str, aes_key: str | None, app_id: str, window: int = 300):
        self.token = token
        self.window = window
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.nonces = NonceCache(window)

    def open(self, body: bytes, query: Mapping[str, str], now: float | None = None) -> str:
        """The inner message XML of a POST, after every check."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        check_timestamp(timestamp, self.window, now)
        if not _NONCE.fullmatch(nonce):
            raise CallbackRefused(403, "bad nonce")
        check_signature(self.token, query.get("signature", ""), timestamp, nonce)
        text = refuse_hostile(body)
        if self.crypto is None:
            if query.get("encrypt_type") == "aes":
                raise CallbackRefused(400, "encrypted message but no encoding_aes_key configured")
            self.nonces.use(timestamp, nonce, body, now)
            return text
        if query.get("encrypt_type") != "aes":
            raise CallbackRefused(400, "plaintext refused: safe mode is configured")
        try:
            inner = self.crypto.decrypt_message(text, query.get("msg_signature", ""), timestamp, nonce)
        except (InvalidSignatureException, InvalidAppIdException) as exc:
            raise CallbackRefused(403, "bad message signature") from exc
        except Exception as exc:
            raise CallbackRefused(400, f"undecryptable message: {type(exc).__name__}") from exc
        if not isinstance(inner, str):
            raise CallbackRefused(400, "undecryptable message")
        self.nonces.use(timestamp, nonce, inner.encode(), now)  # the message, not its random padding
        return refuse_hostile(inner)

    def reply(self, message: Any, content: str, query: Mapping[str, str]) -> str:
        xml: str = TextReply(message=message, content=cdata_safe(content)).render()
        if self.crypto is not None:
            encrypted: str = self.crypto.encrypt_message(xml, query.get("nonce", ""), query.get("timestamp"))
            return encrypted
        return xml
