"""The NLU review page (admins): samples to label, candidates trained with them and scored next
to the live model, and the switch. The samples are raw customer words: one whose ticket's
customer names the admin, or whose text itself names them, is neither shown to nor decided by
that admin (recusal)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from bot.domain.access import Viewer, can_see
from bot.services.nlu_review import ReviewError
from bot.web.console import cases, history
from bot.web.console.deps import CatalogDep, ConsoleDep, CurrentAdmin, DbDep, NluReviewDep
from bot.web.console.security import role_extra
from storage.models import NluCandidate, NluSample, Ticket

router = APIRouter(prefix="/console/nlu")


def visible(session: Session, viewer: Viewer, sample: NluSample) -> bool:
    """The policy on the sample's ticket (its customer's whole recusal list), then a scan of the
    raw text for the viewer's own names: a sample without a ticket has no list to check."""
    if sample.ticket_id is not None:
        ticket = session.get(Ticket, sample.ticket_id)
        if ticket is not None:
            case = cases.case_of_customer(session, ticket.customer_id)
            if not can_see(viewer, case):
                return False
    return not cases.names_in(sample.text, viewer)


@router.get("", openapi_extra=role_extra("admin"))
async def page(
    agent: CurrentAdmin,
    request: Request,
    console: ConsoleDep,
    db: DbDep,
    review: NluReviewDep,
    catalog: CatalogDep,
) -> HTMLResponse:
    def load(session: Session) -> dict[str, Any]:
        viewer = cases.viewer_for(session, agent)

        def samples(status: str) -> list[NluSample]:
            rows = session.exec(
                select(NluSample)
                .where(NluSample.status == status)
                .order_by(col(NluSample.id).desc())
                .limit(200)
            )
            return [r for r in rows if visible(session, viewer, r)]

        return {
            "categories": dict(history.category_choices(session, catalog, agent.language)),
            "authors": console.authors(session),
            "pending": samples("pending"),
            "accepted": samples("accepted"),
            "candidates": list(
                session.exec(select(NluCandidate).order_by(col(NluCandidate.id).desc()).limit(20))
            ),
        }

    data = await db.run(load)
    training = any(c.status == "training" for c in data["candidates"])
    return console.render(
        "nlu.html",
        agent,
        intents=await review.intents(),
        training=training,
        error=request.query_params.get("error"),
        **data,
    )


def _back(error: str | None = None) -> Response:
    return RedirectResponse("/console/nlu" + (f"?error={quote(error)}" if error else ""), status_code=303)


@router.post("/samples/{sample_id}", openapi_extra=role_extra("admin"))
async def decide(
    sample_id: int, agent: CurrentAdmin, request: Request, db: DbDep, review: NluReviewDep
) -> Response:
    form = await request.form()
    intent = None if form.get("action") == "dismiss" else str(form.get("intent") or "")

    def allowed(session: Session) -> bool:
        sample = session.get(NluSample, sample_id)
        return sample is None or visible(session, cases.viewer_for(session, agent), sample)

    if not await db.run(allowed):
        raise HTTPException(status_code=404, detail="no such sample")
    try:
        await review.decide(sample_id, intent=intent, actor=agent.username)
    except ReviewError as exc:
        return _back(str(exc))
    return _back()


@router.post("/candidates", openapi_extra=role_extra("admin"))
async def train(agent: CurrentAdmin, review: NluReviewDep) -> Response:
    try:
        await review.start_candidate(agent.username)
    except ReviewError as exc:
        return _back(str(exc))
    return _back()


@router.post("/candidates/{candidate_id}/switch", openapi_extra=role_extra("admin"))
async def switch(candidate_id: int, agent: CurrentAdmin, review: NluReviewDep) -> Response:
    try:
        await review.switch(candidate_id, agent.username)
    except ReviewError as exc:
        return _back(str(exc))
    return _back()
