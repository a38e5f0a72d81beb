"""The ticket state machine: which status may follow which, and which SLA clocks each one stops.

Pure data, so the console can show only the moves that are allowed and tests can walk it.
"""

from __future__ import annotations

from collections.abc import Mapping

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"acknowledged", "in_progress", "escalated", "cancelled"}),
    "acknowledged": frozenset({"in_progress", "escalated", "cancelled"}),
    "in_progress": frozenset({"solution_proposed", "resolved", "escalated", "cancelled"}),
    "solution_proposed": frozenset({"resolved", "in_progress", "escalated", "cancelled"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"in_progress", "escalated", "cancelled"}),
    "escalated": frozenset({"in_progress", "solution_proposed", "resolved", "cancelled"}),
    "cancelled": frozenset(),
}

OPEN = frozenset({"new", "acknowledged", "in_progress", "solution_proposed", "reopened", "escalated"})

# Reaching a status stops these clocks (a later status stops the earlier ones too).
MEETS: Mapping[str, tuple[str, ...]] = {
    "acknowledged": ("acknowledge",),
    "in_progress": ("acknowledge",),
    "solution_proposed": ("acknowledge", "propose_solution", "first_investigation", "plan"),
    "resolved": ("acknowledge", "propose_solution", "first_investigation", "plan", "reply"),
    "closed": ("acknowledge", "propose_solution", "first_investigation", "plan", "reply", "close"),
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
