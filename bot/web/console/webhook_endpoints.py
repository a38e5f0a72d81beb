"""Webhook receivers in the console (admins, ``/console/webhooks``): the endpoints with their
events and whether they are on (and why not), adding one (its signing secret shown once on the
page that made it), removing, turning on again, and each endpoint's delivery log, page by page,
with *send again*. The same calls as ``tousu webhooks`` (bot/services/webhooks.py,
storage/repositories/webhooks.py); the running bot's dispatcher does the sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from bot.domain.catalog import Words
from bot.services import webhooks
from bot.web.console.accounts import Agent
from bot.web.console.answers import fail
from bot.web.console.deps import ConsoleDep, CurrentAdmin, DbDep, NowDep
from bot.web.console.security import role_extra
from storage.models import Ticket, WebhookDelivery, WebhookEndpoint
from storage.repositories import webhooks as repo

router = APIRouter(prefix="/console/webhooks")
PAGE = "/console/webhooks"
PER_PAGE = 25
REFUSED = {webhooks.Refused.BAD_URL: "error_bad_url", webhooks.Refused.UNKNOWN_EVENTS: "error_no_events"}
DONE = ("removed", "enabled")
"""What a redirect back to the list may say was done (``?done=``)."""


def _words(console: ConsoleDep, agent: Agent) -> Words:
    return console.tousu.texts.words("integrations", "en" if agent.language == "en" else "zh")


def event_key(event: str) -> str:
    """An event's label in the ``integrations`` area."""
    return "event_" + event.replace(".", "_")


def _endpoints(session: Session) -> list[WebhookEndpoint]:
    rows = list(repo.endpoints(session))
    for row in rows:
        session.expunge(row)
    return rows


def _list(console: ConsoleDep, agent: Agent, rows: list[WebhookEndpoint], **values: Any) -> HTMLResponse:
    return console.render(
        "webhooks.html",
        agent,
        rows=rows,
        events=webhooks.EVENTS,
        event_key=event_key,
        w=_words(console, agent),
        **values,
    )


@router.get("", openapi_extra=role_extra("admin"))
async def endpoints_page(
    request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep
) -> HTMLResponse:
    done = request.query_params.get("done")
    return _list(
        console,
        agent,
        await db.run(_endpoints),
        error=request.query_params.get("error"),
        done=done if done in DONE else None,
    )


@router.post("", openapi_extra=role_extra("admin"))
async def add_endpoint(
    request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep, now: NowDep
) -> HTMLResponse:
    """The new endpoint's secret is on this answer only; the list never shows it again."""
    form = await request.form()
    url = str(form.get("url") or "").strip()
    chosen = [e for e in webhooks.EVENTS if form.get(f"event_{e}")]
    words = _words(console, agent)
    if not chosen:
        rows = await db.run(_endpoints)
        return _list(console, agent, rows, error=words("error_no_events"), typed=(url[:500], chosen))

    def add(session: Session) -> tuple[int, str, list[WebhookEndpoint]] | webhooks.Refused:
        try:
            row = webhooks.add_endpoint(session, url=url, events=chosen, now=now)
        except webhooks.WebhookError as exc:
            return exc.reason
        assert row.id is not None
        return row.id, row.secret, _endpoints(session)

    result = await db.run(add)
    if isinstance(result, webhooks.Refused):
        rows = await db.run(_endpoints)
        return _list(console, agent, rows, error=words(REFUSED[result]), typed=(url[:500], chosen))
    endpoint_id, secret, rows = result
    return _list(console, agent, rows, made=(endpoint_id, secret))


@router.post("/{endpoint_id}/remove", openapi_extra=role_extra("admin"))
async def remove_endpoint(
    endpoint_id: int, request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep
) -> Response:
    if not await db.run(lambda s: repo.remove_endpoint(s, endpoint_id=endpoint_id)):
        return fail(request, PAGE, _words(console, agent)("error_no_endpoint"))
    return RedirectResponse(f"{PAGE}?done=removed", status_code=303)


@router.post("/{endpoint_id}/enable", openapi_extra=role_extra("admin"))
async def enable_endpoint(
    endpoint_id: int, request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep, now: NowDep
) -> Response:
    if not await db.run(lambda s: webhooks.enable_endpoint(s, endpoint_id=endpoint_id, now=now)):
        return fail(request, PAGE, _words(console, agent)("error_no_endpoint"))
    return RedirectResponse(f"{PAGE}?done=enabled", status_code=303)


@dataclass(frozen=True, slots=True)
class LogRow:
    """One delivery as the log shows it."""

    id: int
    event: str
    ticket_number: str | None
    conversation_id: int | None
    at: datetime
    attempts: int
    answer: webhooks.Answer
    status_code: int | None
    state: str


@dataclass(frozen=True, slots=True)
class LogPage:
    endpoint: WebhookEndpoint
    rows: list[LogRow]
    page: int
    pages: int
    total: int


def _subject(order_key: str) -> tuple[str, int | None]:
    """What a delivery is about, from its ordering key (``ticket:<id>``, ``conversation:<id>``)."""
    kind, _, raw = order_key.partition(":")
    return kind, int(raw) if raw.isdigit() else None


def _log(session: Session, endpoint_id: int, page: int) -> LogPage | None:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        return None
    session.expunge(endpoint)
    total = repo.log_size(session, endpoint_id=endpoint_id)
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(page, 1), pages)
    found = list(repo.log(session, endpoint_id=endpoint_id, limit=PER_PAGE, offset=(page - 1) * PER_PAGE))
    ticket_ids = {i for kind, i in map(_subject, (d.order_key for d in found)) if kind == "ticket" and i}
    numbers: dict[int, str] = {}
    if ticket_ids:
        numbers = {
            int(tid): number
            for tid, number in session.exec(
                select(Ticket.id, Ticket.number).where(col(Ticket.id).in_(ticket_ids))
            ).all()
            if tid is not None
        }
    return LogPage(endpoint, [_row(d, numbers) for d in found], page, pages, total)


def _row(delivery: WebhookDelivery, numbers: dict[int, str]) -> LogRow:
    assert delivery.id is not None
    kind, subject = _subject(delivery.order_key)
    return LogRow(
        id=delivery.id,
        event=delivery.event,
        ticket_number=numbers.get(subject or 0) if kind == "ticket" else None,
        conversation_id=subject if kind == "conversation" else None,
        at=delivery.delivered_at or delivery.created_at,
        attempts=delivery.attempts,
        answer=webhooks.answer(delivery.last_status, delivery.last_error),
        status_code=delivery.last_status,
        state=delivery.status,
    )


@router.get("/{endpoint_id}", openapi_extra=role_extra("admin"))
async def delivery_log(
    endpoint_id: int, request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep, page: int = 1
) -> HTMLResponse:
    found = await db.run(lambda s: _log(s, endpoint_id, page))
    if found is None:
        raise HTTPException(status_code=404)
    return console.render(
        "webhook_log.html",
        agent,
        log=found,
        event_key=event_key,
        w=_words(console, agent),
        error=request.query_params.get("error"),
        sent=request.query_params.get("sent") == "1",
    )


@router.post("/{endpoint_id}/deliveries/{delivery_id}/resend", openapi_extra=role_extra("admin"))
async def send_again(
    endpoint_id: int,
    delivery_id: int,
    request: Request,
    agent: CurrentAdmin,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
) -> Response:
    """Queue the delivery again, as ``tousu webhooks resend`` does (the same body and event id)."""
    back = f"{PAGE}/{endpoint_id}"
    words = _words(console, agent)

    def queue(session: Session) -> str | None:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        delivery = session.get(WebhookDelivery, delivery_id)
        if endpoint is None or delivery is None or delivery.endpoint_id != endpoint_id:
            return "error_no_endpoint"
        if not endpoint.active:
            return "error_off"
        repo.send_again(session, delivery_id=delivery_id, now=now)
        return None

    refused = await db.run(queue)
    if refused is not None:
        return fail(request, back, words(refused))
    page = request.query_params.get("page", "1")
    return RedirectResponse(f"{back}?{urlencode({'sent': 1, 'page': page if page.isdigit() else 1})}", 303)
