"""The channels' webhooks as ordinary routes, under the app's whole middleware stack (the body
cap first): the WeChat callback (GET: WeChat's URL check, POST: messages and events) and the
Telegram webhook. A route only moves bytes: the channel's inbound side checks authenticity,
drops duplicates and keeps WeChat's 5 s (bot/channels/wechat.py, telegram.py).

The webhook path is the hot one: each is a plain Starlette route (``APIRouter.add_route``), so
FastAPI solves no parameters for it, and is bound to its channel when the app is built, never
looked up per request. A handler that raises is the app's 500, which makes the platform deliver
again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from bot.channels.base import Channel, WebhookReply

if TYPE_CHECKING:
    from bot.channels.telegram import TelegramChannel
    from bot.channels.wechat import WeChatChannel

WECHAT_CALLBACK = "/wechat/callback"
TELEGRAM_WEBHOOK = "/telegram/webhook"
TELEGRAM_SECRET = "X-Telegram-Bot-Api-Secret-Token"


def webhook_router(channels: Mapping[str, Channel]) -> APIRouter:
    """The webhook routes of the configured channels that take them (Telegram only in webhook
    mode). The channel modules are imported here, not at the top: a platform's library loads
    only when its channel is configured, and then it is loaded already (bot/app.py)."""
    router = APIRouter(include_in_schema=False)
    if "wechat" in channels:
        from bot.channels.wechat import WeChatChannel

        wechat = channels["wechat"]
        if isinstance(wechat, WeChatChannel):
            add_wechat(router, wechat)
    if "telegram" in channels:
        from bot.channels.telegram import TelegramChannel

        telegram = channels["telegram"]
        if isinstance(telegram, TelegramChannel) and telegram.uses_webhook:
            add_telegram(router, telegram)
    return router


def add_wechat(router: APIRouter, channel: WeChatChannel) -> None:
    async def wechat_check(request: Request) -> Response:
        return _response(channel.verify(request.query_params))

    async def wechat_callback(request: Request) -> Response:
        body = await request.body()  # at most wechat.max_body_bytes (bot/web/server.py, body_limits)
        return _response(await channel.callback(body, dict(request.query_params)))

    router.add_route(WECHAT_CALLBACK, wechat_check, methods=["GET"])
    router.add_route(WECHAT_CALLBACK, wechat_callback, methods=["POST"])


def add_telegram(router: APIRouter, channel: TelegramChannel) -> None:
    async def telegram_webhook(request: Request) -> Response:
        if not channel.authentic(request.headers.get(TELEGRAM_SECRET, "")):
            return Response(status_code=403)  # before the body is read
        return _response(await channel.on_webhook(await request.body()))

    router.add_route(TELEGRAM_WEBHOOK, telegram_webhook, methods=["POST"])


def _response(reply: WebhookReply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)
