"""The request-body cap, for every HTTP route in one place: a pure ASGI middleware that counts the
bytes of the body as the app reads them and answers 413 as soon as they pass the route's limit,
whether the client declared a Content-Length or streamed the body in chunks. Nothing past the
limit is read, so neither a form parser nor a webhook's signature check sees an oversized body."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """Raised into the app from ``receive`` when the body passed its limit; the app's own answer
    is dropped and the client gets 413."""


LimitFor = Callable[[Scope], int]


class BodyLimit:
    """The cap as middleware (``app.add_middleware(BodyLimit, limit_for=...)``), so it covers
    every HTTP route, the channels' webhooks too. Added last, it is the outermost of the app's
    own middleware: none of them reads a body past the cap either."""

    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await limited(self.app, self.limit_for, scope, receive, send)


async def limited(app: ASGIApp, limit_for: LimitFor, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` on an HTTP request whose body may not exceed ``limit_for(scope)`` bytes."""
    limit = limit_for(scope)
    declared = _content_length(scope)
    if declared == -1:
        await _answer(send, 400)
        return
    if declared is not None and declared > limit:
        await _answer(send, 413)
        return
    received = 0
    refused = False
    started = False

    async def counting_receive() -> Message:
        nonlocal received, refused
        if refused:
            raise BodyTooLarge()
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                refused = True
                raise BodyTooLarge()
        return message

    async def guarded_send(message: Message) -> None:
        nonlocal started
        if refused:
            return  # the app's answer to BodyTooLarge (often a 500) is replaced by the 413
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, counting_receive, guarded_send)
    except Exception:
        if not refused:
            raise
    if refused:
        log.info("request body over %d bytes refused on %s", limit, scope.get("path", ""))
        if not started:
            await _answer(send, 413)


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when absent (chunked), -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


async def _answer(send: Send, status: int) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
        }
    )
    text = b"request body too large" if status == 413 else b"bad request"
    await send({"type": "http.response.body", "body": text})
