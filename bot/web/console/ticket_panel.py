"""What the ticket panel (the ticket page and a conversation's current ticket) shows beside the
ticket itself: the category levels as selects from the intake flow's tree (each level's
choices are the finer ones of the level above), the ways to record a contact and the form's
"now" in the configured zone.

The selects work without a script: the page offers the finer choices of the levels saved, and
saving a level clears a finer one that does not belong under it, so the next level's choices
follow on the reloaded page. console.js redraws the finer selects at once from the same tree
(``tree_json``), which the form carries."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.domain.enums import ContactMethod
from bot.domain.states import OPEN
from bot.services.flow_catalog import FlowCatalog
from dialogues.model import Category
from dialogues.types import Language
from storage.models import Ticket

LEVEL_FIELDS = ("category", "category_l2", "category_l3", "category_l4")
"""A ticket's category levels, coarse to fine."""

LOCAL_MINUTE = "%Y-%m-%dT%H:%M"
"""What a ``datetime-local`` field sends and shows (the browser's own format, minutes)."""

CONTACT_METHODS = tuple(m for m in ContactMethod if m is not ContactMethod.REPLY)
"""What a person records by hand; a reply in the chat is recorded by sending it."""


@dataclass(frozen=True, slots=True)
class Level:
    field: str
    options: tuple[tuple[str, str], ...]
    """(code, name) of the choices under the level above."""
    selected: str
    unknown: bool
    """The saved value is not in the tree (an entry typed before the levels were selects):
    it stays offered as itself until someone chooses another."""


@dataclass(frozen=True, slots=True)
class Panel:
    levels: tuple[Level, ...]
    tree_json: str
    """The tree for console.js: code -> [name, finer ones]."""
    contact_methods: tuple[ContactMethod, ...]
    contact_open: bool
    """Whether a contact can be recorded (open or resolved: a callback may follow)."""
    local_now: str
    """The contact form's default and latest time, as the field writes it."""


def local_minute(moment: datetime, tz: ZoneInfo) -> str:
    """``moment`` as a ``datetime-local`` field shows it, in the configured zone."""
    return moment.astimezone(tz).strftime(LOCAL_MINUTE)


def category_tree(session: Session, flows: FlowCatalog) -> tuple[Category, ...] | None:
    """The live intake flow's categories (None when it has none live)."""
    try:
        _, flow = flows.live(session, name="intake")
    except LookupError:
        return None
    return flow.categories


def saved(ticket: Ticket) -> list[str]:
    return [str(getattr(ticket, f) or "") for f in LEVEL_FIELDS]


def levels(tree: Sequence[Category], values: Sequence[str], language: Language) -> tuple[Level, ...]:
    out: list[Level] = []
    options: Sequence[Category] = tree
    for field, value in zip(LEVEL_FIELDS, values, strict=True):
        node = next((c for c in options if c.code == value), None)
        choices = tuple((c.code, c.label.get(language)) for c in options)
        out.append(Level(field, choices, value, bool(value) and node is None))
        options = node.children if node is not None else ()
    return tuple(out)


def tree_data(tree: Sequence[Category], language: Language) -> dict[str, Any]:
    return {c.code: [c.label.get(language), tree_data(c.children, language)] for c in tree}


def checked_levels(
    tree: Sequence[Category] | None, ticket: Ticket, changes: Mapping[str, str]
) -> dict[str, str]:
    """``changes`` with the category levels made a path down the tree: a level that is not
    one of the finer choices of the level above is cleared (a value typed before the levels
    were selects stays while nothing above it changes)."""
    if tree is None or not any(f in changes for f in LEVEL_FIELDS):
        return dict(changes)
    before = saved(ticket)
    values = [changes[f].strip() if f in changes else before[i] for i, f in enumerate(LEVEL_FIELDS)]
    options: Sequence[Category] = tree
    unchanged = True
    for i in range(len(LEVEL_FIELDS)):
        node = next((c for c in options if c.code == values[i]), None)
        if values[i] and node is None and not (unchanged and values[i] == before[i]):
            values[i] = ""
        unchanged = unchanged and values[i] == before[i]
        options = node.children if node is not None else ()
    out = dict(changes)
    for i, field in enumerate(LEVEL_FIELDS):
        if field in changes or values[i] != before[i]:
            out[field] = values[i]
    return out


def panel(
    ticket: Ticket,
    *,
    now: datetime,
    tz: ZoneInfo,
    tree: Sequence[Category] | None,
    language: str,
) -> Panel:
    lang: Language = "en" if language == "en" else "zh"
    return Panel(
        levels=levels(tree or (), saved(ticket), lang),
        tree_json=json.dumps(tree_data(tree or (), lang), ensure_ascii=False, separators=(",", ":")),
        contact_methods=CONTACT_METHODS,
        contact_open=ticket.status in OPEN | {"resolved"},
        local_now=local_minute(now, tz),
    )
