"""Who handles a ticket: category -> department, then the least-loaded handler there, never one
the complaint names (回避). Pure functions over a snapshot of the staff table (one row per person,
several roles and departments each; no department means every department)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StaffMember:
    username: str
    name: str
    departments: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("handler",)
    employee_no: str | None = None

    @property
    def known_by_username(self) -> bool:
        """Customers know handlers, supervisors and managers by username too; a console-only
        username ("admin") is a common word, matched by display name only."""
        return bool({"handler", "supervisor", "manager"}.intersection(self.roles))

    @property
    def department(self) -> str:
        """The first department ("" for a person of every department)."""
        return self.departments[0] if self.departments else ""

    def serves(self, department: str) -> bool:
        return not self.departments or department in self.departments


def department_for(category: str | None, departments: Mapping[str, str], default: str) -> str:
    return departments.get(category or "", default)


def named_staff(texts: Iterable[str | None], staff: Sequence[StaffMember]) -> list[str]:
    """Usernames of staff a complaint names by name, username or employee number.

    Names shorter than two characters are ignored (a one-character match is noise); Latin names
    and numbers must stand as whole words.
    """
    text = " ".join(t for t in texts if t).lower()
    if not text:
        return []
    found: list[str] = []
    for member in staff:
        username = member.username if member.known_by_username else None
        for token in (member.name, username, member.employee_no):
            if token and len(token) >= 2 and _mentions(text, token.lower()):
                found.append(member.username)
                break
    return found


def _mentions(text: str, token: str) -> bool:
    if re.fullmatch(r"[\w.\- ]+", token, re.ASCII):
        return re.search(rf"(?<![\w]){re.escape(token)}(?![\w])", text, re.ASCII) is not None
    return token in text


def pick(
    staff: Sequence[StaffMember],
    *,
    department: str,
    roles: tuple[str, ...],
    recused: Iterable[str],
    load: Mapping[str, int],
) -> StaffMember | None:
    """The member of ``department`` with one of ``roles`` and the fewest open tickets, skipping
    recused staff; ties go to the username first in order, so the choice is repeatable. Members
    of the department itself come before people of every department."""
    excluded = set(recused)
    wanted = set(roles)
    candidates = [
        m
        for m in staff
        if m.serves(department) and wanted.intersection(m.roles) and m.username not in excluded
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda m: (not m.departments, load.get(m.username, 0), m.username))


def _first_manager(staff: Sequence[StaffMember], department: str, recused: list[str]) -> StaffMember | None:
    managers = [m for m in staff if "manager" in m.roles and m.username not in recused]
    managers.sort(key=lambda m: (department not in m.departments, m.username))
    return managers[0] if managers else None


def supervisor_for(
    staff: Sequence[StaffMember], *, department: str, recused: Iterable[str], load: Mapping[str, int]
) -> StaffMember | None:
    """The department's supervisor, else a manager: whoever an escalation goes to."""
    excluded = list(recused)
    found = pick(staff, department=department, roles=("supervisor",), recused=excluded, load=load)
    return found or _first_manager(staff, department, excluded)


def manager_for(
    staff: Sequence[StaffMember], *, department: str, recused: Iterable[str], load: Mapping[str, int]
) -> StaffMember | None:
    """A manager (the department's own first), else the supervisor: who takes major complaints."""
    excluded = list(recused)
    found = _first_manager(staff, department, excluded)
    return found or supervisor_for(staff, department=department, recused=excluded, load=load)
