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
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol
from zoneinfo import ZoneInfo

import aiosmtplib
import httpx
from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.domain.catalog import Catalog
from bot.domain.quiet_hours import QuietHours
from bot.services import departments, people
from bot.settings import NotificationSettings, Settings
from storage.db import Database
from storage.models import Conversation, Message, Staff, StaffAlert, StaffNotification, WebhookCursor

log = logging.getLogger(__name__)

CODE_MINUTES = 15
"""How long a Telegram link code stays valid."""


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


URGENT_KINDS = frozenset({"major", "breach", "test"})
"""News that goes out in quiet hours too (a test is asked for now)."""


def _quiet(person: Staff, tz: ZoneInfo) -> QuietHours:
    if not person.quiet_from or not person.quiet_until:
        return QuietHours(tz, None, None)
    return QuietHours.parse(f"{person.quiet_from}-{person.quiet_until}", tz)


def addresses(session: Session, person: Staff, settings: NotificationSettings) -> list[tuple[str, str]]:
    """(channel, address) pairs this person chose and can be reached on (WeCom: the group
    robots of their departments, as the departments table holds them)."""
    out: list[tuple[str, str]] = []
    chosen = set(person.notify or ())
    if "email" in chosen and person.email:
        out.append(("email", person.email))
    if "telegram" in chosen and person.telegram_chat_id:
        out.append(("telegram", person.telegram_chat_id))
    if "wecom" in chosen:
        robots = departments.wecom_urls(session, settings)
        for department in person.departments or ():
            url = robots.get(department)
            if url:
                out.append(("wecom", url))
    return list(dict.fromkeys(out))


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
) -> int:
    """Queue a notification on each channel the person chose (in the caller's transaction);
    held until their quiet hours end unless urgent or ``force`` (a test). Returns the rows added."""
    person = people.by_username(session, username)
    if person is None or not person.active:
        return 0
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
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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
    ) -> None:
        self.db = db
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
            raise NotifyError("no SMTP server configured (notifications.smtp_host)", permanent=True)
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
            raise NotifyError(f"refused: {exc}", permanent=True) from exc
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
            raise NotifyError(f"HTTP {response.status_code}: {response.text[:200]}", permanent=True)
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def telegram(self, address: str, subject: str, text: str) -> None:
        token = self.settings.telegram.token
        if token is None:
            raise NotifyError("no Telegram bot token configured", permanent=True)
        url = f"{self.settings.telegram.base_url}{token.get_secret_value()}/sendMessage"
        data = await self._post(url, {"chat_id": address, "text": f"{subject}\n{text}"})
        if data.get("ok") is not True:
            raise NotifyError(str(data.get("description") or data)[:200], permanent=True)

    async def wecom(self, address: str, subject: str, text: str) -> None:
        """A WeCom group robot: errcode 0 is success; 45009 (rate limit) is worth a retry."""
        data = await self._post(address, {"msgtype": "text", "text": {"content": f"{subject}\n{text}"}})
        code = data.get("errcode")
        if code == 45009:
            raise NotifyError(f"WeCom rate limit: {data.get('errmsg')}")
        if code != 0:
            raise NotifyError(f"WeCom errcode {code}: {data.get('errmsg')}", permanent=True)

    # -- the outbox ---------------------------------------------------------------------------
    async def send_due(self) -> int:
        """Send everything due now; returns how many rows were finished with (sent or dead)."""
        now = self.clock()
        await self.db.run(functools.partial(waiting_alerts, texts=self.texts, now=now))
        await self.db.run(functools.partial(fan_out, settings=self.settings, now=now))
        gap = timedelta(minutes=self.settings.notifications.digest_minutes)
        batches = await self.db.run(lambda s: _due_batches(s, now, gap))
        finished = 0
        for (channel, address), rows in batches.items():
            subject, text = self._compose(rows)
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
            ids = [r.id for r in rows if r.id is not None]
            finished += await self.db.run(functools.partial(self._record, ids=ids, error=error))
        return finished

    def _compose(self, rows: list[StaffNotification]) -> tuple[str, str]:
        if len(rows) < self.settings.notifications.digest_after:
            return rows[0].subject, "\n\n".join(r.text for r in rows)
        subject = self.texts.both("notify.digest_subject", count=len(rows))
        return subject, "\n".join(f"- {r.subject}: {r.text}" for r in rows)

    def _record(self, session: Session, *, ids: list[int], error: NotifyError | None) -> int:
        now = self.clock()
        outbox = self.settings.outbox
        finished = 0
        for row in session.exec(select(StaffNotification).where(col(StaffNotification.id).in_(ids))):
            row.attempts += 1
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                finished += 1
            else:
                row.last_error = str(error)[:1000]
                too_old = now - row.created_at >= timedelta(hours=outbox.retry_hours)
                if error.permanent or too_old:
                    row.status = "dead"
                    finished += 1
                else:
                    delay = min(
                        outbox.backoff_base_seconds * 2 ** (row.attempts - 1), outbox.backoff_max_seconds
                    )
                    row.next_attempt_at = now + timedelta(seconds=delay)
            session.add(row)
        return finished

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


def _due_batches(
    session: Session, now: datetime, gap: timedelta
) -> dict[tuple[str, str], list[StaffNotification]]:
    """Due rows by address. Non-urgent rows for an address sent to less than ``gap`` ago wait
    until the gap has passed and then go out together: a burst becomes one digest, not a flood."""
    rows = session.exec(
        select(StaffNotification)
        .where(StaffNotification.status == "pending", col(StaffNotification.next_attempt_at) <= now)
        .order_by(col(StaffNotification.id))
        .limit(500)
    ).all()
    batches: dict[tuple[str, str], list[StaffNotification]] = {}
    for row in rows:
        batches.setdefault((row.channel, row.address), []).append(row)
    for (channel, address), batch in list(batches.items()):
        last = session.exec(
            select(func.max(StaffNotification.sent_at)).where(
                StaffNotification.channel == channel, StaffNotification.address == address
            )
        ).one()
        if last is not None and now - last < gap:
            waiting = [r for r in batch if not r.urgent]
            for row in waiting:
                row.next_attempt_at = last + gap
                session.add(row)
            batches[(channel, address)] = [r for r in batch if r.urgent]
            if not batches[(channel, address)]:
                del batches[(channel, address)]
    session.flush()
    for batch in batches.values():
        for row in batch:
            session.expunge(row)
    return batches


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


def fan_out(session: Session, *, settings: Settings, now: datetime, limit: int = 200) -> int:
    """Queue notifications for staff alerts written since the last call (by any process, any
    path: intake, follow-ups, the console), moving the cursor in the same transaction, so each
    alert is fanned out once. Returns how many alerts were read."""
    cursor = session.get(WebhookCursor, FEED)
    if cursor is None:
        cursor = WebhookCursor(name=FEED, position=0)
    alerts = session.exec(
        select(StaffAlert)
        .where(col(StaffAlert.id) > cursor.position)
        .order_by(col(StaffAlert.id))
        .limit(limit)
    ).all()
    for alert in alerts:
        queue(
            session,
            username=alert.username,
            kind=alert.kind,
            subject=alert.text.splitlines()[0][:120] if alert.text else alert.kind,
            text=alert.text,
            now=now,
            settings=settings.notifications,
            tz=settings.general.tz,
        )
        cursor.position = alert.id or cursor.position
    session.add(cursor)
    return len(alerts)
