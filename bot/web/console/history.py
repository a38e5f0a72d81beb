"""A ticket's audit trail as sentences in the reader's language ("小李 将类别从 产品质量 改为
服务态度"): people by name, codes by their label. The trail itself stays data (the API and the
webhooks read it); only the console words it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain.catalog import Words
from bot.domain.intake_facts import facts
from bot.services.flow_catalog import FlowCatalog
from dialogues.types import Language
from storage.models import Staff, TicketEvent

Label = Callable[[str, str], str]
FIELD_AREAS = {"department": "department", "severity": "severity", "status": "status"}


@dataclass(frozen=True, slots=True)
class Line:
    at: datetime
    text: str
    note: str | None


@dataclass(frozen=True, slots=True)
class Wording:
    """What wording needs: the console's words, the catalog's labels, people's and categories'
    names."""

    t: Words
    label: Label
    people: Mapping[str, str]
    categories: Mapping[str, str]
    """Every category of the intake flow's tree, any level: code -> name."""
    answers: Callable[[str, str], str | None] = lambda slot, value: None
    """The label of a flow answer (``desired_outcome`` = ``refund`` -> 退款)."""
    when: Callable[[datetime], str] = lambda moment: moment.isoformat(timespec="minutes")
    """A moment as the page shows it (the configured zone)."""

    def answer(self, slot: str, value: str | None) -> str:
        return (self.answers(slot, value) or value) if value else ""

    def facts(self, details: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The intake's facts on a ticket (when, where, product, staff, order number, amount) as
        (label, value) rows, only those given."""
        return [(self.t("fact_" + name), value) for name, value in facts(details).items()]

    def who(self, actor: str) -> str:
        if actor.startswith("agent:"):
            username = actor.removeprefix("agent:")
            return self.people.get(username, username)
        if actor in ("system", "customer", "bot"):
            return self.t("who_" + actor)
        return self.people.get(actor, actor)

    def person(self, value: Any) -> str:
        if isinstance(value, list):
            return "、".join(self.person(v) for v in value) or self.t("nobody")
        return self.people.get(str(value), str(value)) if value else self.t("nobody")

    def value(self, field: str, value: Any) -> str:
        if value in (None, ""):
            return self.t("unset")  # a category level, a department: not 无人 (nobody)
        if field.startswith("category"):  # any level: codes are unique across the tree
            return self.categories.get(str(value), str(value))
        if field == "severity":
            return self.t(str(value))
        area = FIELD_AREAS.get(field)
        return self.label(area, str(value)) if area else str(value)


def sentences(events: list[TicketEvent], words: Wording) -> list[Line]:
    """One line per event (a reclassification: one per field changed)."""
    t = words.t
    out: list[Line] = []
    for event in events:
        who = words.who(event.actor)
        after, before = event.after or {}, event.before or {}
        note = event.note
        if event.action == "reclassified":
            for field in after:
                out.append(
                    Line(
                        event.at,
                        t("hist_reclassified").format(
                            who=who,
                            field=t("field_" + field, field),
                            before=words.value(field, before.get(field)),
                            after=words.value(field, after.get(field)),
                        ),
                        note,
                    )
                )
            continue
        values = {
            "who": who,
            "before": words.value("status", before.get("status")),
            "after": words.value("status", after.get("status")),
            "assignee": words.person(after.get("assignee")),
            "department": words.value("department", after.get("department")),
            "deadline": words.label("deadline", str(after.get("deadline") or note or "")),
            "to": words.person(after.get("to")),
            "staff": words.person(after.get("staff")),
            "score": after.get("score", ""),
            "appeal": after.get("appeal", ""),
        }
        key = "hist_" + event.action
        if event.action == "contacted":
            values["how"] = t("how_" + str(after.get("how") or ""), "")
            at = _moment(after.get("at"))
            if at is not None and abs(at - event.at) >= CONTACT_SHOWN_APART:
                key, values["when"] = "hist_contacted_at", words.when(at)
        template = t(key, "")
        if not template:
            template = t("hist_other")
        if event.action in ("urged", "escalated_to_supervisor", "sla_warning", "sla_breached"):
            note = None  # the clock's name, already in the sentence
        if event.action == "deadline_met" or not event.actor.startswith(("agent:", "customer")):
            note = None  # the system's notes are codes and English for the log, not sentences
        out.append(Line(event.at, template.format_map(values), note))
    return out


CONTACT_SHOWN_APART = timedelta(minutes=2)
"""A recorded contact names its own time when it was recorded this much later (or earlier)."""


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def people(session: Session) -> list[tuple[str, str]]:
    """Everyone a ticket may be assigned to or filtered by: the active staff, by name."""
    rows = session.exec(select(Staff).where(col(Staff.active)).order_by(col(Staff.display_name)))
    return [(s.username, s.display_name) for s in rows]


def category_choices(session: Session, catalog: FlowCatalog, language: str) -> list[tuple[str, str]]:
    """The categories of the live intake flow: the tree the customer chose from."""
    try:
        _, flow = catalog.live(session, name="intake")
    except LookupError:
        return []
    lang: Language = "en" if language == "en" else "zh"
    return [(c.code, c.label.get(lang)) for c in flow.categories]


def category_names(session: Session, catalog: FlowCatalog, language: str) -> dict[str, str]:
    """Every category of the live intake flow's tree, any level: code -> name."""
    try:
        _, flow = catalog.live(session, name="intake")
    except LookupError:
        return {}
    lang: Language = "en" if language == "en" else "zh"
    return {c.code: c.label.get(lang) for top in flow.categories for c in top.walk()}


def wording(
    session: Session,
    catalog: FlowCatalog,
    t: Words,
    label: Label,
    language: str,
    *,
    when: Callable[[datetime], str] | None = None,
) -> Wording:
    everyone = dict(session.exec(select(Staff.username, Staff.display_name)).all())
    lang: Language = "en" if language == "en" else "zh"
    try:
        _, flow = catalog.live(session, name="intake")
    except LookupError:
        words = Wording(t, label, everyone, {})
    else:
        categories = {c.code: c.label.get(lang) for top in flow.categories for c in top.walk()}
        answers = lambda slot, value: flow.value_label(slot, value, lang)  # noqa: E731
        words = Wording(t, label, everyone, categories, answers)
    return words if when is None else replace(words, when=when)


def speaker(item: Mapping[str, Any], words: Wording, customer_name: str | None) -> str:
    """Who wrote a transcript line, as the agent says it: the customer's name, 机器人, a
    colleague's name (a note: 内部备注 · their name)."""
    author = str(item.get("author") or "")
    person = words.who(author) if author.startswith("agent:") else ""
    if item.get("from") == "customer":
        return customer_name or words.t("from_customer")
    if item.get("from") == "note":
        return f"{words.t('from_note')} · {person}" if person else words.t("from_note")
    if item.get("from") == "agent":
        return person
    return words.t("from_bot")


def in_words(
    items: list[dict[str, Any]], words: Wording, customer_name: str | None, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Transcript lines with ``who`` and ``time`` (HH:MM in the configured zone) for the page."""
    for item in items:
        item["who"] = speaker(item, words, customer_name)
        item["time"] = datetime.fromisoformat(str(item["at"])).astimezone(tz).strftime("%H:%M")
    return items
