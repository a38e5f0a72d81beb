"""A person's notification settings (``/console/notifications``): the channels they are told
on, their e-mail address and quiet hours, a Telegram link code, and *send test*, which writes a
test alert that goes out like any other (console list, then every chosen channel); and the
count of unread alerts the console's badge shows."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.services import notifications, people
from bot.services.people import NOTIFY_CHANNELS, Agent
from bot.web.console.answers import fail
from bot.web.console.context import Console
from bot.web.console.deps import ConsoleDep, CurrentAgent, DbDep, NowDep
from bot.web.console.security import role_extra
from dialogues.types import Language
from storage.models import StaffAlert
from storage.repositories import tickets as ticket_repo

router = APIRouter(prefix="/console/notifications")


def _language(agent: Agent) -> Language:
    return "en" if agent.language == "en" else "zh"


PAGE = "/console/notifications"
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


async def _page(console: Console, db: DbDep, agent: Agent, request: Request, **values: Any) -> HTMLResponse:
    person = await db.run(lambda s: people.by_username(s, agent.username))
    language = _language(agent)
    return console.render(
        "notifications.html",
        agent,
        person=person,
        channels=NOTIFY_CHANNELS,
        n=console.tousu.texts.words("notify", language),
        error=request.query_params.get("error"),
        notice=request.query_params.get("notice"),
        **values,
    )


@router.get("", openapi_extra=role_extra("agent"))
async def settings_page(
    request: Request, agent: CurrentAgent, console: ConsoleDep, db: DbDep
) -> HTMLResponse:
    return await _page(console, db, agent, request)


@router.get("/count", openapi_extra=role_extra("agent"))
async def unread_count(agent: CurrentAgent, db: DbDep) -> JSONResponse:
    """The person's unread alerts: what the console's badge, sound and tab title show (a page
    asks again on each live event)."""

    def count(session: Session) -> int:
        return int(
            session.exec(
                select(func.count())
                .select_from(StaffAlert)
                .where(StaffAlert.username == agent.username, col(StaffAlert.read_at).is_(None))
            ).one()
        )

    return JSONResponse({"unread": await db.run(count)})


@router.post("", openapi_extra=role_extra("agent"))
async def save_settings(request: Request, agent: CurrentAgent, console: ConsoleDep, db: DbDep) -> Response:
    form = await request.form()
    words = console.tousu.texts.words("notify", _language(agent))
    chosen = [c for c in NOTIFY_CHANNELS if form.get(f"channel_{c}")]
    email = str(form.get("email") or "").strip()[:254]
    quiet = [str(form.get(k) or "").strip() for k in ("quiet_from", "quiet_until")]
    if email and not _EMAIL.match(email):
        return fail(request, PAGE, words("bad_email"))
    if any(q and not _TIME.match(q) for q in quiet):
        return fail(request, PAGE, words("bad_time"))

    def change(session: Session) -> None:
        person = people.by_username(session, agent.username)
        assert person is not None
        person.notify = chosen
        person.email = email or None
        person.quiet_from, person.quiet_until = (quiet[0], quiet[1]) if all(quiet) else (None, None)
        session.add(person)

    await db.run(change)
    return RedirectResponse(f"{PAGE}?notice={words('saved')}", status_code=303)


@router.post("/test", openapi_extra=role_extra("agent"))
async def send_test(
    request: Request, agent: CurrentAgent, console: ConsoleDep, db: DbDep, now: NowDep
) -> Response:
    """A test alert: shown in the console and sent on every chosen channel, quiet hours or not."""
    texts = console.tousu.texts
    language = _language(agent)

    def write(session: Session) -> int:
        person = people.by_username(session, agent.username)
        assert person is not None
        count = len(notifications.addresses(session, person, console.tousu.settings.notifications))
        if count or "console" in person.notify:
            ticket_repo.add_alert(
                session,
                username=agent.username,
                ticket_id=None,
                kind="test",
                text="\n".join(texts.text(k, language) for k in ("notify.test_subject", "notify.test_text")),
                now=now,
            )
        return count

    count = await db.run(write)
    words = texts.words("notify", language)
    if count == 0:
        return fail(request, PAGE, words("test_none"))
    return RedirectResponse(f"{PAGE}?notice={texts.text('notify.test_queued', language, count=count)}", 303)


@router.post("/telegram", openapi_extra=role_extra("agent"))
async def telegram_code(
    request: Request, agent: CurrentAgent, console: ConsoleDep, db: DbDep, now: NowDep
) -> HTMLResponse:
    code = await db.run(lambda s: notifications.new_telegram_code(s, agent.username, now=now))
    return await _page(console, db, agent, request, code=code, minutes=notifications.CODE_MINUTES)
