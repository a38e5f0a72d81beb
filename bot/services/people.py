"""The people of the desk, read from the one staff table: who a logged-in person is (``Agent``),
what the access policy knows of them (``Viewer``), and the changes the CLI and the console make
(add, update, deactivate). Services and the web layer both read people through here, so no
service depends on the web layer."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot.domain.access import RANK, Role, Viewer, at_least, highest
from bot.domain.enums import NotifyChannel
from dialogues.types import Language
from storage.models import ConsoleSession, Staff, Ticket

NOTIFY_CHANNELS = tuple(c.value for c in NotifyChannel)
"""Where a person may be told of their work (WeCom reaches their departments' group robots)."""


class PersonError(ValueError):
    """A refused change to a person, with a message fit to print; ``reason`` names the
    console's text for it."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Agent:
    """The logged-in person, as the console's routes and the services they call see them.
    ``role`` is the one of ``roles`` with the most reach; ``department`` the first of
    ``departments`` (None: every department)."""

    username: str
    display_name: str
    role: str
    department: str | None
    language: str
    csrf: str
    roles: tuple[str, ...] = ()
    departments: tuple[str, ...] = field(default=())
    console_alerts: bool = True  # the menu bar's unread badge and the tab title's count
    sound: bool = True  # a short sound when a new alert arrives (with console_alerts)

    def at_least(self, role: str) -> bool:
        return at_least(self.role, role)

    @property
    def title_role(self) -> str:
        """The role named beside the person's name: handler (works the tickets routing assigns,
        not a console role) only when it is all they hold, so an agent who also handles tickets
        still reads as 客服."""
        shown = [r for r in self.roles if r != Role.HANDLER.value]
        return highest(shown).value if shown else self.role


def agent_of(person: Staff, csrf: str) -> Agent:
    roles = tuple(person.roles or ())
    departments = tuple(person.departments or ())
    return Agent(
        person.username,
        person.display_name,
        highest(roles).value,
        departments[0] if departments else None,
        person.language,
        csrf,
        roles,
        departments,
        console_alerts=NotifyChannel.CONSOLE.value in (person.notify or ()),
        sound=person.notify_sound,
    )


def by_username(session: Session, username: str) -> Staff | None:
    return session.exec(select(Staff).where(Staff.username == username)).first()


def languages(session: Session, usernames: Collection[str]) -> dict[str, Language]:
    """Each of these people's language (zh unless they chose English)."""
    rows = session.exec(
        select(Staff.username, Staff.language).where(col(Staff.username).in_(list(usernames)))
    )
    return {name: "en" if language == "en" else "zh" for name, language in rows.all()}


def namesakes(session: Session, display_name: str) -> set[str]:
    """Usernames of everyone with this display name. Recusal errs toward hiding: a complaint
    naming 王芳 recuses every 王芳 of the desk, whichever row the intake matched."""
    name = display_name.strip()
    if len(name) < 2:
        return set()
    return set(session.exec(select(Staff.username).where(Staff.display_name == name)).all())


def viewer_of_person(session: Session, person: Staff) -> Viewer:
    names = {person.display_name, person.employee_no, *namesakes(session, person.display_name)}
    return Viewer(
        username=person.username,
        role=highest(person.roles or ()),
        departments=frozenset(person.departments or ()),
        identities=frozenset(n for n in names if n),
    )


def viewer_for(session: Session, agent: Agent) -> Viewer:
    """The policy's view of a logged-in person (the row's identities, the session's roles)."""
    person = by_username(session, agent.username)
    identities = {agent.display_name, *namesakes(session, agent.display_name)}
    if person is not None and person.employee_no:
        identities.add(person.employee_no)
    departments = agent.departments or ((agent.department,) if agent.department else ())
    return Viewer(
        username=agent.username,
        role=Role(agent.role),
        departments=frozenset(departments),
        identities=frozenset(identities),
    )


def viewer_of(session: Session, username: str) -> Viewer | None:
    """A person by username (a transfer's target), or None when there is none."""
    person = by_username(session, username)
    return None if person is None else viewer_of_person(session, person)


def customer_recused(session: Session, customer_id: int) -> frozenset[str]:
    """Everyone any of the customer's complaints names: out of sight of the whole customer."""
    rows = session.exec(select(Ticket.recused).where(Ticket.customer_id == customer_id)).all()
    return frozenset(name for names in rows for name in (names or []))


def recused_from(session: Session, customer_id: int, username: str) -> bool:
    """True when any ticket of this customer names the person ``username`` by any of their
    identities (回避): the whole conversation is then out of their sight and reach."""
    viewer = viewer_of(session, username)
    names = viewer.names if viewer is not None else frozenset({username.casefold()})
    return not names.isdisjoint({n.casefold() for n in customer_recused(session, customer_id)})


def valid_username(username: str) -> bool:
    return bool(username) and len(username) <= 64 and all(c.isalnum() or c in "._-" for c in username)


def save(
    session: Session,
    *,
    username: str,
    display_name: str | None = None,
    roles: Iterable[str] | None = None,
    add_roles: Iterable[str] = (),
    departments: Iterable[str] | None = None,
    employee_no: str | None = None,
    language: str | None = None,
    email: str | None = None,
    activate: bool = True,
) -> Staff:
    """Create the person, or update the fields given (``add_roles`` adds to what they hold);
    ``activate`` False leaves a deactivated person so (the console's edit form)."""
    if not valid_username(username):
        raise PersonError("a username is 1-64 letters, digits, '.', '_' or '-'", "username")
    wanted = [*(roles or ()), *add_roles]
    unknown = [r for r in wanted if r not in {x.value for x in RANK}]
    if unknown:
        raise PersonError(f"unknown role {unknown[0]!r} ({', '.join(r.value for r in Role)})", "role")
    person = by_username(session, username)
    if person is None:
        person = Staff(username=username, display_name=display_name or username, notify=["console"])
    current = list(person.roles or ()) if roles is None else []
    merged = set(current) | set(wanted)
    person.roles = [r.value for r in Role if r.value in merged]
    if display_name:
        person.display_name = display_name
    if departments is not None:
        person.departments = list(dict.fromkeys(d.strip() for d in departments if d and d.strip()))
    if employee_no:
        person.employee_no = employee_no
    if language:
        person.language = language
    if email is not None:
        person.email = email.strip() or None
    if activate:
        person.active = True
    session.add(person)
    session.flush()
    return person


def deactivate(session: Session, username: str) -> bool:
    """No more tickets, logins or notifications for this person; their sessions end."""
    person = by_username(session, username)
    if person is None:
        return False
    person.active = False
    session.add(person)
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.username) == username))
    return True


def reactivate(session: Session, username: str) -> bool:
    """Tickets, logins (with the password they had) and notifications again."""
    person = by_username(session, username)
    if person is None:
        return False
    person.active = True
    session.add(person)
    return True


def everyone(session: Session) -> list[Staff]:
    """Every person, active or not, by display name (the Team page)."""
    rows = session.exec(select(Staff)).all()
    return sorted(rows, key=lambda p: (not p.active, p.display_name.casefold(), p.username))


def active_people(session: Session, *, department: str | None = None) -> list[Staff]:
    """Active people, by username; with ``department``, those serving it (or every department)."""
    rows = session.exec(select(Staff).where(col(Staff.active).is_(True)).order_by(col(Staff.username))).all()
    if department:
        return [p for p in rows if not p.departments or department in p.departments]
    return list(rows)
