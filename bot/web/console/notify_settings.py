"""A person's notification settings (``/console/notifications``): the channels they are told
on, their e-mail address, the console's sound and their quiet hours, linking Telegram with a
one-time code, and *send test* per channel, which saves what is on the form and then sends a
test on that one channel now, telling the outcome on the page in words; and the count of unread
alerts the console's badge shows."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.domain.enums import NotifyChannel
from bot.services import departments, notifications, people
from bot.services.notifications import TestResult
from bot.services.people import NOTIFY_CHANNELS, Agent
from bot.web.console.context import Console
from bot.web.console.deps import ConsoleDep, CurrentAgent, DbDep, NowDep
from bot.web.console.security import role_extra
from dialogues.types import Language
from storage.models import Staff, StaffAlert
from storage.repositories import tickets as ticket_repo

router = APIRouter(prefix="/console/notifications")


def _language(agent: Agent) -> Language:
    return "en" if agent.language == "en" else "zh"


PAGE = "/console/notifications"
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


async def _page(
    console: Console, db: DbDep, agent: Agent, *, status: int = 200, **values: Any
) -> HTMLResponse:
    settings = console.tousu.settings

    def load(session: Session) -> tuple[Staff | None, dict[str, str]]:
        return people.by_username(session, agent.username), departments.wecom_urls(
            session, settings.notifications
        )

    person, urls = await db.run(load)
    assert person is not None  # a logged-in agent is a person
    label = console.labels(agent)
    robots = [d for d in person.departments or () if d in urls]
    return console.render(
        "notifications.html",
        agent,
        status=status,
        person=person,
        channels=NOTIFY_CHANNELS,
        n=console.tousu.texts.words("notify", _language(agent)),
        robots=", ".join(label("department", d) for d in robots),
        telegram_ready=settings.has_telegram,
        minutes=notifications.CODE_MINUTES,
        **values,
    )


@router.get("", openapi_extra=role_extra("agent"))
async def settings_page(
    request: Request, agent: CurrentAgent, console: ConsoleDep, db: DbDep
) -> HTMLResponse:
    words = console.tousu.texts.words("notify", _language(agent))
    notice = words("saved") if request.query_params.get("saved") else None
    return await _page(console, db, agent, notice=notice)


@router.get("/count", openapi_extra=role_extra("agent"))
async def unread_count(agent: CurrentAgent, db: DbDep) -> JSONResponse:
    """The person's unread alerts and the newest one's id: what the console's badge and tab
    title show, and its sound plays for (a page asks again when the live stream says alerts
    came, and now and then)."""

    def count(session: Session) -> tuple[int, int]:
        unread, latest = session.exec(
            select(func.count(), func.max(StaffAlert.id)).where(
                StaffAlert.username == agent.username, col(StaffAlert.read_at).is_(None)
            )
        ).one()
        return int(unread), int(latest or 0)

    unread, latest = await db.run(count)
    return JSONResponse({"unread": unread, "latest": latest}, headers={"Cache-Control": "no-store"})


@router.post("", openapi_extra=role_extra("agent"))
async def save_settings(
    request: Request, agent: CurrentAgent, console: ConsoleDep, db: DbDep, now: NowDep
) -> Response:
    """Save the form; with ``test`` (a channel), then send a test on that channel."""
    form = await request.form()
    words = console.tousu.texts.words("notify", _language(agent))
    chosen = [c for c in NOTIFY_CHANNELS if form.get(f"channel_{c}")]
    sound = bool(form.get("sound"))
    email = str(form.get("email") or "").strip()[:254]
    quiet = [str(form.get(k) or "").strip()[:5] for k in ("quiet_from", "quiet_until")]
    draft = {
        "notify": chosen,
        "email": email,
        "quiet_from": quiet[0],
        "quiet_until": quiet[1],
        "sound": sound,
    }
    problem = None
    if email and not _EMAIL.match(email):
        problem = words("bad_email")
    elif any(q and not _TIME.match(q) for q in quiet):
        problem = words("bad_time")
    elif any(quiet) and not all(quiet):
        problem = words("bad_quiet")
    if problem:
        return await _page(console, db, agent, status=422, error=problem, draft=draft)

    def change(session: Session) -> None:
        person = people.by_username(session, agent.username)
        assert person is not None
        person.notify = chosen
        person.notify_sound = sound
        person.email = email or None
        person.quiet_from, person.quiet_until = (quiet[0], quiet[1]) if all(quiet) else (None, None)
        session.add(person)

    await db.run(change)
    test = str(form.get("test") or "")
    if test not in NOTIFY_CHANNELS:
        return RedirectResponse(f"{PAGE}?saved=1", status_code=303)
    result = await _send_test(console, db, agent, NotifyChannel(test), now=now)
    text = _result_words(console, agent, result)
    if result.failure is None:
        return await _page(console, db, agent, notice=text, tested=test)
    return await _page(console, db, agent, error=text, tested=test)


async def _send_test(
    console: Console, db: DbDep, agent: Agent, channel: NotifyChannel, *, now: Any
) -> TestResult:
    texts = console.tousu.texts
    language = _language(agent)
    subject, text = (texts.text(k, language) for k in ("notify.test_subject", "notify.test_text"))
    if channel is NotifyChannel.CONSOLE:
        # an alert in the console only (a test alert is never fanned out to the other channels)
        await db.run(
            lambda s: ticket_repo.add_alert(
                s, username=agent.username, ticket_id=None, kind=notifications.TEST, text=text, now=now
            )
        )
        return TestResult(channel, None)
    return await console.tousu.notifier.send_test(agent.username, channel, subject=subject, text=text)


def _result_words(console: Console, agent: Agent, result: TestResult) -> str:
    texts = console.tousu.texts
    language = _language(agent)
    channel = result.channel.value
    if result.failure is not None:
        return texts.text(f"notify.fail_{channel}_{result.failure.value}", language)
    if result.channel is NotifyChannel.EMAIL:
        return texts.text("notify.test_email", language, address=result.sent[0] if result.sent else "")
    if result.channel is NotifyChannel.WECOM:
        return texts.text("notify.test_wecom", language, count=len(result.sent))
    return texts.text(f"notify.test_{channel}", language)


@router.post("/telegram", openapi_extra=role_extra("agent"))
async def telegram_code(agent: CurrentAgent, console: ConsoleDep, db: DbDep, now: NowDep) -> HTMLResponse:
    code = await db.run(lambda s: notifications.new_telegram_code(s, agent.username, now=now))
    return await _page(console, db, agent, code=code)


@router.get("/telegram", openapi_extra=role_extra("agent"))
async def telegram_back(agent: CurrentAgent) -> RedirectResponse:
    """The code's page reloaded or returned to (the language switch goes back): the settings
    page; the code is shown only once, in the answer that made it."""
    return RedirectResponse(PAGE, status_code=303)
