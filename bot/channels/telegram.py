"""Telegram, on a plain python-telegram-bot ``Bot`` (not its Application): we decide when an
update counts as received. Polling advances the offset, and the webhook answers 200, only after
the message is stored, so a crash between the two makes Telegram deliver it again and the
transcript's unique message id drops the copy. The webhook's route is bot/web/webhooks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from telegram import Bot as TelegramBot
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.base import (
    Channel,
    DeliveryError,
    DeliveryLimits,
    InboundSink,
    OutboundMessage,
    WebhookReply,
)
from bot.channels.telegram_files import TelegramFiles
from bot.channels.telegram_updates import CallbackPayloads, message_of, readable, to_inbound
from dialogues.types import Attachment
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.settings import Settings
    from storage.db import Database

log = logging.getLogger(__name__)

MAX_TEXT = 4096
COMMANDS = {
    None: [
        ("start", "重新开始"),
        ("help", "使用帮助"),
        ("status", "查询工单进度"),
        ("cancel", "取消本次服务"),
        ("human", "转人工客服"),
        ("lang", "切换语言 / Language"),
    ],
    "en": [
        ("start", "Start over"),
        ("help", "How to use"),
        ("status", "Check my ticket"),
        ("cancel", "Cancel"),
        ("human", "Talk to a person"),
        ("lang", "Language / 切换语言"),
    ],
}
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Telegram refuses messages over 4096 characters: cut at line ends where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


class PollerLease(Protocol):
    """One process at a time polls (bot/services/roles.py): two getUpdates callers fight."""

    async def hold(self) -> bool: ...

    async def release(self) -> None: ...


class TelegramChannel(Channel):
    name = "telegram"
    supports_buttons = True

    def __init__(self, settings: Settings, bot: TelegramBot | None = None, poller: PollerLease | None = None):
        tg = settings.telegram
        self.poller = poller
        self.polls = 0  # getUpdates calls made
        assert tg.token is not None
        self.settings = settings
        self.mode = tg.mode
        self.poll_timeout = tg.poll_timeout_seconds
        self.limits = DeliveryLimits(
            per_chat_interval=settings.outbox.per_chat_interval_seconds,
            global_rate=settings.outbox.global_rate_per_second,
        )
        self.bot = bot or TelegramBot(
            tg.token.get_secret_value(),
            base_url=tg.base_url,
            base_file_url=tg.base_file_url,
            request=HTTPXRequest(connection_pool_size=64, read_timeout=10.0),
            get_updates_request=HTTPXRequest(connection_pool_size=2, read_timeout=self.poll_timeout + 10.0),
        )
        self.files = TelegramFiles(
            self.bot, settings.path(settings.attachments.dir) / "telegram", settings.attachments.max_bytes
        )
        self._secret = tg.secret_token.get_secret_value() if tg.secret_token else None
        self._sink: InboundSink | None = None
        self._task: asyncio.Task[None] | None = None
        self.offset: int | None = None
        self.payloads = CallbackPayloads()
        # Parts of a long text already delivered, so a retry after a failed later part repeats none.
        self._parts_sent: OrderedDict[tuple[str, OutboundMessage], int] = OrderedDict()
        self.staff_link: Callable[[str, str], Awaitable[str]] | None = None
        """Answers ``/link CODE`` (text, chat id): a staff member linking this chat for
        notifications; such a message is not a customer's."""

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        try:
            await self.bot.initialize()
            await self._register()
        except TelegramError as exc:  # the bot still sends and polls; registration is retried on restart
            log.warning("Telegram start-up calls failed: %s", exc)
        if self.mode == "polling":
            self._task = asyncio.create_task(self._poll(), name="telegram-polling")

    async def _register(self) -> None:
        tg = self.settings.telegram
        if self.mode == "webhook":
            if not tg.webhook_url:
                log.error("telegram.webhook_url is not set; Telegram cannot reach the webhook")
            else:
                await self.bot.set_webhook(
                    tg.webhook_url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES
                )
        else:
            await self.bot.delete_webhook()
        for language, commands in COMMANDS.items():
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in commands], language_code=language)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.poller is not None:
            with contextlib.suppress(Exception):
                await self.poller.release()
        with contextlib.suppress(Exception):
            await self.bot.shutdown()

    async def _poll(self) -> None:
        backoff = 1.0
        while True:
            try:
                if self.poller is not None and not await self.poller.hold():
                    self.offset = None  # the holder acknowledges; take up from Telegram's next
                    await asyncio.sleep(poller_retry_seconds(self.poll_timeout))
                    continue
                self.polls += 1
                updates = await self.bot.get_updates(
                    offset=self.offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
                for update in updates:
                    await self.receive(update)
                    self.offset = update.update_id + 1  # acknowledged only once stored
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc))
            except Conflict:  # a webhook is still set (start-up could not delete it)
                log.warning("Telegram polling conflicts with a webhook or another poller; deleting webhook")
                with contextlib.suppress(TelegramError):
                    await self.bot.delete_webhook()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
            except Exception:
                log.warning("Telegram polling failed; retrying in %.0f s", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def receive(self, update: Update) -> bool:
        """Store one update (False: a duplicate or nothing for us). Raises when it could not be
        stored, so the caller does not acknowledge it."""
        assert self._sink is not None, "channel not started"
        if not readable(update.to_dict()):  # polled: PTB does not check types either
            log.warning("Telegram: unreadable update %d skipped", update.update_id)
            return False
        message, _ = message_of(update)
        if self.staff_link is not None and message is not None and (message.text or "").startswith("/link"):
            answer = await self.staff_link(message.text or "", str(message.chat.id))
            await self.bot.send_message(message.chat.id, answer)
            return False
        attachments, kind = await self.files.fetch(message) if message is not None else ((), None)
        inbound = to_inbound(
            update, received_at=utcnow(), attachments=attachments, kind_override=kind, payloads=self.payloads
        )
        if inbound is None:
            return False
        stored = await self._sink.accept(inbound)
        if update.callback_query is not None:
            await self._close_keyboard(update)
        return stored

    async def _close_keyboard(self, update: Update) -> None:
        """Answer the button press and take the keyboard off the answered question."""
        query = update.callback_query
        assert query is not None
        with contextlib.suppress(TelegramError):
            await self.bot.answer_callback_query(query.id)
        if query.message is not None:
            with contextlib.suppress(TelegramError):
                await self.bot.edit_message_reply_markup(
                    chat_id=query.message.chat.id, message_id=query.message.message_id, reply_markup=None
                )

    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        markup = None
        if message.buttons:
            markup = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(b.label[:64], callback_data=self.payloads.encode(b.payload))]
                    for b in message.buttons
                ]
            )
        parts: list[str | Attachment] = []
        if message.text or not message.attachments:
            parts.extend(split_text(message.text or " "))
        parts.extend(a for a in message.attachments if os.path.isabs(a.ref))  # files in our storage
        texts = [i for i, part in enumerate(parts) if isinstance(part, str)]
        markup_at = texts[-1] if texts else -1
        progress = (user_id, message)
        done = self._parts_sent.pop(progress, 0)
        sent_id: str | None = None
        for index in range(done, len(parts)):
            part = parts[index]
            try:
                if isinstance(part, str):
                    sent = await self.bot.send_message(
                        chat_id=int(user_id), text=part, reply_markup=markup if index == markup_at else None
                    )
                else:
                    sent = await self._send_file(int(user_id), part)
            except OSError as exc:
                raise DeliveryError(f"attachment unreadable: {exc.strerror}", permanent=True) from exc
            except TelegramError as exc:
                if index > 0:
                    self._remember_progress(progress, index)
                raise delivery_error(exc) from exc
            sent_id = str(sent.message_id)
        return sent_id

    async def _send_file(self, chat_id: int, attachment: Attachment) -> Message:
        """A file an agent attached, uploaded from attachment storage."""
        data = await asyncio.to_thread(Path(attachment.ref).read_bytes)
        name = attachment.name or Path(attachment.ref).name
        if attachment.kind == "photo":
            return await self.bot.send_photo(chat_id=chat_id, photo=data, filename=name)
        return await self.bot.send_document(chat_id=chat_id, document=data, filename=name)

    def _remember_progress(self, progress: tuple[str, OutboundMessage], parts: int) -> None:
        self._parts_sent[progress] = parts
        while len(self._parts_sent) > 1000:
            self._parts_sent.popitem(last=False)

    def refuses_file(self, mime: str) -> str | None:
        return None  # photos go as photos, everything else as documents

    @property
    def uses_webhook(self) -> bool:
        """Whether Telegram posts updates to us (``telegram.mode: webhook``) instead of being polled."""
        return self.mode == "webhook"

    def authentic(self, secret: str) -> bool:
        """Whether a webhook delivery carries our secret (its ``X-Telegram-Bot-Api-Secret-Token``);
        asked before the body is read."""
        return self._secret is not None and hmac.compare_digest(secret.encode(), self._secret.encode())

    async def on_webhook(self, body: bytes) -> WebhookReply:
        """One authentic webhook delivery: 200 once stored (or unreadable), 503 when it could
        not be stored.

        Past the secret only Telegram (or someone holding the secret) writes. An update we cannot
        read never becomes readable, and any non-2xx makes Telegram redeliver it for up to a day,
        hold back that chat's later updates and slow the bot's delivery: so it is logged and
        confirmed (200), never stored under a made-up identity."""
        try:
            data: Any = json.loads(body)
        except (ValueError, RecursionError):  # not JSON or UTF-8, too many digits, nested too deep
            data = None
        update: Update | None = None
        if readable(data):
            with contextlib.suppress(Exception):  # fields PTB requires (chat type, first name...)
                update = Update.de_json(data, self.bot)
        if update is None:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            log.warning("Telegram webhook: unreadable update ignored (update_id %r)", update_id)
            return WebhookReply(200)
        try:
            await self.receive(update)
        except Exception as exc:  # not stored: not confirmed, so Telegram delivers it again
            log.warning("Telegram webhook: update %d not stored (%s)", update.update_id, type(exc).__name__)
            return WebhookReply(503)
        return WebhookReply(200)


def retry_seconds(exc: RetryAfter) -> float:
    """Seconds to wait; PTB 22 warns that ``retry_after`` will become a timedelta, so take both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def delivery_error(exc: TelegramError) -> DeliveryError:
    """Whether the outbox should wait, retry or give up on a failed send."""
    if isinstance(exc, RetryAfter):
        return DeliveryError("Telegram flood control", retry_after=retry_seconds(exc))
    if isinstance(exc, Forbidden):  # blocked by the user, or the account is gone
        return DeliveryError(f"Telegram refused: {exc.message}", permanent=True)
    if isinstance(exc, BadRequest):  # "chat not found" and other requests that will never work
        return DeliveryError(f"Telegram bad request: {exc.message}", permanent=True)
    # NetworkError (timeouts, 5xx, connection errors) and anything else: worth retrying
    return DeliveryError(f"Telegram unreachable: {exc.message}")


def poller_lease_seconds(poll_timeout: float) -> float:
    """The poller's lease outlives a long poll and its updates; a dead poller's successor starts
    within this (plus a retry)."""
    return 2 * poll_timeout + 5


def poller_retry_seconds(poll_timeout: float) -> float:
    return poller_lease_seconds(poll_timeout) / 3


def build_telegram_channel(settings: Settings, db: Database) -> TelegramChannel:
    from bot.domain.catalog import Catalog
    from bot.services.notifications import link_from_chat
    from bot.services.roles import RoleLease

    seconds = poller_lease_seconds(settings.telegram.poll_timeout_seconds)
    channel = TelegramChannel(settings, poller=RoleLease(db, "telegram-poller", seconds=seconds))
    texts = Catalog.load()
    channel.staff_link = lambda text, chat: link_from_chat(db, texts, text, chat, utcnow())
    return channel
