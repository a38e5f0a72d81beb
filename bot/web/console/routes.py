"""The console's routes: login, the queue, a conversation, ticket work, the supervisor view and
canned replies. Each route is added with the role it needs (see ``security.require``)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from bot.domain.access import Action
from bot.domain.states import InvalidTransition
from bot.services.takeover import HandoffError, Upload
from bot.services.ticket_desk import LifecycleError
from bot.services.work import Work
from bot.settings import Settings
from bot.web.console import accounts, views
from bot.web.console.accounts import Agent
from bot.web.console.context import Console
from bot.web.console.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, adder, require, same, secure_cookie
from storage.models import CannedReply, ConsoleUser, Conversation, StaffAlert, Ticket

AgentDep = Annotated[Agent, Depends(require("agent"))]
SupervisorDep = Annotated[Agent, Depends(require("supervisor"))]
AdminDep = Annotated[Agent, Depends(require("admin"))]
HAND_BACK = ("resume", "menu", "survey")


def install(app: FastAPI, console: Console) -> None:
    """Add the console's routes to ``app`` directly (not through an included router), so the
    route table lists each one with its role."""
    tousu = console.tousu
    add = adder(app)

    # ---------------------------------------------------------------------------- login
    async def login_page(request: Request) -> Response:
        if await console.current_agent(request) is not None:
            return RedirectResponse("/console", status_code=303)
        return _login_form(console, request, error=None)

    async def login(request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username") or "")[:64]
        password = str(form.get("password") or "")[: accounts.MAX_PASSWORD + 1]  # longer: refused
        if not same(str(form.get("csrf_token") or ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
            return _login_form(console, request, error="bad_login", status=403)
        address = request.client.host if request.client else "?"
        now = tousu.clock()
        settings = console.settings
        result = await accounts.attempt_login(
            console.db,
            username=username,
            password=password,
            address=address,
            now=now,
            limit=settings.login_max_failures,
            window=timedelta(minutes=settings.login_window_minutes),
            lifetime=timedelta(hours=settings.session_hours),
            idle=timedelta(hours=settings.idle_hours),
        )
        if isinstance(result, str):
            return _login_form(console, request, error=result, status=429 if result == "throttled" else 401)
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            result[0],
            httponly=True,
            samesite="strict",
            secure=secure_cookie(request, settings.secure_cookies),
            max_age=int(settings.session_hours * 3600),
            path="/console",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
        return response

    async def logout(request: Request, agent: AgentDep) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        await console.db.run(lambda s: accounts.logout(s, token))
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    async def language(request: Request, agent: AgentDep) -> Response:
        def flip(session: Session) -> None:
            user = session.exec(select(ConsoleUser).where(ConsoleUser.username == agent.username)).one()
            user.language = "en" if user.language != "en" else "zh"
            session.add(user)

        await console.db.run(flip)
        return RedirectResponse(request.headers.get("referer") or "/console", status_code=303)

    add("GET", "/login", "public", login_page)
    add("POST", "/login", "public", login)
    add("POST", "/logout", "agent", logout)
    add("POST", "/language", "agent", language)

    # ---------------------------------------------------------------------------- pages
    async def home(agent: AgentDep) -> HTMLResponse:
        def load(session: Session) -> dict[str, Any]:
            return {
                "queue": views.queue(session, agent),
                "mine": views.held(session, agent),
                "alerts": views.alerts(session, agent, limit=20),
            }

        return console.render("home.html", agent, **await console.db.run(load))

    async def lists(agent: AgentDep) -> HTMLResponse:
        def load(session: Session) -> dict[str, Any]:
            return {"queue": views.queue(session, agent), "mine": views.held(session, agent)}

        return console.render("lists.html", agent, **await console.db.run(load))

    async def events(agent: AgentDep) -> StreamingResponse:
        async def visible(conversation_id: int) -> bool:
            """Each page hears only of the conversations its agent may see."""

            def check(session: Session) -> bool:
                conv = session.get(Conversation, conversation_id)
                return conv is not None and views.can_open(session, conv, agent)

            return bool(await console.db.run(check))

        return StreamingResponse(
            console.hub.stream(visible),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def conversation_page(conversation_id: int, agent: AgentDep, request: Request) -> HTMLResponse:
        now = tousu.clock()
        view = await console.db.run(lambda s: views.conversation(s, conversation_id, agent, now=now))
        if view is None:
            raise HTTPException(status_code=404, detail="no such conversation, or not yours to see")
        return console.render(
            "conversation.html",
            agent,
            view=view,
            now=now,
            error=request.query_params.get("error"),
            departments=_departments(tousu.settings),
        )

    async def conversation_messages(conversation_id: int, agent: AgentDep, after: int = 0) -> JSONResponse:
        def load(session: Session) -> dict[str, Any] | None:
            conv = session.get(Conversation, conversation_id)
            if conv is None or not views.can_open(session, conv, agent):
                return None
            return {
                "messages": views.messages_after(session, conversation_id, after),
                "status": conv.status,
                "held_by": conv.assigned_agent if conv.status == "agent" else None,
            }

        data = await console.db.run(load)
        if data is None:
            raise HTTPException(status_code=404, detail="no such conversation")
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    async def ticket_page(number: str, agent: AgentDep, request: Request) -> HTMLResponse:
        def load(session: Session) -> dict[str, Any] | None:
            ticket = views.ticket_by_number(session, number, agent)
            if ticket is None:
                return None
            events, deadlines, next_statuses = views.ticket_detail(session, ticket)
            return {
                "ticket": ticket,
                "events": events,
                "deadlines": deadlines,
                "next_statuses": next_statuses,
            }

        data = await console.db.run(load)
        if data is None:
            raise HTTPException(status_code=404, detail="no such ticket, or not yours to see")
        return console.render(
            "ticket.html",
            agent,
            now=tousu.clock(),
            error=request.query_params.get("error"),
            departments=_departments(tousu.settings),
            **data,
        )

    async def supervisor_page(agent: SupervisorDep) -> HTMLResponse:
        now = tousu.clock()
        view = await console.db.run(lambda s: views.supervisor(s, agent, now=now))
        return console.render("supervisor.html", agent, view=view, now=now)

    async def canned_page(agent: AdminDep) -> HTMLResponse:
        rows = await console.db.run(
            lambda s: list(s.exec(select(CannedReply).order_by(col(CannedReply.title))).all())
        )
        return console.render("canned.html", agent, rows=rows)

    add("GET", "", "agent", home)
    add("GET", "/lists", "agent", lists)
    add("GET", "/events", "agent", events)
    add("GET", "/conversations/{conversation_id}", "agent", conversation_page)
    add("GET", "/conversations/{conversation_id}/messages", "agent", conversation_messages)
    add("GET", "/tickets/{number}", "agent", ticket_page)
    add("GET", "/supervisor", "supervisor", supervisor_page)
    add("GET", "/canned", "admin", canned_page)

    # ---------------------------------------------------------------------------- conversation moves
    def conv_url(conversation_id: int) -> str:
        return f"/console/conversations/{conversation_id}"

    async def take(conversation_id: int, agent: AgentDep, request: Request) -> Response:
        await _can_open(console, conversation_id, agent, Action.TAKE)
        return await _act(request, conv_url(conversation_id), tousu.handoff.take(conversation_id, agent))

    async def reply(conversation_id: int, agent: AgentDep, request: Request) -> Response:
        await _can_open(console, conversation_id, agent, Action.WORK)
        form = await request.form()
        uploads: list[Upload] = []
        for item in form.getlist("files"):
            if isinstance(item, UploadFile) and item.filename:
                data = await item.read(console.settings.max_upload_bytes + 1)
                if len(data) > console.settings.max_upload_bytes:
                    return _fail(request, conv_url(conversation_id), "file too large")
                uploads.append(Upload(item.filename, item.content_type or "application/octet-stream", data))
        text = str(form.get("text") or "")
        return await _act(
            request, conv_url(conversation_id), tousu.handoff.reply(conversation_id, agent, text, uploads)
        )

    async def note(conversation_id: int, agent: AgentDep, request: Request) -> Response:
        await _can_open(console, conversation_id, agent, Action.WORK)
        form = await request.form()
        return await _act(
            request,
            conv_url(conversation_id),
            tousu.handoff.note(conversation_id, agent, str(form.get("text") or "")),
        )

    async def transfer(conversation_id: int, agent: AgentDep, request: Request) -> Response:
        await _can_open(console, conversation_id, agent, Action.TRANSFER)
        form = await request.form()
        to_user = str(form.get("to_user") or "") or None
        to_department = str(form.get("to_department") or "") or None
        return await _act(
            request,
            conv_url(conversation_id),
            tousu.handoff.transfer(conversation_id, agent, to_user=to_user, to_department=to_department),
        )

    async def hand_back(conversation_id: int, agent: AgentDep, request: Request) -> Response:
        await _can_open(console, conversation_id, agent, Action.WORK)
        form = await request.form()
        point = str(form.get("point") or "resume")
        if point not in HAND_BACK:
            return _fail(request, conv_url(conversation_id), "unknown hand-back point")
        return await _act(
            request,
            conv_url(conversation_id),
            tousu.handoff.hand_back(conversation_id, agent, point),  # type: ignore[arg-type]
        )

    add("POST", "/conversations/{conversation_id}/take", "agent", take)
    add("POST", "/conversations/{conversation_id}/reply", "agent", reply)
    add("POST", "/conversations/{conversation_id}/note", "agent", note)
    add("POST", "/conversations/{conversation_id}/transfer", "agent", transfer)
    add("POST", "/conversations/{conversation_id}/handback", "agent", hand_back)

    # ---------------------------------------------------------------------------- ticket work
    async def ticket_action(number: str, action: str, agent: Agent, request: Request) -> Response:
        form = await request.form()
        back = str(form.get("back") or f"/console/tickets/{number}")
        if not back.startswith("/console/"):
            back = f"/console/tickets/{number}"
        actor = f"agent:{agent.username}"
        desk = tousu.desk

        def seen(session: Session) -> bool:
            return views.ticket_by_number(session, number, agent) is not None

        if not await console.db.run(seen):
            raise HTTPException(status_code=404, detail="no such ticket, or not yours to see")

        def operation(work: Work, ticket: Ticket) -> None:
            if views.ticket_by_number(work.session, ticket.number, agent, Action.WORK) is None:
                raise LifecycleError("this ticket is not yours to work on")
            if action == "classify":
                changes = {k: str(form.get(k) or "") for k in desk.EDITABLE if k in form}
                desk.reclassify(work, ticket, changes, actor=actor)
            elif action == "propose":
                desk.propose(work, ticket, str(form.get("solution") or ""), actor=actor)
            elif action == "investigation":
                finding = str(form.get("finding") or "").strip()
                if not finding:
                    raise LifecycleError("write the finding")
                desk.record_investigation(work, ticket, finding, actor=actor)
            else:
                target = str(form.get("status") or "")
                note_text = str(form.get("note") or "").strip() or None
                if target == "resolved":
                    desk.resolve(work, ticket, actor=actor, note=note_text)
                elif target == "closed":
                    desk.close(work, ticket, actor=actor, note=note_text)
                elif target == "cancelled":
                    desk.cancel(work, ticket, actor=actor)
                elif target == "reopened":
                    desk.reopen(work, ticket, actor=actor, reason=note_text or "reopened", mishandled=False)
                elif target == "solution_proposed":
                    raise LifecycleError("use the solution form to propose a solution")
                else:
                    desk.move(work, ticket, target, actor=actor, note=note_text)

        async def run() -> None:
            await tousu.tickets.on_ticket(number, operation)
            conversation = await console.db.run(
                lambda s: s.exec(select(Ticket.conversation_id).where(Ticket.number == number)).first()
            )
            if conversation:
                console.hub.publish("activity", id=conversation)

        return await _act(request, back, run())

    async def classify(number: str, agent: AgentDep, request: Request) -> Response:
        return await ticket_action(number, "classify", agent, request)

    async def status(number: str, agent: AgentDep, request: Request) -> Response:
        return await ticket_action(number, "status", agent, request)

    async def propose(number: str, agent: AgentDep, request: Request) -> Response:
        return await ticket_action(number, "propose", agent, request)

    async def investigation(number: str, agent: AgentDep, request: Request) -> Response:
        return await ticket_action(number, "investigation", agent, request)

    add("POST", "/tickets/{number}/classify", "agent", classify)
    add("POST", "/tickets/{number}/status", "agent", status)
    add("POST", "/tickets/{number}/propose", "agent", propose)
    add("POST", "/tickets/{number}/investigation", "agent", investigation)

    # ---------------------------------------------------------------------------- alerts, canned
    async def read_alert(alert_id: int, agent: AgentDep, request: Request) -> Response:
        now = tousu.clock()

        def mark(session: Session) -> None:
            alert = session.get(StaffAlert, alert_id)
            if alert is None or alert.username != agent.username:
                raise HTTPException(status_code=404, detail="no such alert")
            alert.read_at = alert.read_at or now
            session.add(alert)

        await console.db.run(mark)
        return RedirectResponse("/console", status_code=303)

    async def add_canned(agent: AdminDep, request: Request) -> Response:
        form = await request.form()
        title = str(form.get("title") or "").strip()[:100]
        text = str(form.get("text") or "").strip()
        language = str(form.get("language") or "zh")
        if not title or not text or language not in ("zh", "en", "any"):
            return _fail(request, "/console/canned", "a canned reply needs a title, a text and a language")
        row = CannedReply(title=title, text=text[:4000], language=language, created_by=agent.username)
        await console.db.run(lambda s: s.add(row))
        return RedirectResponse("/console/canned", status_code=303)

    async def delete_canned(canned_id: int, agent: AdminDep) -> Response:
        def drop(session: Session) -> None:
            row = session.get(CannedReply, canned_id)
            if row is not None:
                session.delete(row)

        await console.db.run(drop)
        return RedirectResponse("/console/canned", status_code=303)

    add("POST", "/alerts/{alert_id}/read", "agent", read_alert)
    add("POST", "/canned", "admin", add_canned)
    add("POST", "/canned/{canned_id}/delete", "admin", delete_canned)


# -------------------------------------------------------------------------------------------- helpers
def _login_form(console: Console, request: Request, *, error: str | None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    language = "en" if request.query_params.get("lang") == "en" else "zh"
    response = console.render(
        "login.html", None, status=status, error=error, login_csrf=token, language=language
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request, console.settings.secure_cookies),
        path="/console",
    )
    return response


def _wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


def _fail(request: Request, back: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"ok": False, "error": message}, status_code=409)
    return RedirectResponse(f"{back}?error={quote(message)}", status_code=303)


async def _act(request: Request, back: str, action: Any) -> Response:
    try:
        await action
    except (HandoffError, LifecycleError, InvalidTransition) as exc:
        return _fail(request, back, str(exc))
    if _wants_json(request):
        return JSONResponse({"ok": True})
    return RedirectResponse(back, status_code=303)


async def _can_open(
    console: Console, conversation_id: int, agent: Agent, action: Action = Action.SEE
) -> None:
    """404 unless the policy lets ``agent`` see the conversation; 403 when they see it but may
    not do ``action`` on it."""

    def check(session: Session) -> int:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not views.can_open(session, conv, agent):
            return 404
        return 200 if views.can_open(session, conv, agent, action) else 403

    code = await console.db.run(check)
    if code == 403:
        raise HTTPException(status_code=403, detail="this conversation is not yours to do that with")
    if code != 200:
        raise HTTPException(status_code=404, detail="no such conversation, or not yours to see")


def _departments(settings: Settings) -> list[str]:
    names = {settings.lifecycle.default_department, *settings.lifecycle.departments.values()}
    return sorted(n for n in names if n)
