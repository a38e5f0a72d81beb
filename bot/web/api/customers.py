"""``/customers``: a customer record and the export of everything held about them (admins only,
as in the console; recorded in ``data_requests`` like the console's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlmodel import Session

from bot.domain.access import Action, allows, can_see
from bot.services import data_rights
from bot.web.api.deps import Caller, CallerDep, DbDep, NowDep, TousuDep
from bot.web.api.schemas import MAX_ID, CustomerExport, CustomerOut
from bot.web.console import cases
from storage.models import Customer
from storage.repositories import api_reads

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
router = APIRouter(prefix="/customers", tags=["customers"])
NOT_FOUND = "no such customer, or not this token's to see"


def _seen(session: Session, customer_id: int, caller: Caller) -> Customer | None:
    customer = session.get(Customer, customer_id)
    if customer is None or not can_see(caller.viewer, cases.case_of_customer(session, customer_id)):
        return None
    return customer


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: RowId, caller: CallerDep, db: DbDep) -> CustomerOut:
    def load(session: Session) -> CustomerOut | None:
        customer = _seen(session, customer_id, caller)
        if customer is None:
            return None
        numbers, conversations = api_reads.customer_links(session, customer_id=customer_id)
        return CustomerOut.model_validate(
            {**customer.model_dump(), "tickets": numbers, "conversations": conversations}
        )

    found = await db.read(load)
    if found is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return found


@router.post("/{customer_id}/export", response_model=CustomerExport)
async def export(
    customer_id: RowId, caller: CallerDep, db: DbDep, now: NowDep, tousu: TousuDep
) -> CustomerExport:
    """Everything held about the customer as JSON (the console's ``data.json``). Admin tokens only."""
    settings = tousu.settings
    files_root = settings.path(settings.attachments.dir)

    def run(session: Session) -> CustomerExport | int:
        if _seen(session, customer_id, caller) is None:
            return 404
        if not allows(caller.viewer, Action.EXPORT, cases.case_of_customer(session, customer_id)):
            return 403
        made = data_rights.export(session, customer_id, actor=caller.actor, now=now, files_root=files_root)
        return CustomerExport.model_validate(made.data)

    result = await db.run(run)
    if result == 404:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    if result == 403:
        raise HTTPException(status_code=403, detail="only an admin token exports a customer's data")
    assert isinstance(result, CustomerExport)
    return result
