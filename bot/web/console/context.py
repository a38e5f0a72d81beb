"""Everything the console's routes share: the bot, the live hub, the templates, the session
lookup. One per web app (kept on ``app.state.console``), never module-level; handlers get it and
the services behind it through bot/web/console/deps.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session, select

from bot.domain.catalog import Words
from bot.services import data_rights
from bot.services import departments as department_book
from bot.services.departments import DepartmentNames
from bot.services.ticket_intake import format_local
from bot.services.work import Work
from bot.web.console import accounts
from bot.web.console.accounts import Agent
from bot.web.console.live import LiveHub
from dialogues.types import Language
from storage.models import Conversation, Staff

if TYPE_CHECKING:
    from bot.app import TousuApp
    from bot.services.inbox import TurnRecord

log = logging.getLogger(__name__)
MAX_SCANNED = 4096
"""The longest message text scanned for staff names (a platform's own limit)."""
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


class Console:
    def __init__(self, tousu: TousuApp) -> None:
        self.tousu = tousu
        self.db = tousu.db
        self.settings = tousu.settings.console
        self.tz: ZoneInfo = tousu.settings.general.tz
        self.hub = LiveHub()
        self.departments = DepartmentNames({}, ())
        """The departments as the last request read them (labels and selects read no database)."""
        self.places = data_rights.Places.from_settings(tousu.settings)
        """Where an erased customer's data may be (content hashes read once, not per erasure)."""
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["cap"] = standalone
        self._tasks: set[asyncio.Task[None]] = set()
        tousu.manager.listeners.append(self.on_turn)
        tousu.handoff.listeners.append(self.on_move)
        tousu.notifier.listeners.append(self.on_alerts)

    def on_turn(self, record: TurnRecord) -> None:
        self.hub.publish("activity", id=record.conversation_id)
        text = record.inbound.text.strip()
        if len(text) >= 2:  # a later message may name staff: recusal is checked again on it
            task = asyncio.get_running_loop().create_task(self._recuse(record.conversation_id, text))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _recuse(self, conversation_id: int, text: str) -> None:
        now = self.tousu.clock()
        desk = self.tousu.desk

        def run(session: Session) -> list[str]:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                return []
            return desk.recuse_named(Work(session, now), conv.customer_id, [text[:MAX_SCANNED]])

        def names(session: Session) -> bool:
            conv = session.get(Conversation, conversation_id)
            return conv is not None and desk.names_someone_new(
                Work(session, now), conv.customer_id, [text[:MAX_SCANNED]]
            )

        try:
            # looked for by a check that writes nothing first: most messages name nobody, and a
            # write unit per message would sit in SQLite's commit queue (storage/db.py: check)
            if not await self.db.check(names):
                return
            if await self.db.run(run):
                self.hub.publish("activity", id=conversation_id)
        except Exception:  # never lose the turn's other listeners over it; the next message rescans
            log.exception("recusal check of conversation %s failed", conversation_id)

    async def settled(self) -> None:
        """Wait for the recusal checks started so far (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def on_move(self, conversation_id: int) -> None:
        self.hub.publish("activity", id=conversation_id)

    def on_alerts(self) -> None:
        """New staff alerts: every open page asks for its person's unread count (the event names
        nobody; the count comes through the permission-checked route)."""
        self.hub.publish("alerts")

    async def agent_for(self, token: str | None) -> Agent | None:
        """The agent of the session cookie ``token``, if it is live (this use renews it)."""
        if not token:
            return None
        now = self.tousu.clock()
        idle = timedelta(hours=self.settings.idle_hours)
        lifetime = timedelta(hours=self.settings.session_hours)

        def look_up(session: Session) -> Agent | None:
            agent = accounts.agent_for(session, token, now=now, idle=idle, lifetime=lifetime)
            if agent is not None:  # one small table, read with the session: names stay current
                self.departments = department_book.snapshot(session)
            return agent

        return await self.db.run(look_up)

    def department_codes(self, *, everyone: bool = False, keep: str | None = None) -> list[str]:
        """The departments a conversation or ticket can be sent to (the active ones; with
        ``everyone`` the inactive too, for filters), with ``keep`` (a ticket's own) always in;
        config.yaml's before the table is seeded."""
        known = self.departments
        if known.names:
            codes = list(known.names) if everyone else list(known.active)
        else:
            codes = department_book.configured(self.tousu.settings)
        if keep and keep not in codes:
            codes.append(keep)
        return codes

    def words(self, agent: Agent | None) -> Words:
        """The console area's words in the agent's language."""
        return self.tousu.texts.words("console", _language(agent.language if agent else "zh"))

    @staticmethod
    def authors(session: Session) -> dict[str, str]:
        """Who wrote a flow version or a canned reply, by username (an actor id too): their name."""
        people = dict(session.exec(select(Staff.username, Staff.display_name)).all())
        return {**people, **{f"agent:{u}": n for u, n in people.items()}}

    def labels(self, agent: Agent | None) -> Callable[[str, str], str]:
        """The word for a code (``status``, ``kind``, ``department``, ``deadline``...) in the
        agent's language; the code itself only when the catalog has none."""
        language = _language(agent.language if agent else "zh")
        texts = self.tousu.texts
        known = self.departments

        def label(area: str, code: str) -> str:
            if not code:
                return ""
            if area == "department":
                return known.name(code, language) or texts.name(area, code, language, code)
            return texts.name(area, code, language, code)

        return label

    def when(self, moment: datetime | None, language: str) -> str:
        """A moment in the configured time zone, as every page shows it."""
        return format_local(moment, self.tz, _language(language)) if moment else ""

    def render(self, name: str, agent: Agent | None, *, status: int = 200, **values: Any) -> HTMLResponse:
        language = agent.language if agent is not None else values.pop("language", "zh")
        template = self.env.get_template(name)
        html = template.render(
            t=self.tousu.texts.words("console", _language(language)),
            label=self.labels(agent),
            lang=language,
            agent=agent,
            csrf=agent.csrf if agent else values.pop("login_csrf", ""),
            when=lambda moment: self.when(moment, language),
            tz_name=str(self.tz),
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def standalone(text: str) -> str:
    """A label standing alone (an option, a cell, a heading, a tag) starts with a capital. The
    catalog writes labels as they read mid-sentence (English lower case: "moved to in progress"),
    so templates write ``{{ label('status', s) | cap }}`` wherever a label is not inside a
    sentence; Chinese has no case and is unchanged."""
    return text[:1].upper() + text[1:] if text else text


def _language(code: str) -> Language:
    return "en" if code == "en" else "zh"


SECURITY_HEADERS = {
    # everything is served from here; inline scripts and foreign origins are refused
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
