"""The WeChat Official Account channel: the callback's inbound side (routed at ``/wechat/callback``
by bot/web/webhooks.py) and outbound messages.

WeChat waits 5 s for an answer and then retries the same message up to 3 times. So the callback
stores the message, runs the turn and, if its replies are ready within the budget (3 s by default),
returns them as the passive reply; otherwise it answers ``success`` and the outbox delivers them
through the customer-service API. A retry of a message already answered gets the same answer; a
retry of one still in progress waits for it. Nothing is processed twice: the transcript's unique
message id is the last word.

Stored before acknowledged: ``success`` is only answered for a message that is committed or,
when the database did not take it within the budget, written to the durable inbound spool
(bot/services/inbound_spool.py), since WeChat's three retries span ~15 s and a longer outage would lose it.
A passive answer carries only replies its turn's transaction marked delivered
(bot/channels/passive.py), so a restart never sends them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from wechatpy.exceptions import WeChatClientException

from bot.channels.base import (
    Channel,
    ClaimLost,
    DeliveryError,
    InboundSink,
    OutboundMessage,
    WebhookReply,
    claim_held,
    render_plain,
)
from bot.channels.passive import PassiveSlot
from bot.channels.wechat_api import TOKEN_ERRORS, SharedTokenClient
from bot.channels.wechat_inbound import is_event_id, message_id, to_inbound
from bot.channels.wechat_xml import CallbackRefused, Envelope, check_signature, parse
from bot.domain.send_quotas import next_day
from bot.services.inbound_spool import InboundSpool
from bot.services.wechat_quotas import Verdict, WeChatQuotas
from dialogues.types import Attachment, Button
from storage.models import Customer
from storage.repositories import transcript
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.services.inbox import Handled
    from bot.settings import Settings
    from storage.db import Database

log = logging.getLogger(__name__)

OUT_OF_WINDOW = {45015, 45047}  # "response out of time limit", "out of response count limit"
DAY_SPENT = 45009  # the API's daily quota
MINUTE_SPENT = 45011  # "api minute-quota reach limit, must slower, retry next minute"
ANSWERED_CACHE = 2048


class WeChatChannel(Channel):
    name = "wechat"
    supports_buttons = False

    def __init__(self, settings: Settings, db: Database, client: SharedTokenClient | None = None):
        wc = settings.wechat
        assert wc.app_id and wc.app_secret and wc.token
        self.settings = settings
        self.db = db
        self.token = wc.token.get_secret_value()
        aes = wc.encoding_aes_key.get_secret_value() if wc.encoding_aes_key else None
        self.envelope = Envelope(self.token, aes, wc.app_id, wc.replay_window_seconds)
        self.account = wc.account_id
        if self.account is None:
            log.warning("wechat.account_id is not set: callbacks addressed to any account are accepted")
        self.client = client or SharedTokenClient(
            wc.app_id, wc.app_secret.get_secret_value(), api_base_url=wc.api_base_url, db=db
        )
        self.quotas = WeChatQuotas(db, daily_limit=wc.daily_message_quota, is_event=is_event_id)
        self.budget = wc.reply_budget_seconds
        self.files = settings.path(settings.attachments.dir) / "wechat"
        self.max_file = settings.attachments.max_bytes
        self._sink: InboundSink | None = None
        self.spool = InboundSpool(settings.path(settings.general.data_dir) / "spool" / "wechat-inbound.jsonl")
        self._turns: set[asyncio.Task[Handled]] = set()
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self._answered: OrderedDict[str, str] = OrderedDict()

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        self.spool.start(sink.accept)  # what an earlier run spooled, and from now on

    async def stop(self) -> None:
        await self.spool.stop()
        if self._turns:  # each ends by itself: stored and answered, or refused by the database
            await asyncio.wait(set(self._turns))

    def _turn_done(self, turn: asyncio.Task[Handled]) -> None:
        """No turn's failure goes unseen: a message it could not store is in the spool."""
        self._turns.discard(turn)
        if not turn.cancelled() and turn.exception() is not None:
            exc = turn.exception()
            log.warning("a WeChat turn failed (%s: %s)", exc.__class__.__name__, exc)

    # -- inbound ---------------------------------------------------------------------------
    def refuses_file(self, mime: str) -> str | None:
        if mime.startswith("image/"):
            return None
        return "WeChat's customer-service API takes images only, not other files"

    def verify(self, query: Mapping[str, str]) -> WebhookReply:
        """WeChat's check of the callback URL: its ``echostr`` back when the signature is ours."""
        try:
            check_signature(
                self.token, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")
            )
        except CallbackRefused:
            return WebhookReply(403)
        return WebhookReply(body=query.get("echostr", ""), media_type="text/plain")

    async def callback(self, body: bytes, query: dict[str, str]) -> WebhookReply:
        """One message or event from WeChat: verified, answered passively when the turn is
        quick enough, else ``success`` (the reply follows through the API). The web app's body
        cap stops reading at ``wechat.max_body_bytes``; the check here holds without it."""
        if len(body) > self.settings.wechat.max_body_bytes:
            return WebhookReply(413)
        try:
            checked = parse(self.envelope.open(body, query), self.account)
        except CallbackRefused as exc:
            log.warning("WeChat callback refused (%d): %s", exc.status, exc.reason)
            return WebhookReply(exc.status)
        answer = await self.answer(checked.message, query, message_id(checked.fields))
        media = "application/xml" if answer != "success" else "text/plain"
        return WebhookReply(body=answer, media_type=media)

    async def answer(self, message: Any, query: dict[str, str], mid: str) -> str:
        """The HTTP body for one verified message (``mid``: its transcript id): a passive reply
        or ``success``."""
        if mid in self._answered:
            return self._answered[mid]
        running = self._inflight.get(mid)
        if running is not None:  # WeChat's retry while the first delivery is still being answered
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(running), self.budget + 1.0)
            return "success"
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[mid] = future
        try:
            body = await self._process(message, query, mid)
        except BaseException:
            future.cancel()
            raise
        finally:
            self._inflight.pop(mid, None)
        future.set_result(body)
        self._answered[mid] = body
        while len(self._answered) > ANSWERED_CACHE:
            self._answered.popitem(last=False)
        return body

    async def _process(self, message: Any, query: dict[str, str], mid: str) -> str:
        assert self._sink is not None, "channel not started"
        user = str(message.source)
        event = str(getattr(message, "event", "")).lower()
        if getattr(message, "type", "") == "event" and event == "unsubscribe":
            try:  # within the budget: a locked database must not hold WeChat past its 5 s
                await asyncio.wait_for(self.db.run(lambda s: _mark_unreachable(s, user)), self.budget)
            except (OperationalError, TimeoutError):  # a later send fails with 43004 and marks them
                log.warning("the database did not take a WeChat unsubscribe in time")
            return "success"
        attachments, kind = await self._download(message)
        inbound = to_inbound(
            message, message_id=mid, received_at=utcnow(), attachments=attachments, kind=kind
        )
        if inbound is None:
            return "success"
        passive = PassiveSlot(time.monotonic() + self.budget)
        turn = asyncio.create_task(self._sink.handle(inbound, passive=passive))
        self._turns.add(turn)
        turn.add_done_callback(self._turn_done)
        stored = asyncio.create_task(passive.stored.wait())
        try:
            await asyncio.wait({turn, stored}, timeout=self.budget, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stored.cancel()
        finished = turn.done() and not turn.cancelled() and turn.exception() is None
        if not passive.stored.is_set() and not finished:
            passive.close()
            await self.spool.put(inbound)  # on disk before WeChat hears ``success``
            log.warning("the database did not take a WeChat message in time; it waits in the spool")
            return "success"
        if finished and turn.result().duplicate:
            return await self._answer_again(message, query, mid)  # a duplicate
        remaining = passive.deadline - time.monotonic()
        if not turn.done() and remaining > 0:
            await asyncio.wait({turn}, timeout=remaining)
        if not turn.done() and passive.close():
            return "success"  # slow: the outbox sends the replies
        if not turn.done():  # claimed: its transaction is committing
            await asyncio.wait({turn})
        if passive.state != "claimed":  # no replies, or its transaction rolled back
            passive.close()
            return "success"
        return self.envelope.reply(message, "\n\n".join(render_plain(r) for r in passive.replies), query)

    async def _answer_again(self, message: Any, query: dict[str, str], mid: str) -> str:
        """A retry of a message stored before (by a process since restarted, or another worker):
        the same passive answer if one was given (the first may have died with the process; WeChat
        retries only what it did not receive), else ``success``."""
        try:
            rows = await self.db.run_core(
                lambda conn: transcript.passive_answer(conn, channel=self.name, message_id=mid)
            )
        except OperationalError:
            return "success"  # nothing to add: the first delivery's replies are its outbox's
        if not rows:
            return "success"
        texts = [
            render_plain(
                OutboundMessage(text=text, buttons=tuple(Button(b["label"], b["payload"]) for b in buttons))
            )
            for text, buttons in rows
        ]
        return self.envelope.reply(message, "\n\n".join(texts), query)

    async def _download(self, message: Any) -> tuple[tuple[Attachment, ...], str | None]:
        """(attachments, kind override): ``download_failed`` when WeChat would not serve the media,
        so the message is still stored, with the failure, and the customer asked to send it again."""
        mtype = getattr(message, "type", "")
        if mtype not in ("image", "voice") or (mtype == "voice" and getattr(message, "recognition", None)):
            return (), None
        media_id = str(message.media_id or "")
        try:
            if not media_id:
                raise ValueError("no MediaId")
            response = await asyncio.to_thread(self._call, self.client.media.download, media_id)
        except Exception as exc:  # API refusals, network errors: never a 500 that loses the message
            log.warning("WeChat media download failed: %s", type(exc).__name__)
            return (), "download_failed"
        content: bytes = getattr(response, "content", b"")
        if len(content) > self.max_file:
            return (), "too_large"
        fmt = str(getattr(message, "format", "") or "amr")
        suffix = ".jpg" if mtype == "image" else f".{fmt if fmt.isalnum() else 'amr'}"[:10]
        name = hashlib.sha256(media_id.encode()).hexdigest()[:32]  # MsgId may be missing
        target = self.files / str(message.source) / f"{name}{suffix}"
        await asyncio.to_thread(_write, target, content)
        kind = "photo" if mtype == "image" else "voice"
        return (Attachment(kind=kind, ref=str(target), size=len(content)),), None

    # -- outbound --------------------------------------------------------------------------
    async def send(self, user_id: str, message: OutboundMessage) -> str | None:
        photos = [a for a in message.attachments if a.kind == "photo" and os.path.isabs(a.ref)]
        result = await self._send_text(user_id, message) if message.text or not photos else None
        if photos and result != "template":
            for photo in photos:
                # once the text or a photo is out, retrying the message would send it twice
                permit = await self.quotas.take(user_id)
                if permit.verdict is not Verdict.SEND:
                    first = result is None
                    raise DeliveryError(
                        f"WeChat image not sent: {permit.verdict.value}",
                        permanent=not first or permit.verdict is Verdict.NO_ALLOWANCE,
                        retry_after=permit.retry_after if first and permit.retry_after else None,
                    )
                if result is None and not claim_held():  # nothing of it is out yet: let it go
                    await self.quotas.give_back(user_id)
                    raise ClaimLost()
                try:
                    await asyncio.to_thread(self._send_image, user_id, photo)
                except (OSError, WeChatClientException) as exc:
                    raise DeliveryError(f"WeChat image not sent: {exc}", permanent=True) from exc
                result = result or "custom"
        return result

    def _send_image(self, user_id: str, photo: Attachment) -> None:
        """An agent's photo: uploaded as temporary media, then sent through the customer-service API."""
        with open(photo.ref, "rb") as handle:
            uploaded = self._call(self.client.media.upload, "image", handle)
        self._call(self.client.message.send_image, user_id, uploaded["media_id"])

    async def _send_text(self, user_id: str, message: OutboundMessage) -> str | None:
        """A customer-service message while the customer's allowance lasts (the shared quotas,
        bot/services/wechat_quotas.py), else a template message."""
        text = render_plain(message)
        permit = await self.quotas.take(user_id)
        if permit.verdict is Verdict.DAY_SPENT:
            raise DeliveryError(
                "WeChat's customer-service messages for today are spent", retry_after=permit.retry_after
            )
        if permit.verdict is Verdict.SEND:
            if not claim_held():  # spending the quota took so long that another process may send it
                await self.quotas.give_back(user_id)
                raise ClaimLost()
            try:
                await asyncio.to_thread(self._call, self.client.message.send_text, user_id, text)
                return "custom"
            except WeChatClientException as exc:
                if exc.errcode not in OUT_OF_WINDOW:
                    await self.quotas.give_back(user_id)
                    raise _delivery_error(exc) from exc
                await self.quotas.used_up(user_id)
                log.info(
                    "WeChat customer-service window closed for a customer (%s); using a template", exc.errcode
                )
        else:
            log.info(
                "WeChat allows no more customer-service messages to a customer for now; using a template"
            )
        return await self._send_template(user_id, text)

    async def _send_template(self, user_id: str, text: str) -> str:
        templates = self.settings.wechat.templates
        template = templates.get("status_update") or next(iter(templates.values()), None)
        if not template:
            raise DeliveryError("outside WeChat's 48-hour window and no template configured", permanent=True)
        data = {"first": {"value": text[:200]}, "remark": {"value": ""}}
        if not claim_held():
            raise ClaimLost()
        try:
            await asyncio.to_thread(self._call, self.client.message.send_template, user_id, template, data)
        except WeChatClientException as exc:
            raise _delivery_error(exc) from exc
        log.info("WeChat reply sent as template message %s", template)
        return "template"

    def _call(self, fn: Any, *args: Any) -> Any:
        """One API call; a rejected token is refreshed once (if nobody else did) and retried."""
        token = self.client.access_token
        try:
            return fn(*args)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            self.client.refresh_if_current(token)
            return fn(*args)


def _delivery_error(exc: WeChatClientException) -> DeliveryError:
    code = exc.errcode
    if code == DAY_SPENT:  # the API's daily quota: tomorrow
        now = utcnow()
        return DeliveryError(f"WeChat busy ({code})", retry_after=(next_day(now) - now).total_seconds())
    if code == MINUTE_SPENT:
        return DeliveryError(f"WeChat busy ({code})", retry_after=60.0)
    if code == -1 or code is None:  # system busy: later
        return DeliveryError(f"WeChat busy ({code})")
    return DeliveryError(f"WeChat refused ({code}): {exc.errmsg}", permanent=True)


def _mark_unreachable(session: Session, user_id: str) -> None:
    customer = session.exec(
        select(Customer).where(Customer.channel == "wechat", Customer.external_id == user_id)
    ).first()
    if customer is not None:
        customer.unreachable = True
        session.add(customer)


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def build_wechat_channel(settings: Settings, db: Database) -> WeChatChannel:
    return WeChatChannel(settings, db)
