"""People taking conversations from the bot and giving them back.

Take, reply, note, transfer and hand back are the moves an agent makes on a conversation; each
changes the conversation row under the manager's per-conversation lock (so a turn running at the
same moment is recomputed, never interleaved), writes the transcript, and tells the customer in
their language who joined or that the bot is back. The console calls these; so could any other
front end.
"""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlmodel import Session, col, select

from bot.channels.base import Channel
from bot.domain.catalog import Catalog
from bot.domain.enums import ConversationStatus, TicketStatus
from bot.domain.states import OPEN
from bot.services import people
from bot.services.inbox import ConversationManager
from bot.services.people import Agent, recused_from
from bot.services.tickets import TicketService
from bot.services.work import Work
from dialogues.types import Attachment, ConversationKey, Language, Reply
from storage.db import Database
from storage.models import Conversation, Customer, Message, Ticket, TicketDeadline
from storage.repositories import tickets as ticket_repo

HandBackPoint = Literal["resume", "menu", "survey"]
MAX_REPLY = 4000


class HandoffError(ValueError):
    """A move the agent may not make now, with a message for the console."""


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    mime: str
    data: bytes


def customer_language(session: Session, customer_id: int) -> Language:
    customer = session.get(Customer, customer_id)
    return "en" if customer is not None and customer.language == "en" else "zh"


class Handoff:
    def __init__(
        self,
        *,
        db: Database,
        manager: ConversationManager,
        tickets: TicketService,
        channels: Mapping[str, Channel],
        files_dir: Path,
        clock: Callable[[], datetime],
        texts: Catalog,
    ) -> None:
        self.db = db
        self.texts = texts
        self.manager = manager
        self.tickets = tickets
        self.channels = channels
        self.files_dir = files_dir
        self.clock = clock
        self.listeners: list[Callable[[int], None]] = []
        """Called with the conversation id after every move (the console's live updates)."""

    async def take(self, conversation_id: int, agent: Agent) -> None:
        now = self.clock()

        def change(session: Session, conv: Conversation) -> Language:
            if conv.assigned_agent and conv.assigned_agent != agent.username:
                raise HandoffError(f"already taken by {conv.assigned_agent}")
            if recused_from(session, conv.customer_id, agent.username):
                raise HandoffError("you are named in this customer's complaint and must not handle it")
            conv.status = ConversationStatus.AGENT
            conv.assigned_agent = agent.username
            conv.taken_at = now
            conv.waiting_since = None
            conv.queue_department = None
            _note(session, conv, f"agent:{agent.username}", f"{agent.display_name} took over", now)
            return customer_language(session, conv.customer_id)

        language = await self.manager.change_conversation(conversation_id, change)
        await self._tell(
            conversation_id,
            self.texts.text("bot.agent_joined", language, agent=agent.display_name),
            agent,
        )
        self.changed(conversation_id)

    async def reply(
        self, conversation_id: int, agent: Agent, text: str, uploads: Sequence[Upload] = ()
    ) -> None:
        text = text.strip()
        if not text and not uploads:
            raise HandoffError("write a reply or attach a file")
        if len(text) > MAX_REPLY:
            raise HandoffError(f"a reply holds at most {MAX_REPLY} characters")
        await self._holding(conversation_id, agent)
        key = await self._key(conversation_id)
        channel = self.channels.get(key.channel)
        for upload in uploads:
            refusal = channel.refuses_file(upload.mime) if channel else f"no {key.channel} channel runs here"
            if refusal:
                raise HandoffError(refusal)
        attachments = tuple(self._store(upload) for upload in uploads)
        await self.manager.send_as(key, [Reply(text, (), attachments)], author=f"agent:{agent.username}")
        await self.tickets.run(lambda work: self._contacted(work, conversation_id, agent))
        self.changed(conversation_id)

    def _contacted(self, work: Work, conversation_id: int, agent: Agent) -> None:
        """A person wrote to the customer: that acknowledges their open tickets (the clock)."""
        conv = work.session.get(Conversation, conversation_id)
        if conv is None:
            return
        waiting = work.session.exec(
            select(Ticket)
            .join(TicketDeadline, col(TicketDeadline.ticket_id) == col(Ticket.id))
            .where(Ticket.customer_id == conv.customer_id, col(Ticket.status).in_(OPEN))
            .where(TicketDeadline.name == "acknowledge", col(TicketDeadline.met_at).is_(None))
        ).all()
        for ticket in waiting:
            self.tickets.desk.record_contact(work, ticket, actor=f"agent:{agent.username}", how="reply")

    async def note(self, conversation_id: int, agent: Agent, text: str) -> None:
        """An internal note: in the transcript for staff, never sent to the customer."""
        text = text.strip()
        if not text or len(text) > MAX_REPLY:
            raise HandoffError(f"a note holds 1 to {MAX_REPLY} characters")
        now = self.clock()

        def write(session: Session) -> None:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise HandoffError("no such conversation")
            _note(session, conv, f"agent:{agent.username}", text, now)

        await self.db.run(write)
        self.changed(conversation_id)

    async def transfer(
        self,
        conversation_id: int,
        agent: Agent,
        *,
        to_user: str | None = None,
        to_department: str | None = None,
    ) -> None:
        """To a colleague (who holds it at once) or to a department's queue."""
        if bool(to_user) == bool(to_department):
            raise HandoffError("choose a colleague or a department")
        now = self.clock()

        def change(session: Session, conv: Conversation) -> tuple[Language, str | None]:
            if recused_from(session, conv.customer_id, agent.username):
                raise HandoffError("you are named in this customer's complaint and must not handle it")
            if conv.assigned_agent != agent.username and not agent.at_least("supervisor"):
                raise HandoffError(
                    "only the agent holding the conversation (or a supervisor) can transfer it"
                )
            language = customer_language(session, conv.customer_id)
            if to_user:
                target = people.by_username(session, to_user)
                if target is None or not target.active or not target.password_hash:
                    raise HandoffError(f"no active staff member {to_user} with a console login")
                if recused_from(session, conv.customer_id, target.username):
                    raise HandoffError(f"{target.username} is named in this customer's complaint")
                conv.status = ConversationStatus.AGENT
                conv.assigned_agent = target.username
                conv.taken_at = now
                conv.waiting_since = None
                _note(session, conv, f"agent:{agent.username}", f"transferred to {target.display_name}", now)
                ticket_repo.add_alert(
                    session,
                    username=target.username,
                    ticket_id=None,
                    kind="transferred",
                    text=self.texts.both("notify.transferred", by=agent.display_name),
                    now=now,
                )
                return language, target.display_name
            conv.status = ConversationStatus.AGENT
            conv.assigned_agent = None
            conv.taken_at = None
            conv.waiting_since = now
            conv.handoff_reason = "transfer"
            conv.queue_department = to_department
            _note(session, conv, f"agent:{agent.username}", f"transferred to department {to_department}", now)
            return language, None

        language, name = await self.manager.change_conversation(conversation_id, change)
        text = (
            self.texts.text("bot.agent_joined", language, agent=name)
            if name
            else self.texts.text("bot.agent_transferred", language)
        )
        await self._tell(conversation_id, text, agent)
        self.changed(conversation_id)

    async def hand_back(self, conversation_id: int, agent: Agent, point: HandBackPoint) -> None:
        """Back to the bot: at the question the customer was at, at the greeting, or with the
        satisfaction survey of their latest resolved ticket."""
        await self._holding(conversation_id, agent)
        survey: str | None = None
        if point == "survey":
            survey = await self._survey_ticket(conversation_id)
            if survey is None:
                raise HandoffError("this customer has no resolved ticket waiting for a survey")

        def language_of(session: Session) -> Language:
            conv = session.get(Conversation, conversation_id)
            assert conv is not None
            _note(session, conv, f"agent:{agent.username}", f"handed back to the bot ({point})", self.clock())
            return customer_language(session, conv.customer_id)

        language = await self.db.run(language_of)
        await self.manager.hand_back(
            conversation_id,
            point="idle" if point == "survey" else point,
            lead=[Reply(self.texts.text("bot.agent_left", language))],
            author=f"agent:{agent.username}",
        )
        if survey is not None:
            await self.tickets.on_ticket(
                survey,
                lambda work, ticket: self.tickets.desk.ask_survey(
                    work, ticket, actor=f"agent:{agent.username}"
                ),
            )
        self.changed(conversation_id)

    # ------------------------------------------------------------------------------------------
    def changed(self, conversation_id: int) -> None:
        for listener in self.listeners:
            listener(conversation_id)

    async def _holding(self, conversation_id: int, agent: Agent) -> None:
        def check(session: Session) -> None:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise HandoffError("no such conversation")
            if conv.status != ConversationStatus.AGENT or conv.assigned_agent != agent.username:
                raise HandoffError("take the conversation first")

        await self.db.run(check)

    async def _key(self, conversation_id: int) -> ConversationKey:
        def load(session: Session) -> ConversationKey:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise HandoffError("no such conversation")
            return ConversationKey(conv.channel, conv.user_id)

        return await self.db.run(load)

    async def _tell(self, conversation_id: int, text: str, agent: Agent) -> None:
        key = await self._key(conversation_id)
        await self.manager.send_as(key, [Reply(text)], author=f"agent:{agent.username}")

    async def _survey_ticket(self, conversation_id: int) -> str | None:
        def find(session: Session) -> str | None:
            conv = session.get(Conversation, conversation_id)
            assert conv is not None
            ticket = session.exec(
                select(Ticket)
                .where(Ticket.customer_id == conv.customer_id)
                .where(col(Ticket.status).in_((TicketStatus.RESOLVED, TicketStatus.CLOSED)))
                .where(col(Ticket.satisfaction).is_(None))
                .order_by(col(Ticket.resolved_at).desc(), col(Ticket.id).desc())
            ).first()
            return None if ticket is None else ticket.number

        return await self.db.run(find)

    def _store(self, upload: Upload) -> Attachment:
        """Keep the file under the attachment folder with a random name (never the given one)."""
        folder = self.files_dir / "console"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = Path(upload.name).suffix.lower()[:10] or (mimetypes.guess_extension(upload.mime) or "")
        path = folder / f"{secrets.token_hex(12)}{suffix}"
        path.write_bytes(upload.data)
        kind = "photo" if upload.mime.startswith("image/") else "document"
        name = Path(upload.name).name[:200] or path.name
        return Attachment(kind=kind, ref=str(path), name=name, mime=upload.mime, size=len(upload.data))


def _note(session: Session, conv: Conversation, author: str, text: str, now: datetime) -> None:
    assert conv.id is not None
    session.add(
        Message(
            conversation_id=conv.id,
            customer_id=conv.customer_id,
            channel=conv.channel,
            user_id=conv.user_id,
            direction="note",
            author=author,
            text=text,
            created_at=now,
            processed_at=now,
        )
    )
