"""The ticket state machine: which status may follow which, and which SLA clocks each one stops.

Pure data, so the console can show only the moves that are allowed and tests can walk it.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.domain.enums import TicketStatus as S

TRANSITIONS: Mapping[str, frozenset[S]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.ESCALATED, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.ESCALATED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.SOLUTION_PROPOSED, S.RESOLVED, S.ESCALATED, S.CANCELLED}),
    S.SOLUTION_PROPOSED: frozenset({S.RESOLVED, S.IN_PROGRESS, S.ESCALATED, S.CANCELLED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.IN_PROGRESS, S.ESCALATED, S.CANCELLED}),
    S.ESCALATED: frozenset({S.IN_PROGRESS, S.SOLUTION_PROPOSED, S.RESOLVED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

OPEN = frozenset({S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.SOLUTION_PROPOSED, S.REOPENED, S.ESCALATED})

# Reaching a status stops these clocks (a later status stops the earlier ones too). Acknowledged
# (routing gave the ticket a handler) stops none: the acknowledge clock waits for a person to act
# (start the work, write to the customer, record contact; TicketDesk.record_contact).
MEETS: Mapping[str, tuple[str, ...]] = {
    S.IN_PROGRESS: ("acknowledge",),
    S.SOLUTION_PROPOSED: ("acknowledge", "propose_solution", "first_investigation", "plan"),
    S.RESOLVED: ("acknowledge", "propose_solution", "first_investigation", "plan", "reply"),
    S.CLOSED: ("acknowledge", "propose_solution", "first_investigation", "plan", "reply", "close"),
}


class InvalidTransition(ValueError):
    """A move the procedure does not allow, e.g. closing a ticket nobody has worked on."""

    def __init__(self, current: str, target: str) -> None:
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none: it is final"
        super().__init__(f"a {current} ticket cannot become {target} (allowed: {allowed})")
        self.current = current
        self.target = target


def check(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(current, target)
