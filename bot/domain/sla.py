"""SLA clocks: which deadlines a ticket gets, by kind and severity, and when each one warns.

The defaults are DOMAIN.md's; every rule can be overridden from config. Hour rules count calendar
hours (a customer waiting over a weekend still waits); working-day rules count on the working
calendar. The warning comes at 80% of the time allowed, measured on the rule's own clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from bot.domain.calendar import WorkingCalendar
from bot.domain.enums import TicketKind

Clock = Literal["hours", "working_days"]


@dataclass(frozen=True, slots=True)
class SlaRule:
    name: str
    amount: float
    clock: Clock

    def due(self, start: datetime, calendar: WorkingCalendar) -> datetime:
        if self.clock == "hours":
            return start + timedelta(hours=self.amount)
        return calendar.add_working_days(start, int(self.amount))

    def warn_at(self, start: datetime, due: datetime, calendar: WorkingCalendar, share: float) -> datetime:
        if self.clock == "hours":
            return start + (due - start) * share
        working = calendar.working_hours_between(start, due)
        return calendar.add_working_time(calendar.next_working_moment(start), working * share)


@dataclass(frozen=True, slots=True)
class Deadline:
    name: str
    due: datetime
    warn_at: datetime


DEFAULT_RULES: dict[str, SlaRule] = {
    rule.name: rule
    for rule in (
        SlaRule("acknowledge", 24, "hours"),
        SlaRule("propose_solution", 48, "hours"),
        SlaRule("close", 10, "working_days"),
        SlaRule("callback", 72, "hours"),
        SlaRule("report_to_management", 12, "hours"),
        SlaRule("first_investigation", 2, "working_days"),
        SlaRule("plan", 7, "working_days"),
        SlaRule("reply", 2, "working_days"),
    )
}

BY_KIND: dict[str, tuple[str, ...]] = {
    "complaint": ("acknowledge", "propose_solution", "close"),
    "grievance": ("acknowledge", "close"),
    "consultation": ("reply",),
    "suggestion": ("acknowledge",),
}
MAJOR_EXTRA = ("report_to_management", "first_investigation", "plan")
"""Added for a major complaint only: a consultation or suggestion keeps its own clock whatever
its severity field says."""
MAJOR_KINDS: frozenset[str] = frozenset({TicketKind.COMPLAINT, TicketKind.GRIEVANCE})
"""The kinds that can be major (DOMAIN.md, "Severity": major complaints)."""


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    rules: Mapping[str, SlaRule]
    warn_share: float = 0.8

    @classmethod
    def from_mapping(
        cls, overrides: Mapping[str, Mapping[str, object]], warn_share: float = 0.8
    ) -> SlaPolicy:
        """Defaults with config overrides, e.g. ``{"close": {"amount": 15}}``; unknown names fail."""
        rules = dict(DEFAULT_RULES)
        for name, values in overrides.items():
            if name not in rules:
                raise ValueError(f"unknown SLA rule {name!r} (known: {', '.join(sorted(rules))})")
            amount = values.get("amount", rules[name].amount)
            clock = values.get("clock", rules[name].clock)
            if not isinstance(amount, int | float) or amount <= 0 or clock not in ("hours", "working_days"):
                raise ValueError(f"SLA rule {name!r}: amount must be > 0 and clock hours or working_days")
            rules[name] = replace(rules[name], amount=float(amount), clock=clock)
        if not 0 < warn_share < 1:
            raise ValueError("the warning share must be between 0 and 1")
        return cls(rules, warn_share)

    def deadlines(
        self, kind: str, severity: str, start: datetime, calendar: WorkingCalendar
    ) -> list[Deadline]:
        """Every deadline a new ticket starts with, soonest first."""
        names = BY_KIND.get(kind, BY_KIND["complaint"])
        if severity == "major" and kind in MAJOR_KINDS:
            names = (*names, *MAJOR_EXTRA)
        found = [self._deadline(self.rules[name], start, calendar) for name in names]
        return sorted(found, key=lambda d: d.due)

    def callback_deadline(self, resolved_at: datetime, calendar: WorkingCalendar) -> Deadline:
        """The callback after resolution (回访)."""
        return self._deadline(self.rules["callback"], resolved_at, calendar)

    def _deadline(self, rule: SlaRule, start: datetime, calendar: WorkingCalendar) -> Deadline:
        due = rule.due(start, calendar)
        return Deadline(rule.name, due, rule.warn_at(start, due, calendar, self.warn_share))
