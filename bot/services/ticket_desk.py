"""The complaint desk: what happens to a ticket from intake to close-out (DOMAIN.md).

Every operation runs inside the caller's transaction (``Work``), checks the state machine,
records an audit event, moves the SLA clocks, tells the customer and alerts staff. Nothing here
sends or sleeps: messages go to the outbox and timed work to ``follow_ups``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain import states
from bot.domain.calendar import WorkingCalendar, load_calendar
from bot.domain.catalog import Catalog, PerLanguage
from bot.domain.enums import ContactMethod, FollowUpKind
from bot.domain.quiet_hours import QuietHours
from bot.domain.routing import (
    StaffMember,
    manager_for,
    pick,
    supervisor_for,
)
from bot.domain.sla import MAJOR_EXTRA, Deadline, SlaPolicy
from bot.services import departments
from bot.services.flow_catalog import FlowCatalog
from bot.services.ticket_intake import format_local
from bot.services.work import Work, named_people, open_load, staff_directory
from bot.settings import LifecycleSettings, Settings
from dialogues.model import Category
from dialogues.types import Button, Language
from storage.models import NluSample, Staff, Ticket, TicketDeadline
from storage.repositories import tickets as ticket_repo

UNVERIFIED_CHANNEL = "webchat"
"""Anyone can be a new web-chat customer by clearing a cookie, and nothing verifies the contact
they type, so the repeat rule counts only customers the platform vouches for (Telegram, WeChat,
staff-entered): fake identities must not make a complaint major."""

CONTACT_SLACK = timedelta(minutes=5)
"""How far ahead of the server's clock a recorded contact may be (a staff member's watch)."""

FORM_MINUTE = timedelta(minutes=1)
"""A contact time is written to the minute: the minute a ticket was filed in is not before it."""

CUSTOMER_FACING = frozenset({FollowUpKind.CALLBACK, FollowUpKind.SURVEY_REMINDER})


class LifecycleError(ValueError):
    """A request the procedure refuses. ``customer_text`` is set when the refusal is worded for
    the customer (in their language); staff see the English message."""

    def __init__(self, message: str, customer_text: str | None = None) -> None:
        super().__init__(message)
        self.customer_text = customer_text


class RecusalError(LifecycleError):
    pass


@dataclass(frozen=True, slots=True)
class Intake:
    """What the intake conversation tells the customer after the ticket is stored."""

    reply_by: datetime
    replies: tuple[str, ...]


class TicketDesk:
    def __init__(
        self,
        *,
        settings: LifecycleSettings,
        calendar: WorkingCalendar,
        tz: ZoneInfo,
        texts: Catalog,
        flows: FlowCatalog | None = None,
    ) -> None:
        self.settings = settings
        self.flows = flows
        """Where the intake flow's category names are (staff alerts name a ticket's category)."""
        self.calendar = calendar
        self.tz = tz
        self.texts = texts
        self.policy = SlaPolicy.from_mapping(
            {k: v.model_dump() for k, v in settings.sla.items()}, settings.warn_share
        )
        self.quiet = QuietHours.parse(settings.quiet_hours, tz)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, texts: Catalog | None = None, flows: FlowCatalog | None = None
    ) -> TicketDesk:
        """The desk of ``settings``; ``texts`` defaults to the catalog shipped with the bot,
        ``flows`` (the category names of alerts) to one reading the same database's flows."""
        calendar = load_calendar(settings.path(settings.lifecycle.calendar), settings.general.timezone)
        texts = texts if texts is not None else Catalog.load()
        return cls(
            settings=settings.lifecycle,
            calendar=calendar,
            tz=settings.general.tz,
            texts=texts,
            flows=flows if flows is not None else FlowCatalog(texts.engine_messages()),
        )

    # -- words -----------------------------------------------------------------------------------
    def to_customer(self, key: str, language: Language, **values: object) -> str:
        """What the customer reads about a ticket (``tickets.<key>`` in the catalog)."""
        return self.texts.text(f"tickets.{key}", language, **values).rstrip()

    def to_staff(self, key: str, **values: object) -> str:
        """A staff alert (``staff.<key>``), in both languages (``zh / en``: it goes to e-mail,
        Telegram and WeCom as one text, and the console shows its reader's half). Codes go in
        as ``PerLanguage`` names (``department_names``, ``deadline_name``, ``category_names``,
        ``moment``), so each half names them in its own language."""
        return self.texts.both(f"staff.{key}", **values)

    def staff_words(self, key: str, **values: object) -> PerLanguage:
        """``staff.<key>`` in each language, kept apart (a severity reason is stored so)."""
        zh, en = (self.texts.text(f"staff.{key}", lang, **_in(values, lang)) for lang in ("zh", "en"))
        return PerLanguage(zh, en)

    def department_name(self, session: Session, department: str | None, language: Language) -> str:
        """The department as the customer reads it (its name in the departments table)."""
        return departments.name(session, department, language, self.texts)

    def department_names(self, session: Session, department: str | None) -> PerLanguage:
        """The department in each language (its names in the departments table)."""
        names = departments.names_in_each_language(session, department, self.texts)
        return PerLanguage(names["zh"], names["en"])

    def deadline_name(self, deadline: str) -> PerLanguage:
        """A deadline as staff alerts name it (受理确认 / acknowledge)."""
        return self.texts.names("deadline", deadline)

    def moment(self, at: datetime) -> PerLanguage:
        """A moment in the configured zone, written each language's way."""
        return PerLanguage(format_local(at, self.tz, "zh"), format_local(at, self.tz, "en"))

    def category_names(self, work: Work, code: str | None) -> PerLanguage:
        """A ticket's category as the live intake flow names it (未分类 / not classified when
        it has none; the code only for a category the flow no longer has)."""
        if not code:
            return self.texts.names("staff", "no_category")
        flow = None
        if self.flows is not None:
            try:
                _, flow = self.flows.live(work.session, name="intake")
            except LookupError:
                flow = None
        if flow is None:
            return PerLanguage(code, code)
        return PerLanguage(flow.category_label(code, "zh"), flow.category_label(code, "en"))

    def reasons(self, ticket: Ticket) -> PerLanguage:
        """Why a ticket is major, in each language (the severity rules keep both)."""
        rows = ticket.severity_reasons or []
        zh = "；".join(str(r.get("reason") or "") for r in rows if r.get("reason"))
        en = "; ".join(str(r.get("reason_en") or r.get("reason") or "") for r in rows if r.get("reason"))
        fallback = self.texts.names("staff", "reason_major")
        return PerLanguage(zh or fallback.zh, en or fallback.en)

    LEVELS = ("category", "category_l2", "category_l3", "category_l4")

    def _check_classification(self, work: Work, ticket: Ticket, after: Mapping[str, Any]) -> None:
        """A changed category level must be one of the finer choices under the level above in
        the live intake flow's tree, and a department one the desk has: a client of the REST API
        could write anything there, and routing, reports and the console read them as codes.
        A value saved before the tree had it (an older flow) stays while nobody changes it."""
        department = after.get("department")
        if department is not None and department not in departments.snapshot(work.session).names:
            raise LifecycleError(f"no department {department!r}")
        tree = self._category_tree(work)
        if tree is None or not any(f in after for f in self.LEVELS):
            return
        options: tuple[Category, ...] = tree
        for field in self.LEVELS:
            value = after[field] if field in after else getattr(ticket, field)
            node = next((c for c in options if c.code == value), None)
            if value and node is None and field in after:
                choices = ", ".join(c.code for c in options) or "none: the level above has no finer levels"
                raise LifecycleError(f"{field} {value!r} is not a choice here ({choices})")
            options = node.children if node is not None else ()

    def _category_tree(self, work: Work) -> tuple[Category, ...] | None:
        if self.flows is None:
            return None
        try:
            _, flow = self.flows.live(work.session, name="intake")
        except LookupError:
            return None
        return flow.categories or None

    # -- recusal after intake --------------------------------------------------------------------
    def recuse_named(self, work: Work, customer_id: int, texts: list[str]) -> list[str]:
        """A later message of the customer names staff: they join the recusal list of the
        customer's open tickets (of the latest one when none is open), so the conversation and
        the complaint leave their sight from now on. Returns who was added."""
        added: list[str] = []
        for ticket, new in self._recusals(work, customer_id, texts):
            ticket.recused = [*(ticket.recused or []), *new]
            work.session.add(ticket)
            work.event(ticket, "recused", actor="system", after={"staff": new, "from": "message"})
            added.extend(n for n in new if n not in added)
        return added

    def names_someone_new(self, work: Work, customer_id: int, texts: list[str]) -> bool:
        """Whether ``recuse_named`` would add anyone; reads only."""
        return bool(self._recusals(work, customer_id, texts))

    def _recusals(self, work: Work, customer_id: int, texts: list[str]) -> list[tuple[Ticket, list[str]]]:
        tickets = list(
            work.session.exec(
                select(Ticket).where(Ticket.customer_id == customer_id).order_by(col(Ticket.id).desc())
            )
        )
        chosen = [t for t in tickets if t.status in states.OPEN] or tickets[:1]
        named = named_people(work.session, texts) if chosen else []
        if not named:
            return []
        plan = [(t, [n for n in named if n not in (t.recused or [])]) for t in chosen]
        return [(t, new) for t, new in plan if new]

    # -- intake ---------------------------------------------------------------------------------
    def on_created(self, work: Work, ticket: Ticket, slots: Mapping[str, Any]) -> Intake:
        """Target, recusal, the repeat rule, SLA clocks and routing for a ticket just stored."""
        language = language_of(ticket)
        staff = staff_directory(work.session)
        ticket.target = target_of(slots)
        ticket.recused = named_people(
            work.session, [_text(slots.get("staff")), ticket.description, _text(slots.get("where"))], staff
        )
        ticket.department = departments.department_for(work.session, ticket.category, self.settings)
        self._repeat_rule(work, ticket)
        deadlines = list(self.policy.deadlines(ticket.kind, ticket.severity, work.now, self.calendar))
        self._start_new_clocks(work, ticket, deadlines)
        if ticket.recused:
            work.event(ticket, "recused", actor="system", after={"staff": list(ticket.recused)})
        load = open_load(work.session, flush=False)  # the new ticket has no assignee yet
        if ticket.severity == "major":
            report = next((d.due for d in deadlines if d.name == "report_to_management"), None)
            return self._escalate_major(work, ticket, staff, load, language, due=report)
        handler = pick(
            staff, department=ticket.department, roles=("handler",), recused=ticket.recused, load=load
        ) or pick(staff, department=ticket.department, roles=("agent",), recused=ticket.recused, load=load)
        reply_by = _soonest(  # the clocks just started: none is met yet
            [d.due for d in deadlines if d.name != "acknowledge"], [d.due for d in deadlines], work.now
        )
        when = format_local(reply_by, self.tz, language)
        dept = self.department_name(work.session, ticket.department, language)
        if handler is None:
            sup = supervisor_for(staff, department=ticket.department, recused=ticket.recused, load=load)
            work.event(ticket, "routed", actor="system", after={"department": ticket.department})
            work.alert(
                sup.username if sup else None,
                ticket,
                "queued",
                self.to_staff(
                    "queued",
                    number=ticket.number,
                    department=self.department_names(work.session, ticket.department),
                ),
            )
            work.session.add(ticket)
            key = self._filed_key("queued", ticket.kind)
            return Intake(
                reply_by, (self.to_customer(key, language, number=ticket.number, department=dept, due=when),)
            )
        self._set_assignee(work, ticket, handler, actor="system")
        self.move(work, ticket, "acknowledged", actor="system", tell=False)
        text = self.to_customer(
            self._filed_key("acknowledged", ticket.kind),
            language,
            number=ticket.number,
            department=dept,
            handler=handler.name,
            due=when,
        )
        return Intake(reply_by, (text,))

    def _filed_key(self, base: str, kind: str) -> str:
        """The customer's one acknowledgement names what they sent (a complaint, a question, a
        suggestion); kinds without words of their own get the general one."""
        specific = f"{base}_{kind}"
        return specific if self.texts.has(f"tickets.{specific}") else base

    def _promise(self, work: Work, ticket: Ticket) -> datetime:
        """The soonest open customer-facing deadline: when we said they will hear from us."""
        rows = self._clocks(work, ticket)
        wanted = [r.due_at for r in rows if r.met_at is None and r.name != "acknowledge"]
        return _soonest(wanted, [r.due_at for r in rows], work.now)

    def _repeat_rule(self, work: Work, ticket: Ticket) -> None:
        if ticket.kind != "complaint" or not ticket.category or not ticket.target:
            return
        if ticket.severity == "major":  # nothing to raise
            return
        needed = self.settings.repeat_customers
        me = 0 if ticket.channel == UNVERIFIED_CHANNEL else 1  # see UNVERIFIED_CHANNEL
        # The new ticket's own target is not written yet, so it never counts itself here.
        others = ticket_repo.count_other_customers(
            work.session,
            target=ticket.target,
            category=ticket.category,
            kind="complaint",
            since=work.now - timedelta(days=self.settings.repeat_days),
            not_status="cancelled",
            not_customer=ticket.customer_id,
            not_channel=UNVERIFIED_CHANNEL,
            enough=needed - me,
        )
        customers = others + me  # this ticket's customer, if counted
        if customers >= needed:
            reason = self.staff_words(
                "reason_repeat",
                count=customers,
                target=ticket.target,
                category=self.category_names(work, ticket.category),
                days=self.settings.repeat_days,
            )
            self._make_major(work, ticket, "repeat_complaint", reason)

    def _make_major(self, work: Work, ticket: Ticket, rule: str, reason: PerLanguage) -> None:
        """``reason`` is kept in both languages, like the severity rules' own reasons."""
        before = {"severity": ticket.severity}
        ticket.severity = "major"
        ticket.severity_reasons = [
            *ticket.severity_reasons,
            {"rule": rule, "reason": reason.zh, "reason_en": reason.en},
        ]
        work.event(
            ticket,
            "severity_raised",
            actor="system",
            before=before,
            after={"severity": "major"},
            note=reason.en,
        )

    def _escalate_major(
        self,
        work: Work,
        ticket: Ticket,
        staff: list[StaffMember],
        load: dict[str, int],
        language: Language,
        *,
        due: datetime | None = None,
    ) -> Intake:
        """A major complaint goes to a manager at once, the supervisor is alerted, and the
        customer hears only an apology and the promise of a manager's call. ``due``: the
        report-to-management deadline when the caller knows it (read from the clocks if not)."""
        manager = manager_for(staff, department=ticket.department or "", recused=ticket.recused, load=load)
        sup = supervisor_for(staff, department=ticket.department or "", recused=ticket.recused, load=load)
        if manager is not None:
            self._set_assignee(work, ticket, manager, actor="system")
        ticket.escalated_to = manager.username if manager else None
        self.move(work, ticket, "escalated", actor="system", note="major complaint", tell=False)
        due = due or self._due(work, ticket, "report_to_management") or work.now + timedelta(hours=12)
        staff_note = self.to_staff(
            "major", number=ticket.number, reasons=self.reasons(ticket), due=self.moment(due)
        )
        for username in {m.username for m in (manager, sup) if m is not None}:
            work.alert(username, ticket, "major", staff_note)
        work.event(
            ticket,
            "supervisor_alerted",
            actor="system",
            after={"to": sorted({m.username for m in (manager, sup) if m is not None})},
        )
        text = self.to_customer(
            "major", language, number=ticket.number, due=format_local(due, self.tz, language)
        )
        return Intake(due, (text,))

    @staticmethod
    def can_see(ticket: Ticket, username: str) -> bool:
        """Staff the complaint names may not see it (回避); everyone else on the desk may."""
        return username not in (ticket.recused or [])

    # -- moves ----------------------------------------------------------------------------------
    def move(
        self,
        work: Work,
        ticket: Ticket,
        target: str,
        *,
        actor: str,
        note: str | None = None,
        tell: bool = True,
    ) -> None:
        """Change status (refused when the state machine forbids it), audit it, stop the clocks
        the new status meets, and tell the customer unless a fuller message follows."""
        states.check(ticket.status, target)
        before = ticket.status
        ticket.status = target
        ticket.updated_at = work.now
        if target == "resolved":
            ticket.resolved_at = work.now
        if target == "closed":
            ticket.closed_at = work.now
        if target in ("cancelled", "closed"):
            ticket.awaiting = None
        work.session.add(ticket)
        work.event(
            ticket, "status", actor=actor, before={"status": before}, after={"status": target}, note=note
        )
        for name in states.MEETS.get(target, ()):
            self.meet(work, ticket, name)
        if target == "cancelled":
            work.cancel_follow_ups(
                ticket, {"sla_warn", "sla_breach", "callback", "survey_reminder", "auto_close"}
            )
        if tell:
            language = language_of(ticket)
            work.tell(
                ticket,
                self.to_customer(
                    "status",
                    language,
                    number=ticket.number,
                    status=self.texts.name("status", target, language),
                    note="",
                ),
            )

    def assign(self, work: Work, ticket: Ticket, username: str, *, actor: str) -> None:
        """Give the ticket to a staff member; refused for anyone the complaint names."""
        row = work.session.exec(select(Staff).where(Staff.username == username)).first()
        if row is None or not row.active:
            raise LifecycleError(f"no active staff member {username!r}")
        if username in (ticket.recused or []):
            raise RecusalError(f"{username} is named in ticket {ticket.number} and must not handle it")
        member = StaffMember(
            row.username, row.display_name, tuple(row.departments), tuple(row.roles), row.employee_no
        )
        self._set_assignee(work, ticket, member, actor=actor)
        if ticket.status == "new":
            language = language_of(ticket)
            self.move(work, ticket, "acknowledged", actor=actor, tell=False)
            due = self._promise(work, ticket)
            work.tell(
                ticket,
                self.to_customer(
                    "acknowledged",
                    language,
                    number=ticket.number,
                    department=self.department_name(work.session, ticket.department, language),
                    handler=member.name,
                    due=format_local(due, self.tz, language),
                ),
            )

    def _set_assignee(self, work: Work, ticket: Ticket, member: StaffMember, *, actor: str) -> None:
        before = {"assignee": ticket.assignee, "department": ticket.department}
        ticket.assignee = member.username
        if {"supervisor", "manager"}.intersection(member.roles):
            self.meet(work, ticket, "report_to_management")  # the ticket stays in its department
        elif member.departments and not member.serves(ticket.department or ""):
            ticket.department = member.department  # a handler from elsewhere takes it there
        work.session.add(ticket)
        work.event(
            ticket,
            "assigned",
            actor=actor,
            before=before,
            after={"assignee": member.username, "department": ticket.department},
        )
        work.alert(
            member.username,
            ticket,
            "assigned",
            self.to_staff(
                "assigned",
                number=ticket.number,
                category=self.category_names(work, ticket.category),
                department=self.department_names(work.session, ticket.department),
            ),
        )

    EDITABLE = ("category", "category_l2", "category_l3", "category_l4", "department", "severity")

    def reclassify(
        self, work: Work, ticket: Ticket, changes: Mapping[str, str | None], *, actor: str
    ) -> None:
        """Category levels, department and severity as staff correct them, audited field by field.
        Raising severity to major alerts the department's supervisor and a manager."""
        unknown = sorted(set(changes) - set(self.EDITABLE))
        if unknown:
            raise LifecycleError(f"cannot edit {', '.join(unknown)}")
        severity = changes.get("severity")
        if severity is not None and severity not in ("normal", "major"):
            raise LifecycleError(f"unknown severity {severity!r}")
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name, value in changes.items():
            value = (value or "").strip() or None
            if name == "severity" and value is None:
                continue
            if getattr(ticket, name) != value:
                before[name] = getattr(ticket, name)
                after[name] = value
        if not after:
            return
        self._check_classification(work, ticket, after)
        for name, value in after.items():
            setattr(ticket, name, value)
        ticket.updated_at = work.now
        work.session.add(ticket)
        work.event(ticket, "reclassified", actor=actor, before=before, after=after)
        if (
            "category" in after
            and after["category"]
            and ticket.category_source == "nlu"
            and ticket.description
        ):
            # the NLU chose this category and a person corrected it: a sample for the NLU review
            work.session.add(
                NluSample(
                    text=ticket.description[:2000],
                    predicted=before.get("category"),
                    confidence=ticket.nlu_confidence,
                    source="corrected",
                    intent=after["category"],
                    ticket_id=ticket.id,
                    created_at=work.now,
                )
            )
        if after.get("severity") == "major":
            who = staff_name(work, actor)
            raised = self.staff_words("reason_staff", who=who)
            ticket.severity_reasons = [
                *ticket.severity_reasons,
                {"rule": "staff", "reason": raised.zh, "reason_en": raised.en, "actor": actor},
            ]
            staff = staff_directory(work.session)
            load = open_load(work.session)
            department = ticket.department or ""
            for member in (
                supervisor_for(staff, department=department, recused=ticket.recused, load=load),
                manager_for(staff, department=department, recused=ticket.recused, load=load),
            ):
                if member is not None:
                    work.alert(
                        member.username,
                        ticket,
                        "major",
                        self.to_staff("major_raised", number=ticket.number, who=who),
                    )

    def start(self, work: Work, ticket: Ticket, *, actor: str) -> None:
        """The handler accepts the ticket: a person acted, so the acknowledge clock is met."""
        self.move(work, ticket, "in_progress", actor=actor)

    def record_contact(
        self,
        work: Work,
        ticket: Ticket,
        *,
        actor: str,
        how: ContactMethod | str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """A person reached the customer (a call, a reply, a visit): this, not routing, meets the
        acknowledge clock, at the moment of the contact (``at``, default now; never in the
        future, never before the ticket was filed)."""
        try:
            method = ContactMethod(how)
        except ValueError:
            raise LifecycleError(f"unknown contact method {how!r}") from None
        when = at or work.now
        if when > work.now + CONTACT_SLACK:
            raise LifecycleError("the contact time is in the future")
        if when < ticket.created_at - FORM_MINUTE:
            raise LifecycleError("the contact time is before the ticket was filed")
        when = max(when, ticket.created_at)  # a form names the minute the ticket was filed in
        after: dict[str, Any] = {"how": str(method)}
        if at is not None:
            after["at"] = when.isoformat()
        work.event(ticket, "contacted", actor=actor, after=after, note=(note or "").strip() or None)
        self.meet(work, ticket, "acknowledge", at=min(when, work.now))

    def record_investigation(self, work: Work, ticket: Ticket, finding: str, *, actor: str) -> None:
        work.event(ticket, "investigation", actor=actor, note=finding)
        self.meet(work, ticket, "first_investigation")

    def propose(self, work: Work, ticket: Ticket, solution: str, *, actor: str) -> None:
        """Put a solution to the customer with Accept / Not satisfied buttons."""
        if not solution.strip():
            raise LifecycleError("a proposed solution needs text")
        self.move(work, ticket, "solution_proposed", actor=actor, note=solution, tell=False)
        ticket.solution = solution.strip()
        ticket.awaiting = "solution"
        work.session.add(ticket)
        language = language_of(ticket)
        work.tell(
            ticket,
            self.to_customer("solution", language, number=ticket.number, solution=ticket.solution),
            buttons=(
                Button(self.to_customer("accept_label", language), f"lc:{ticket.id}:accept"),
                Button(self.to_customer("reject_label", language), f"lc:{ticket.id}:reject"),
            ),
        )

    def resolve(self, work: Work, ticket: Ticket, *, actor: str, note: str | None = None) -> None:
        self.move(work, ticket, "resolved", actor=actor, note=note)
        ticket.awaiting = None
        self._after_resolution(work, ticket)

    def close(self, work: Work, ticket: Ticket, *, actor: str, note: str | None = None) -> None:
        self.move(work, ticket, "closed", actor=actor, note=note)

    def cancel(self, work: Work, ticket: Ticket, *, actor: str) -> None:
        self.move(work, ticket, "cancelled", actor=actor, tell=False)
        work.tell(ticket, self.to_customer("cancelled", language_of(ticket), number=ticket.number))

    def reopen(self, work: Work, ticket: Ticket, *, actor: str, reason: str, mishandled: bool) -> None:
        """Back to work. Mishandling makes the ticket major (DOMAIN.md) and escalates it."""
        self.move(work, ticket, "reopened", actor=actor, note=reason, tell=False)
        ticket.awaiting = None
        ticket.closed_at = None
        work.cancel_follow_ups(ticket, {"callback", "survey_reminder", "auto_close"})
        for name in ("propose_solution", "close"):
            self._restart_clock(work, ticket, name)
        if not mishandled:
            return
        if ticket.severity != "major":
            self._make_major(work, ticket, "mishandled", self.staff_words("reason_mishandled"))
            for name in MAJOR_EXTRA:
                self._restart_clock(work, ticket, name)
        staff = staff_directory(work.session)
        self._escalate_major(work, ticket, staff, open_load(work.session), language_of(ticket))

    # -- the customer's answers -----------------------------------------------------------------
    def accept(self, work: Work, ticket: Ticket) -> None:
        if ticket.status != "solution_proposed":
            raise LifecycleError(f"ticket {ticket.number} has no proposal waiting for an answer")
        self.move(work, ticket, "resolved", actor="customer", note="solution accepted", tell=False)
        ticket.awaiting = None
        work.session.add(ticket)
        work.tell(ticket, self.to_customer("accepted", language_of(ticket), number=ticket.number))
        self._after_resolution(work, ticket)

    def reject(self, work: Work, ticket: Ticket, *, comment: str | None = None) -> None:
        """Not satisfied: re-dispatch to the department (二次派单) up to the configured number of
        times, then a manager takes over."""
        if ticket.status != "solution_proposed":
            raise LifecycleError(f"ticket {ticket.number} has no proposal waiting for an answer")
        language = language_of(ticket)
        ticket.awaiting = None
        if ticket.redispatches < self.settings.max_redispatches:
            ticket.redispatches += 1
            self.move(
                work, ticket, "in_progress", actor="customer", note=comment or "not satisfied", tell=False
            )
            work.event(ticket, "redispatched", actor="system", after={"redispatches": ticket.redispatches})
            due = self._restart_clock(work, ticket, "propose_solution")
            work.alert(
                ticket.assignee,
                ticket,
                "redispatched",
                self.to_staff(
                    "rejected",
                    number=ticket.number,
                    comment=comment or self.texts.names("staff", "no_comment"),
                ),
            )
            work.tell(
                ticket,
                self.to_customer(
                    "redispatched",
                    language,
                    number=ticket.number,
                    department=self.department_name(work.session, ticket.department, language),
                    due=format_local(due, self.tz, language),
                ),
            )
            return
        staff = staff_directory(work.session)
        load = open_load(work.session)
        manager = manager_for(staff, department=ticket.department or "", recused=ticket.recused, load=load)
        self.move(
            work, ticket, "escalated", actor="customer", note=comment or "not satisfied again", tell=False
        )
        if manager is not None:
            self._set_assignee(work, ticket, manager, actor="system")
            ticket.escalated_to = manager.username
            work.alert(
                manager.username, ticket, "to_manager", self.to_staff("to_manager", number=ticket.number)
            )
        due = self._restart_clock(work, ticket, "propose_solution")
        work.tell(
            ticket,
            self.to_customer(
                "to_manager", language, number=ticket.number, due=format_local(due, self.tz, language)
            ),
        )

    def survey_answer(self, work: Work, ticket: Ticket, score: int, comment: str | None) -> None:
        """1-5 with an optional comment. 2 or less reopens the ticket and alerts the supervisor."""
        if not 1 <= score <= 5:
            raise LifecycleError("a satisfaction score is 1 to 5")
        language = language_of(ticket)
        ticket.satisfaction = score
        ticket.satisfaction_comment = (comment or "").strip() or None
        ticket.awaiting = None
        work.session.add(ticket)
        work.event(
            ticket, "survey", actor="customer", after={"score": score}, note=ticket.satisfaction_comment
        )
        work.cancel_follow_ups(ticket, {"survey_reminder", "auto_close"})
        self.meet(work, ticket, "callback")
        if score <= 2:
            staff = staff_directory(work.session)
            sup = supervisor_for(
                staff,
                department=ticket.department or "",
                recused=ticket.recused,
                load=open_load(work.session),
            )
            work.alert(
                sup.username if sup else None,
                ticket,
                "dissatisfied",
                self.to_staff(
                    "dissatisfied",
                    number=ticket.number,
                    score=score,
                    comment=ticket.satisfaction_comment or self.texts.names("staff", "no_comment"),
                ),
            )
            self.reopen(work, ticket, actor="customer", reason=f"satisfaction {score}", mishandled=True)
            work.tell(ticket, self.to_customer("survey_reopened", language, number=ticket.number))
            return
        if ticket.status == "resolved":
            self.move(work, ticket, "closed", actor="system", note=f"satisfaction {score}", tell=False)
        work.tell(
            ticket,
            self.to_customer(
                "survey_thanks",
                language,
                number=ticket.number,
                appeal_until=self.appeal_until(ticket, language),
            ),
        )

    def appeal(self, work: Work, ticket: Ticket, reason: str, *, actor: str = "customer") -> Ticket:
        """申诉: a new ticket linked to a closed one, handled by a supervisor, never by the
        original handler."""
        language = language_of(ticket)
        if ticket.status != "closed" or ticket.closed_at is None:
            told = self.to_customer("appeal_not_closed", language, number=ticket.number)
            raise LifecycleError(f"ticket {ticket.number} is {ticket.status}, not closed", told)
        if work.now > ticket.closed_at + timedelta(days=self.settings.appeal_days):
            until = self.appeal_until(ticket, language)
            told = self.to_customer("appeal_too_late", language, number=ticket.number, appeal_until=until)
            raise LifecycleError(f"the appeal period of ticket {ticket.number} is over", told)
        appeal = Ticket(
            number=ticket_repo.next_number(work.session, local_day=work.now.astimezone(self.tz).date()),
            kind=ticket.kind,
            severity=ticket.severity,
            severity_reasons=list(ticket.severity_reasons),
            category=ticket.category,
            description=reason.strip() or ticket.description,
            contact_name=ticket.contact_name,
            contact_phone=ticket.contact_phone,
            references=list(ticket.references),
            channel=ticket.channel,
            language=ticket.language,
            customer_id=ticket.customer_id,
            conversation_id=ticket.conversation_id,
            department=ticket.department,
            target=ticket.target,
            recused=sorted(
                {
                    *ticket.recused,
                    *([ticket.assignee] if ticket.assignee else []),
                    *named_people(work.session, [reason]),  # the appeal's own words name people too
                }
            ),
            appeal_of=ticket.id,
            created_at=work.now,
            updated_at=work.now,
        )
        work.session.add(appeal)
        work.session.flush()
        work.event(
            appeal, "created", actor=actor, after={"status": "new", "appeal_of": ticket.number}, note=reason
        )
        work.event(ticket, "appealed", actor=actor, after={"appeal": appeal.number}, note=reason)
        for deadline in self.policy.deadlines(appeal.kind, appeal.severity, work.now, self.calendar):
            self._start_clock(work, appeal, deadline)
        staff = staff_directory(work.session)
        load = open_load(work.session)
        sup = supervisor_for(staff, department=appeal.department or "", recused=appeal.recused, load=load)
        if sup is not None:
            self._set_assignee(work, appeal, sup, actor="system")
            work.alert(
                sup.username,
                appeal,
                "appeal",
                self.to_staff("appeal", number=appeal.number, original=ticket.number),
            )
            self.move(work, appeal, "acknowledged", actor="system", tell=False)
        due = self._promise(work, appeal)
        work.tell(
            appeal,
            self.to_customer(
                "appeal_filed",
                language,
                number=appeal.number,
                original=ticket.number,
                due=format_local(due, self.tz, language),
            ),
        )
        return appeal

    def _after_resolution(self, work: Work, ticket: Ticket) -> None:
        """The callback clock (72 h) and its job, and the auto-close for a silent customer."""
        deadline = self.policy.callback_deadline(work.now, self.calendar)
        self._start_clock(work, ticket, deadline)
        at = self.quiet.shift(work.now + timedelta(hours=self.settings.callback_after_hours))
        work.follow_up(ticket, FollowUpKind.CALLBACK, min(at, deadline.due))
        closes = work.now + timedelta(days=self.settings.auto_close_days)
        work.follow_up(ticket, FollowUpKind.AUTO_CLOSE, closes)

    def ask_survey(self, work: Work, ticket: Ticket, *, actor: str) -> bool:
        """The callback's 1-5 survey (also where an agent may hand a chat back to the bot), with
        one reminder later; False when the ticket is not resolved or was already rated."""
        if ticket.status not in ("resolved", "closed") or ticket.satisfaction is not None:
            return False
        language = language_of(ticket)
        ticket.awaiting = "survey"
        work.session.add(ticket)
        work.tell(
            ticket, self.to_customer("survey", language, number=ticket.number), buttons=survey_buttons(ticket)
        )
        work.event(ticket, "callback", actor=actor)
        self.meet(work, ticket, "callback")
        remind = self.quiet.shift(work.now + timedelta(hours=self.settings.survey_reminder_hours))
        work.follow_up(ticket, FollowUpKind.SURVEY_REMINDER, remind)
        work.cancel_follow_ups(ticket, {"callback"})
        return True

    def appeal_until(self, ticket: Ticket, language: Language) -> str:
        closed = ticket.closed_at or ticket.updated_at
        return format_local(closed + timedelta(days=self.settings.appeal_days), self.tz, language)

    # -- SLA clocks -----------------------------------------------------------------------------
    def _clocks(self, work: Work, ticket: Ticket) -> list[TicketDeadline]:
        return list(
            work.session.exec(select(TicketDeadline).where(TicketDeadline.ticket_id == ticket.id)).all()
        )

    def _due(self, work: Work, ticket: Ticket, name: str) -> datetime | None:
        row = next((r for r in self._clocks(work, ticket) if r.name == name), None)
        return None if row is None else row.due_at

    def _start_new_clocks(self, work: Work, ticket: Ticket, deadlines: list[Deadline]) -> None:
        """A new ticket's deadlines, each with its warning follow-up: the ticket was just created,
        so there is nothing to look up or cancel, and no ORM object for rows nothing here reads
        back; one statement for the clocks and one for the follow-ups. A clock's breach
        follow-up is written when its warning fires (bot/services/followups.py), in the same
        transaction: most clocks are met before their warning, and a major complaint's intake
        wrote twelve follow-ups where six now do (bench/RESULTS.md)."""
        assert ticket.id is not None
        ticket_repo.add_deadlines(
            work.session,
            ticket_id=ticket.id,
            started_at=work.now,
            deadlines=[(d.name, d.due, d.warn_at) for d in deadlines],
        )
        work.follow_ups_at(ticket, [("sla_warn", d.warn_at, {"deadline": d.name}) for d in deadlines])

    def _start_clock(self, work: Work, ticket: Ticket, deadline: Deadline) -> None:
        """Restart a deadline, cancelling its old warning and breach follow-ups (the new clock's
        breach follow-up is written when its warning fires, see ``_start_new_clocks``)."""
        assert ticket.id is not None
        row = next((r for r in self._clocks(work, ticket) if r.name == deadline.name), None)
        if row is None:
            row = TicketDeadline(ticket_id=ticket.id, name=deadline.name)
        row.started_at, row.due_at, row.warn_at = work.now, deadline.due, deadline.warn_at
        row.met_at = row.warned_at = row.breached_at = None
        work.session.add(row)
        work.cancel_follow_ups(ticket, {"sla_warn", "sla_breach"}, deadline=deadline.name)
        work.follow_up(ticket, FollowUpKind.SLA_WARN, deadline.warn_at, deadline=deadline.name)

    def _restart_clock(self, work: Work, ticket: Ticket, name: str) -> datetime:
        rule = self.policy.rules[name]
        due = rule.due(work.now, self.calendar)
        warn = rule.warn_at(work.now, due, self.calendar, self.policy.warn_share)
        self._start_clock(work, ticket, Deadline(name, due, warn))
        return due

    def meet(self, work: Work, ticket: Ticket, name: str, *, at: datetime | None = None) -> None:
        """Stop the clock ``name`` (once), at ``at`` when the act happened earlier than now."""
        met = at or work.now
        for row in self._clocks(work, ticket):
            if row.name == name and row.met_at is None:
                row.met_at = met
                work.session.add(row)
                work.event(
                    ticket,
                    "deadline_met",
                    actor="system",
                    after={"deadline": name},
                    note="late" if met > row.due_at else None,
                )
                work.cancel_follow_ups(ticket, {"sla_warn", "sla_breach"}, deadline=name)


def _soonest(wanted: list[datetime], fallback: list[datetime], now: datetime) -> datetime:
    """The promise to the customer: the soonest wanted deadline, else the soonest of all, else a
    day from now."""
    chosen = wanted or fallback
    return min(chosen) if chosen else now + timedelta(hours=24)


def target_of(slots: Mapping[str, Any]) -> str | None:
    """What a complaint is about, normalised so two customers naming it match: the product,
    else the place, else the staff member."""
    for key in ("product", "where", "staff"):
        value = _text(slots.get(key))
        if value:
            normal = re.sub(r"\s+", " ", value).strip().lower()
            if normal and normal not in {"无", "没有", "不知道", "none", "no", "n/a", "-", "skip", "跳过"}:
                return normal[:200]
    return None


def survey_buttons(ticket: Ticket) -> tuple[Button, ...]:
    return tuple(Button(str(n), f"lc:{ticket.id}:score:{n}") for n in range(1, 6))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _in(values: Mapping[str, object], language: Language) -> dict[str, object]:
    return {k: v.get(language) if isinstance(v, PerLanguage) else v for k, v in values.items()}


def staff_name(work: Work, actor: str) -> str:
    """A staff actor (``agent:lisi``) by the name people know them by."""
    username = actor.removeprefix("agent:")
    row = work.session.exec(select(Staff.display_name).where(Staff.username == username)).first()
    return row or username


def language_of(ticket: Ticket) -> Language:
    return "en" if ticket.language == "en" else "zh"
