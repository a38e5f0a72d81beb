"""The one access policy of the console: who may see or act on a conversation, ticket, customer,
report row or NLU sample. Pure: the callers load the plain facts (the staff account and the case)
and every route asks here, so the rule lives in one place and is tested on its own.

The rule (README, "Access"):

- Recusal (回避) comes first and binds every role, admins included: a person whose identity is
  on a complaint's recusal list sees nothing of it and can do nothing with it.
- An admin sees and does everything else, and is the only one who exports or erases a
  customer's data.
- A supervisor (or manager) sees and works what belongs to their departments, and what they hold or are
  assigned.
- An agent (or handler) sees the conversations waiting in their departments' queues, and the conversations
  and tickets they hold or are assigned; they work only what they hold or are assigned.
- A case no department claims yet (a conversation in the general queue) belongs to every
  department; an account without a department belongs to every department (a small desk).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.enums import StaffRole

Role = StaffRole

RANK = {role: rank for rank, role in enumerate(Role)}
"""Roles in rising order of reach: a manager has what a supervisor has, a handler what an agent has."""


def highest(roles: Iterable[str]) -> Role:
    """The role with the most reach among ``roles`` (agent when none is known)."""
    known = [Role(r) for r in roles if r in RANK]
    return max(known, key=RANK.__getitem__, default=Role.AGENT)


def at_least(role: str, floor: str) -> bool:
    return RANK[Role(role)] >= RANK[Role(floor)]


class Action(StrEnum):
    SEE = "see"
    """Read it: a page, a transcript, its files, a customer record, a report row, an NLU sample."""
    TAKE = "take"
    """Take a waiting conversation from the queue."""
    WORK = "work"
    """Reply, write a note, hand back, move or edit a ticket."""
    TRANSFER = "transfer"
    """Give a conversation to a colleague or a department."""
    EXPORT = "export"
    """Download everything held about a customer."""
    ERASE = "erase"
    """Erase a customer."""


def _folded(names: Iterable[str | None]) -> frozenset[str]:
    return frozenset(n.strip().casefold() for n in names if n and n.strip())


@dataclass(frozen=True, slots=True)
class Viewer:
    """A staff account as the policy sees it; ``role`` is the one of its roles with the most
    reach (``highest``). ``identities`` are the other names the same person
    goes by (their staff-directory username, their display name): recusal lists hold staff
    usernames, and a console account may be spelled differently."""

    username: str
    role: Role
    departments: frozenset[str] = frozenset()
    identities: frozenset[str] = frozenset()

    @property
    def names(self) -> frozenset[str]:
        return _folded([self.username, *self.identities])


@dataclass(frozen=True, slots=True)
class Case:
    """What the policy needs of a conversation, a ticket or a customer.

    ``departments``: the ones it belongs to (empty: none has claimed it yet). ``holders``: who
    holds the conversation (for a ticket, its customer's conversations). ``assignee``: the
    ticket's handler. ``waiting``: it waits in a queue for anyone to take. ``recused``: the
    identities the complaint names."""

    departments: frozenset[str] = frozenset()
    holders: frozenset[str] = frozenset()
    assignee: str | None = None
    waiting: bool = False
    recused: frozenset[str] = frozenset()


def is_recused(viewer: Viewer, case: Case) -> bool:
    return not viewer.names.isdisjoint(_folded(case.recused))


def in_departments(viewer: Viewer, case: Case) -> bool:
    if not viewer.departments or not case.departments:
        return True
    return not viewer.departments.isdisjoint(case.departments)


def _own(viewer: Viewer, case: Case) -> bool:
    return viewer.username in case.holders or viewer.username == case.assignee


def allows(viewer: Viewer, action: Action, case: Case) -> bool:
    """May ``viewer`` do ``action`` on ``case``?"""
    if is_recused(viewer, case):
        return False
    if action in (Action.EXPORT, Action.ERASE):
        return viewer.role is Role.ADMIN
    if viewer.role is Role.ADMIN:
        return True
    supervisor = at_least(viewer.role, Role.SUPERVISOR) and in_departments(viewer, case)
    if action is Action.TRANSFER:
        return viewer.username in case.holders or supervisor
    if action is Action.WORK:
        return _own(viewer, case) or supervisor
    queued = case.waiting and not case.holders and in_departments(viewer, case)
    # SEE and TAKE
    return _own(viewer, case) or supervisor or queued


def can_see(viewer: Viewer, case: Case) -> bool:
    return allows(viewer, Action.SEE, case)


def can_act(viewer: Viewer, action: Action, case: Case) -> bool:
    return allows(viewer, action, case)


def names_viewer(viewer: Viewer, named: Iterable[str]) -> bool:
    """True when a list of names found in a text (a recusal scan) includes this person."""
    return not viewer.names.isdisjoint(_folded(named))
