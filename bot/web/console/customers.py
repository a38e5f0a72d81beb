"""Data rights in the console (admins): find a customer, download everything held about them,
erase them. Both are recorded in ``data_requests``. Recusal binds admins here too: an admin a
customer's complaint names neither finds, opens, exports nor erases that customer."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.domain.access import Action, allows
from bot.services import data_rights
from bot.web.console import cases
from bot.web.console.accounts import Agent
from bot.web.console.deps import ConsoleDep, CurrentAdmin, DbDep, ManagerDep, NowDep, SettingsDep
from bot.web.console.security import role_extra
from dialogues.types import ConversationKey
from storage.models import Customer, DataRequest, Message, Ticket

router = APIRouter(prefix="/console/customers")


def _may(session: Session, agent: Agent, customer_id: int, action: Action) -> bool:
    return allows(cases.viewer_for(session, agent), action, cases.case_of_customer(session, customer_id))


@router.get("", openapi_extra=role_extra("admin"))
async def search(agent: CurrentAdmin, console: ConsoleDep, db: DbDep, q: str = "") -> HTMLResponse:
    def find(session: Session) -> list[Customer]:
        found = data_rights.find_customers(session, q[:100])
        return [c for c in found if c.id is not None and _may(session, agent, c.id, Action.SEE)]

    rows = await db.run(find)
    return console.render("customers.html", agent, q=q, rows=rows)


@router.get("/{customer_id}", openapi_extra=role_extra("admin"))
async def detail(
    customer_id: int, agent: CurrentAdmin, request: Request, console: ConsoleDep, db: DbDep
) -> HTMLResponse:
    def load(session: Session) -> dict[str, Any] | None:
        customer = session.get(Customer, customer_id)
        if customer is None or not _may(session, agent, customer_id, Action.SEE):
            return None
        count = func.count()
        return {
            "customer": customer,
            "messages": session.exec(
                select(count).select_from(Message).where(Message.customer_id == customer_id)
            ).one(),
            "tickets": list(session.exec(select(Ticket).where(Ticket.customer_id == customer_id))),
            "authors": console.authors(session),
            "requests": list(
                session.exec(
                    select(DataRequest)
                    .where(DataRequest.customer_id == customer_id)
                    .order_by(col(DataRequest.id).desc())
                )
            ),
        }

    data = await db.run(load)
    if data is None:
        raise HTTPException(status_code=404, detail="no such customer")
    return console.render("customer.html", agent, notice=request.query_params.get("done"), **data)


@router.post("/{customer_id}/export", openapi_extra=role_extra("admin"))
async def export(
    customer_id: int, agent: CurrentAdmin, db: DbDep, now: NowDep, settings: SettingsDep
) -> Response:
    files_root = settings.path(settings.attachments.dir)

    def run(session: Session) -> data_rights.Export:
        if not _may(session, agent, customer_id, Action.EXPORT):
            raise HTTPException(status_code=404, detail="no such customer")
        return data_rights.export(
            session,
            customer_id,
            actor=f"agent:{agent.username}",
            now=now,
            files_root=files_root,
            record=False,
        )

    try:
        found = await db.read(run)  # a worker thread
    except data_rights.NoSuchCustomer as exc:
        raise HTTPException(status_code=404, detail="no such customer") from exc
    body = await asyncio.to_thread(found.zip_bytes)  # deflate and file reads, off the loop
    await db.run(lambda s: s.add(found.request))  # recorded only once the zip is built
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}.zip"'},
    )


@router.post("/{customer_id}/erase", openapi_extra=role_extra("admin"))
async def erase(
    customer_id: int,
    agent: CurrentAdmin,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    now: NowDep,
    manager: ManagerDep,
) -> Response:
    form = await request.form()
    if str(form.get("confirm") or "").strip() != str(customer_id):
        return RedirectResponse(f"/console/customers/{customer_id}?done=confirm", status_code=303)
    places = console.places

    def run(session: Session) -> tuple[ConversationKey, data_rights.Cleanup]:
        customer = session.get(Customer, customer_id)
        if customer is None or not _may(session, agent, customer_id, Action.ERASE):
            raise HTTPException(status_code=404, detail="no such customer")
        key = ConversationKey(customer.channel, customer.external_id)
        _, cleanup = data_rights.erase(
            session, customer_id, actor=f"agent:{agent.username}", now=now, places=places
        )
        return key, cleanup

    key, cleanup = await db.run(run)
    manager.forget_customer(key)
    await asyncio.to_thread(data_rights.finish, cleanup)
    return RedirectResponse(f"/console/customers/{customer_id}?done=erased", status_code=303)
