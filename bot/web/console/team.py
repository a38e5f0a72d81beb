"""Team > People (``/console/team``), for admins: everyone of the desk with their roles,
departments, state and last login; add a person (with a first password the admin tells them,
or none for someone who only works tickets), change their name, roles, departments, e-mail and
language, set a new password, deactivate and reactivate (never delete: tickets and history keep
their name). The changes are ``bot.services.people``'s and ``accounts``', as the CLI makes them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from bot.domain.catalog import Words
from bot.domain.enums import StaffRole
from bot.services import people
from bot.services.people import Agent, PersonError
from bot.web.console import accounts
from bot.web.console.accounts import AccountError
from bot.web.console.context import Console
from bot.web.console.deps import ConsoleDep, CurrentAdmin, DbDep
from bot.web.console.security import role_extra
from dialogues.types import Language
from storage.models import Staff

router = APIRouter(prefix="/console/team")
PAGE = "/console/team"
ROLES = tuple(r.value for r in StaffRole)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME = 200


class Refused(ValueError):
    """A form refused, with the ``team`` catalog key that says why and its values."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def _language(agent: Agent) -> Language:
    return "en" if agent.language == "en" else "zh"


def words(console: Console, agent: Agent) -> Words:
    return console.tousu.texts.words("team", _language(agent))


def department_choices(console: Console, person: Staff | None = None) -> list[str]:
    """The departments a person may be put in: the active ones, and any they are in already."""
    codes = console.department_codes()
    for code in person.departments if person is not None else ():
        if code not in codes:
            codes.append(code)
    return codes


def _fields(form: FormData, choices: list[str]) -> dict[str, Any]:
    """What the add and edit forms send, trimmed and bounded."""
    language = str(form.get("language") or "zh")
    return {
        "display_name": str(form.get("display_name") or "").strip()[:MAX_NAME],
        "email": str(form.get("email") or "").strip()[:254],
        "roles": [r for r in ROLES if form.get(f"role_{r}")],
        "departments": [d for d in choices if form.get(f"department_{d}")],
        "language": language if language in ("zh", "en") else "zh",
    }


def _check(fields: Mapping[str, Any]) -> None:
    if not fields["display_name"]:
        raise Refused("error_name")
    if not fields["roles"]:
        raise Refused("error_roles")
    if fields["email"] and not _EMAIL.match(fields["email"]):
        raise Refused("error_email")


def _refusal(exc: PersonError | AccountError) -> Refused:
    return Refused(f"error_{exc.reason}" if exc.reason != "other" else "error_other")


async def _people_page(
    console: Console, db: DbDep, agent: Agent, request: Request, *, status: int = 200, **values: Any
) -> HTMLResponse:
    everyone = await db.run(people.everyone)
    return console.render(
        "team.html",
        agent,
        status=status,
        people=everyone,
        roles=ROLES,
        choices=department_choices(console),
        tm=words(console, agent),
        notice=request.query_params.get("notice"),
        error=values.pop("error", request.query_params.get("error")),
        form=values.pop("form", {}),
        **values,
    )


def _said(t: Words, exc: Refused) -> str:
    return t(exc.key).format(**exc.values)


@router.get("", openapi_extra=role_extra("admin"))
async def people_page(request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep) -> HTMLResponse:
    return await _people_page(console, db, agent, request)


@router.post("/people", openapi_extra=role_extra("admin"))
async def add_person(request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep) -> Response:
    form = await request.form()
    t = words(console, agent)
    fields = _fields(form, department_choices(console))
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")

    def add(session: Session) -> str:
        if not people.valid_username(username):
            raise Refused("error_username")
        if people.by_username(session, username) is not None:
            raise Refused("error_username_taken", username=username)
        _check(fields)
        try:
            if password:
                accounts.check_password(password)
            person = people.save(session, username=username, **fields)
            if password:
                accounts.set_password(session, person, password)
        except (PersonError, AccountError) as exc:
            raise _refusal(exc) from exc
        return person.display_name

    try:
        name = await db.run(add)
    except Refused as exc:
        kept = {**fields, "username": username}
        return await _people_page(console, db, agent, request, status=400, error=_said(t, exc), form=kept)
    return RedirectResponse(f"{PAGE}?notice={quote(t('added').format(name=name))}", status_code=303)


async def _person_page(
    console: Console,
    db: DbDep,
    agent: Agent,
    request: Request,
    username: str,
    *,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    person = await db.run(lambda s: people.by_username(s, username))
    t = words(console, agent)
    if person is None:
        return await _people_page(console, db, agent, request, status=404, error=t("error_no_person"))
    return console.render(
        "team_person.html",
        agent,
        status=status,
        person=person,
        roles=ROLES,
        choices=department_choices(console, person),
        tm=t,
        notice=request.query_params.get("notice"),
        error=values.pop("error", request.query_params.get("error")),
        **values,
    )


@router.get("/people/{username}", openapi_extra=role_extra("admin"))
async def person_page(
    username: str, request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep
) -> HTMLResponse:
    return await _person_page(console, db, agent, request, username)


def _found(session: Session, username: str) -> Staff:
    person = people.by_username(session, username)
    if person is None:
        raise Refused("error_no_person")
    return person


@router.post("/people/{username}", openapi_extra=role_extra("admin"))
async def save_person(
    username: str, request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep
) -> Response:
    form = await request.form()
    t = words(console, agent)

    def change(session: Session) -> None:
        person = _found(session, username)
        fields = _fields(form, department_choices(console, person))
        _check(fields)
        if username == agent.username and StaffRole.ADMIN.value not in fields["roles"]:
            raise Refused("error_self_admin")
        try:
            people.save(session, username=username, activate=False, **fields)
        except PersonError as exc:
            raise _refusal(exc) from exc

    try:
        await db.run(change)
    except Refused as exc:
        return await _person_page(console, db, agent, request, username, status=400, error=_said(t, exc))
    return RedirectResponse(f"{PAGE}/people/{username}?notice={quote(t('saved'))}", status_code=303)


@router.post("/people/{username}/password", openapi_extra=role_extra("admin"))
async def reset_password(
    username: str, request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep
) -> Response:
    form = await request.form()
    t = words(console, agent)
    password = str(form.get("password") or "")

    def change(session: Session) -> str:
        person = _found(session, username)
        try:
            accounts.set_password(session, person, password)
        except AccountError as exc:
            raise _refusal(exc) from exc
        return person.display_name

    try:
        name = await db.run(change)
    except Refused as exc:
        return await _person_page(console, db, agent, request, username, status=400, error=_said(t, exc))
    notice = t("password_set").format(name=name)
    return RedirectResponse(f"{PAGE}/people/{username}?notice={quote(notice)}", status_code=303)


@router.post("/people/{username}/active", openapi_extra=role_extra("admin"))
async def set_active(
    username: str, request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep
) -> Response:
    form = await request.form()
    t = words(console, agent)
    wanted = form.get("active") == "1"

    def change(session: Session) -> str:
        person = _found(session, username)
        if not wanted and username == agent.username:
            raise Refused("error_self_deactivate")
        if wanted:
            people.reactivate(session, username)
        else:
            people.deactivate(session, username)
        return person.display_name

    try:
        name = await db.run(change)
    except Refused as exc:
        return await _person_page(console, db, agent, request, username, status=400, error=_said(t, exc))
    notice = t("reactivated" if wanted else "deactivated").format(name=name)
    return RedirectResponse(f"{PAGE}/people/{username}?notice={quote(notice)}", status_code=303)
