"""Telling staff of their work where they are: the console (its alert list and live count), and
by e-mail, Telegram and a department's WeCom group robot through ``staff_notifications``, a
persistent outbox retried like customer replies. Quiet hours hold back all but urgent news (a
major complaint, a breach); what arrives for one address within ``digest_minutes`` of the last
message there waits and goes out as one digest."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol
from zoneinfo import ZoneInfo

import aiosmtplib
import httpx
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.domain.alert_words import alert_text
from bot.domain.catalog import Catalog
from bot.domain.enums import NotificationStatus, NotifyChannel, NotifyFailure
from bot.domain.quiet_hours import QuietHours
from bot.services import departments, people
from bot.services.flow_catalog import FlowCatalog
from bot.settings import NotificationSettings, Settings
from dialogues.types import Language
from storage.db import Database
from storage.models import Conversation, Message, Staff, StaffAlert, StaffNotification, WebhookCursor
from storage.repositories import staff_notifications as outbox

log = logging.getLogger(__name__)

CODE_MINUTES = 15
"""How long a Telegram link code stays valid."""
CLAIM_SECONDS = 120.0
"""How long a process's claim on the rows it is sending holds; a process sends only within two
thirds of it (a transport waits 20 s at most), so a claim never runs out under a send."""


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_telegram_code(session: Session, username: str, *, now: datetime) -> str | None:
    """A one-time code the person sends the bot (``/link CODE``) to link their Telegram chat;
    only its hash is kept. None for an unknown or inactive person."""
    person = people.by_username(session, username)
    if person is None or not person.active:
        return None
    code = secrets.token_hex(4).upper()
    person.telegram_code_hash = _code_hash(code)
    person.telegram_code_until = now + timedelta(minutes=CODE_MINUTES)
    session.add(person)
    return code


async def link_from_chat(db: Database, texts: Catalog, text: str, chat_id: str, now: datetime) -> str:
    """The bot's answer to ``/link CODE`` from a Telegram chat (the chat is linked when valid)."""
    code = text.strip().split(maxsplit=1)[1] if len(text.split()) > 1 else ""
    person = await db.run(lambda s: link_telegram(s, code, chat_id, now=now))
    if person is None:
        return texts.both("notify.telegram_bad_code")
    return texts.both("notify.telegram_linked", name=person.display_name)


def link_telegram(session: Session, code: str, chat_id: str, *, now: datetime) -> Staff | None:
    """Link the chat that sent a valid code to its person (the code is used up)."""
    if not code.strip():
        return None
    person = session.exec(select(Staff).where(Staff.telegram_code_hash == _code_hash(code))).first()
    if person is None or person.telegram_code_until is None or person.telegram_code_until < now:
        return None
    person.telegram_chat_id = chat_id
    person.telegram_code_hash = None
    person.telegram_code_until = None
    if "telegram" not in person.notify:
        person.notify = [*person.notify, "telegram"]
    session.add(person)
    return person


TEST = "test"
URGENT_KINDS = frozenset({"major", "breach", "urge", TEST})
"""News that goes out in quiet hours too: a major complaint, a breach (``breach`` tells the
supervisor, ``urge`` the handler whose ticket it is), and a test (asked for now)."""


def _quiet(person: Staff, tz: ZoneInfo) -> QuietHours:
    if not person.quiet_from or not person.quiet_until:
        return QuietHours(tz, None, None)
    return QuietHours.parse(f"{person.quiet_from}-{person.quiet_until}", tz)


def channel_addresses(
    session: Session, person: Staff, channel: NotifyChannel, settings: NotificationSettings
) -> list[str]:
    """Where this person is reached on ``channel`` (chosen or not): their e-mail address, their
    linked Telegram chat, their departments' WeCom robots (as the departments table holds them);
    empty when nowhere yet."""
    if channel is NotifyChannel.EMAIL:
        return [person.email] if person.email else []
    if channel is NotifyChannel.TELEGRAM:
        return [person.telegram_chat_id] if person.telegram_chat_id else []
    if channel is NotifyChannel.WECOM:
        robots = departments.wecom_urls(session, settings)
        urls = [robots.get(d) for d in person.departments or ()]
        return list(dict.fromkeys(u for u in urls if u))
    return []


def addresses(session: Session, person: Staff, settings: NotificationSettings) -> list[tuple[str, str]]:
    """(channel, address) pairs this person chose and can be reached on."""
    chosen = set(person.notify or ())
    return [
        (channel.value, address)
        for channel in (NotifyChannel.EMAIL, NotifyChannel.TELEGRAM, NotifyChannel.WECOM)
        if channel.value in chosen
        for address in channel_addresses(session, person, channel, settings)
    ]


@dataclass(frozen=True, slots=True)
class TestResult:
    """How a test on one channel went: ``failure`` None when it went out (to ``sent``)."""

    channel: NotifyChannel
    failure: NotifyFailure | None
    sent: tuple[str, ...] = ()


def queue(
    session: Session,
    *,
    username: str,
    kind: str,
    subject: str,
    text: str,
    now: datetime,
    settings: NotificationSettings,
    tz: ZoneInfo,
    force: bool = False,
    words: Callable[[str, str], str] | None = None,
) -> int:
    """Queue a notification on each channel the person chose (in the caller's transaction);
    held until their quiet hours end unless urgent or ``force`` (a test). Returns the rows added."""
    person = people.by_username(session, username)
    if person is None or not person.active:
        return 0
    if words is not None:  # an alert's two-language text: the person's half, in words
        text = words(text, person.language)
        subject = text.splitlines()[0][:120] if text else subject
    urgent = force or kind in URGENT_KINDS
    due = now if urgent else _quiet(person, tz).shift(now)
    rows = [
        StaffNotification(
            username=username,
            channel=channel,
            address=address,
            kind=kind,
            subject=subject[:200],
            text=text,
            urgent=urgent,
            next_attempt_at=due,
            created_at=now,
        )
        for channel, address in addresses(session, person, settings)
    ]
    session.add_all(rows)
    return len(rows)


class NotifyError(Exception):
    """A failed send: ``message`` for the log, ``reason`` for the person (never shown raw)."""

    def __init__(
        self, message: str, *, permanent: bool = False, reason: NotifyFailure = NotifyFailure.UNREACHABLE
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.reason = reason


class Transport(Protocol):
    async def __call__(self, address: str, subject: str, text: str) -> None: ...


class Notifier:
    """Sends due staff notifications: one message per address, a digest when several are due,
    retried with the customer outbox's backoff until ``outbox.retry_hours`` have passed."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime],
        http: httpx.AsyncClient | None = None,
        transports: Mapping[str, Transport] | None = None,
        texts: Catalog | None = None,
        holder: str | None = None,
        claim_limit: int = 200,
        flows: FlowCatalog | None = None,
    ) -> None:
        self.flows = flows
        self.claim_limit = claim_limit
        self.monotonic: Callable[[], float] = time.monotonic
        self.listeners: list[Callable[[], None]] = []
        """Called when new staff alerts were fanned out (the console tells its open pages)."""
        self.db = db
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.texts = texts or Catalog.load()
        self.settings = settings
        self.clock = clock
        self.http = http
        self.transports: dict[str, Transport] = dict(
            transports or {"email": self.email, "telegram": self.telegram, "wecom": self.wecom}
        )

    # -- transports ---------------------------------------------------------------------------
    async def email(self, address: str, subject: str, text: str) -> None:
        conf = self.settings.notifications
        if not conf.smtp_host:
            raise NotifyError(
                "no SMTP server configured (notifications.smtp_host)",
                permanent=True,
                reason=NotifyFailure.NOT_CONFIGURED,
            )
        message = EmailMessage()
        message["From"] = conf.smtp_from
        message["To"] = address
        message["Subject"] = subject
        message.set_content(text)
        try:
            await aiosmtplib.send(
                message,
                hostname=conf.smtp_host,
                port=conf.smtp_port,
                username=conf.smtp_username,
                password=conf.smtp_password.get_secret_value() if conf.smtp_password else None,
                use_tls=conf.smtp_tls,
                timeout=20,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(f"refused: {exc}", permanent=True, reason=NotifyFailure.REFUSED) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise NotifyError(repr(exc)) from exc

    async def _post(self, url: str, body: dict[str, object]) -> dict[str, object]:
        client = self.http or httpx.AsyncClient(timeout=20)
        try:
            response = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise NotifyError(repr(exc)) from exc
        finally:
            if self.http is None:
                await client.aclose()
        if response.status_code >= 500 or response.status_code == 429:
            raise NotifyError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise NotifyError(
                f"HTTP {response.status_code}: {response.text[:200]}",
                permanent=True,
                reason=NotifyFailure.REFUSED,
            )
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def telegram(self, address: str, subject: str, text: str) -> None:
        token = self.settings.telegram.token
        if token is None:
            raise NotifyError(
                "no Telegram bot token configured", permanent=True, reason=NotifyFailure.NOT_CONFIGURED
            )
        url = f"{self.settings.telegram.base_url}{token.get_secret_value()}/sendMessage"
        data = await self._post(url, {"chat_id": address, "text": f"{subject}\n{text}"})
        if data.get("ok") is not True:
            raise NotifyError(
                str(data.get("description") or data)[:200], permanent=True, reason=NotifyFailure.REFUSED
            )

    async def wecom(self, address: str, subject: str, text: str) -> None:
        """A WeCom group robot: errcode 0 is success; 45009 (rate limit) is worth a retry."""
        data = await self._post(address, {"msgtype": "text", "text": {"content": f"{subject}\n{text}"}})
        code = data.get("errcode")
        if code == 45009:
            raise NotifyError(f"WeCom rate limit: {data.get('errmsg')}")
        if code != 0:
            raise NotifyError(
                f"WeCom errcode {code}: {data.get('errmsg')}", permanent=True, reason=NotifyFailure.REFUSED
            )

    # -- the outbox ---------------------------------------------------------------------------
    async def send_due(self) -> int:
        """Send everything due now that this process could claim; returns how many rows were
        finished with (sent or dead). A row is sent only while its claim surely holds (two thirds
        of ``CLAIM_SECONDS``); what is left then is released for the next round."""
        now = self.clock()
        fanned = await self.db.run(
            functools.partial(prepare, texts=self.texts, settings=self.settings, now=now, flows=self.flows)
        )
        if fanned:
            for listener in self.listeners:
                listener()
        gap = timedelta(minutes=self.settings.notifications.digest_minutes)
        until = now + timedelta(seconds=CLAIM_SECONDS)
        batches = await self.db.run(
            lambda s: outbox.claim_due(
                s, holder=self.holder, now=now, until=until, gap=gap, limit=self.claim_limit
            )
        )
        names = {r.username for rows in batches.values() for r in rows}
        languages = await self.db.run(lambda s: people.languages(s, names)) if batches else {}
        deadline = self.monotonic() + CLAIM_SECONDS * 2 / 3
        finished = 0
        left: list[int] = []
        for (channel, address), rows in batches.items():
            ids = [r.id for r in rows if r.id is not None]
            if self.monotonic() >= deadline:
                left.extend(ids)
                continue
            subject, text = self._compose(rows, languages.get(rows[0].username, "zh"))
            transport = self.transports.get(channel)
            error: NotifyError | None = None
            try:
                if transport is None:
                    raise NotifyError(f"no transport for {channel}", permanent=True)
                await transport(address, subject, text)
            except NotifyError as exc:
                error = exc
            except Exception as exc:  # an unexpected transport failure: retry, never crash
                log.exception("staff notification failed")
                error = NotifyError(repr(exc))
            finished += await self.db.run(functools.partial(self._record, ids=ids, error=error))
        if left:
            await self.db.run(lambda s: outbox.release(s, ids=left, holder=self.holder))
        return finished

    def _compose(self, rows: list[StaffNotification], language: Language = "zh") -> tuple[str, str]:
        if len(rows) < self.settings.notifications.digest_after:
            return rows[0].subject, "\n\n".join(r.text for r in rows)
        subject = self.texts.text("notify.digest_subject", language, count=len(rows))
        lines = (r.text if r.text.startswith(r.subject) else f"{r.subject}: {r.text}" for r in rows)
        return subject, "\n".join(f"- {line}" for line in lines)

    def _record(self, session: Session, *, ids: list[int], error: NotifyError | None) -> int:
        """The outcome on the rows this process still holds, their claims given up."""
        now = self.clock()
        retry = self.settings.outbox
        finished = 0
        for row in outbox.held(session, ids=ids, holder=self.holder):
            row.attempts += 1
            row.claimed_by, row.claimed_until = None, None
            if error is None:
                row.status, row.sent_at, row.last_error = NotificationStatus.SENT, now, None
                finished += 1
            else:
                row.last_error = str(error)[:1000]
                too_old = now - row.created_at >= timedelta(hours=retry.retry_hours)
                if error.permanent or too_old:
                    row.status = NotificationStatus.DEAD
                    finished += 1
                else:
                    delay = min(
                        retry.backoff_base_seconds * 2 ** (row.attempts - 1), retry.backoff_max_seconds
                    )
                    row.next_attempt_at = now + timedelta(seconds=delay)
            session.add(row)
        return finished

    # -- a test from the settings page ------------------------------------------------------
    async def send_test(
        self, username: str, channel: NotifyChannel, *, subject: str, text: str
    ) -> TestResult:
        """Send a test on one channel now, whether or not the person chose it yet (they try it
        before they rely on it), and say how it went. The row is written claimed by this process
        and recorded like any other, so it is never sent twice and never retried (a test that
        failed is told at once; the person tries again)."""
        now = self.clock()
        until = now + timedelta(seconds=CLAIM_SECONDS)
        conf = self.settings.notifications

        def write(session: Session) -> TestResult | list[tuple[int, str]]:
            person = people.by_username(session, username)
            if person is None or not person.active:
                return TestResult(channel, NotifyFailure.NO_ADDRESS)
            targets = channel_addresses(session, person, channel, conf)
            if not targets:
                missing = channel is NotifyChannel.WECOM and not departments.wecom_urls(session, conf)
                return TestResult(
                    channel, NotifyFailure.NOT_CONFIGURED if missing else NotifyFailure.NO_ADDRESS
                )
            rows = [
                StaffNotification(
                    username=username,
                    channel=channel.value,
                    address=address,
                    kind=TEST,
                    subject=subject,
                    text=text,
                    urgent=True,
                    next_attempt_at=now,
                    created_at=now,
                    claimed_by=self.holder,
                    claimed_until=until,
                )
                for address in targets
            ]
            session.add_all(rows)
            session.flush()
            return [(r.id, r.address) for r in rows if r.id is not None]

        written = await self.db.run(write)
        if isinstance(written, TestResult):
            return written
        transport = self.transports.get(channel.value)
        failure: NotifyFailure | None = None
        sent: list[str] = []
        for row_id, address in written:
            error: NotifyError | None = None
            try:
                if transport is None:
                    raise NotifyError(f"no transport for {channel}", permanent=True)
                await transport(address, subject, text)
                sent.append(address)
            except NotifyError as exc:
                error = exc
            except Exception as exc:
                log.exception("test notification failed")
                error = NotifyError(repr(exc))
            if error is not None:
                log.info("test notification on %s failed: %s", channel.value, error)
                failure = failure or error.reason
                error.permanent = True  # a test is not retried
            await self.db.run(functools.partial(self._record, ids=[row_id], error=error))
        return TestResult(channel, failure, sent=tuple(sent))

    async def run(self, stop: asyncio.Event, *, leading: Callable[[], bool] = lambda: True) -> None:
        """Send due notifications every ``notifications.poll_seconds`` until ``stop`` is set, while
        ``leading`` (the process holding the scheduler lease sends; the others wait their turn)."""
        while not stop.is_set():
            if leading():
                try:
                    await self.send_due()
                except Exception:
                    log.exception("sending staff notifications failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.notifications.poll_seconds)


FEED = "staff_alerts"
"""The cursor (``webhook_cursors``) of the staff alerts already fanned out to notifications."""


WAITING_AFTER = timedelta(minutes=2)
"""A customer unanswered this long on a conversation someone holds: they are told."""


def waiting_alerts(session: Session, *, texts: Catalog, now: datetime) -> int:
    """An alert for each person holding a conversation whose customer wrote last, more than
    ``WAITING_AFTER`` ago, unless they were told since that message (one per waiting spell)."""
    inner = aliased(Message)
    latest = (
        select(func.max(inner.id))
        .where(inner.conversation_id == Conversation.id)
        .where(inner.direction.in_(("in", "out")))  # type: ignore[attr-defined]  # notes are not answers
        .correlate(Conversation)
        .scalar_subquery()
    )
    rows = session.exec(
        select(Conversation.assigned_agent, Message.created_at, Conversation.customer_id)
        .join(Message, col(Message.id) == latest)
        .where(col(Conversation.assigned_agent).is_not(None), Conversation.status == "agent")
        .where(Message.direction == "in", col(Message.created_at) <= now - WAITING_AFTER)
    ).all()
    added = 0
    for username, since, _customer in rows:
        if not username:
            continue
        told = session.exec(
            select(StaffAlert.id).where(
                StaffAlert.username == username,
                StaffAlert.kind == "waiting",
                col(StaffAlert.created_at) >= since,
            )
        ).first()
        if told is None:
            session.add(
                StaffAlert(
                    username=username, kind="waiting", text=texts.both("notify.waiting"), created_at=now
                )
            )
            session.flush()
            added += 1
    return added


def prepare(
    session: Session,
    *,
    texts: Catalog,
    settings: Settings,
    now: datetime,
    flows: FlowCatalog | None = None,
) -> int:
    """Before sending: alerts for waiting customers, then every new alert fanned out to its
    person's channels, all under the fan-out cursor's row lock, so two processes preparing at
    once take turns and neither writes an alert or a notification the other wrote."""
    _cursor(session)
    waiting_alerts(session, texts=texts, now=now)
    return fan_out(session, settings=settings, now=now, categories=_categories(session, flows))


def _categories(session: Session, flows: FlowCatalog | None) -> dict[str, dict[str, str]]:
    """Category code -> its name in the live intake flow, per language (alerts quote codes)."""
    if flows is None:
        return {}
    try:
        _, flow = flows.live(session, name="intake")
    except LookupError:
        return {}
    return {lang: {c.code: c.label.get(lang) for c in flow.categories} for lang in ("zh", "en")}


def _cursor(session: Session) -> WebhookCursor:
    """The fan-out cursor, locked for this transaction (made on first use by whoever is first)."""
    dialect = session.get_bind().dialect.name
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert_fn(WebhookCursor).values(name=FEED, position=0).on_conflict_do_nothing())
    return session.exec(select(WebhookCursor).where(WebhookCursor.name == FEED).with_for_update()).one()


def fan_out(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    limit: int = 200,
    categories: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Queue notifications for staff alerts written since the last call (by any process, any
    path: intake, follow-ups, the console), moving the cursor in the same transaction, so each
    alert is fanned out once. A test alert (the settings page's console test) stays in the
    console. Returns how many alerts were read."""
    cursor = _cursor(session)
    alerts = session.exec(
        select(StaffAlert)
        .where(col(StaffAlert.id) > cursor.position)
        .order_by(col(StaffAlert.id))
        .limit(limit)
    ).all()
    for alert in alerts:
        cursor.position = alert.id or cursor.position
        if alert.kind == TEST:
            continue
        queue(
            session,
            username=alert.username,
            kind=alert.kind,
            subject=alert.text.splitlines()[0][:120] if alert.text else alert.kind,
            text=alert.text,
            now=now,
            settings=settings.notifications,
            tz=settings.general.tz,
            words=lambda text, language: alert_text(text, language, (categories or {}).get(language, {})),
        )
    session.add(cursor)
    return len(alerts)
