"""The NLU review page (admins): samples to label, candidates trained with them and scored next
to the live model, and the switch. The samples are raw customer words: one whose ticket's
customer names the admin, or whose text itself names them, is neither shown to nor decided by
that admin (recusal)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from bot.domain.access import Viewer, can_see
from bot.services.nlu_review import ReviewError
from bot.web.console import cases
from bot.web.console.accounts import Agent
from bot.web.console.context import Console
from bot.web.console.security import adder, require
from storage.models import NluCandidate, NluSample, Ticket

AdminDep = Annotated[Agent, Depends(require("admin"))]


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


def install(app: FastAPI, console: Console) -> None:
    add = adder(app)
    review = console.tousu.nlu_review

    async def page(agent: AdminDep, request: Request) -> HTMLResponse:
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
                "pending": samples("pending"),
                "accepted": samples("accepted"),
                "candidates": list(
                    session.exec(select(NluCandidate).order_by(col(NluCandidate.id).desc()).limit(20))
                ),
            }

        data = await console.db.run(load)
        training = any(c.status == "training" for c in data["candidates"])
        return console.render(
            "nlu.html",
            agent,
            intents=await review.intents(),
            training=training,
            error=request.query_params.get("error"),
            **data,
        )

    def back(error: str | None = None) -> Response:
        return RedirectResponse("/console/nlu" + (f"?error={quote(error)}" if error else ""), status_code=303)

    async def decide(sample_id: int, agent: AdminDep, request: Request) -> Response:
        form = await request.form()
        intent = None if form.get("action") == "dismiss" else str(form.get("intent") or "")

        def allowed(session: Session) -> bool:
            sample = session.get(NluSample, sample_id)
            return sample is None or visible(session, cases.viewer_for(session, agent), sample)

        if not await console.db.run(allowed):
            raise HTTPException(status_code=404, detail="no such sample")
        try:
            await review.decide(sample_id, intent=intent, actor=agent.username)
        except ReviewError as exc:
            return back(str(exc))
        return back()

    async def train(agent: AdminDep) -> Response:
        try:
            await review.start_candidate(agent.username)
        except ReviewError as exc:
            return back(str(exc))
        return back()

    async def switch(candidate_id: int, agent: AdminDep) -> Response:
        try:
            await review.switch(candidate_id, agent.username)
        except ReviewError as exc:
            return back(str(exc))
        return back()

    add("GET", "/nlu", "admin", page)
    add("POST", "/nlu/samples/{sample_id}", "admin", decide)
    add("POST", "/nlu/candidates", "admin", train)
    add("POST", "/nlu/candidates/{candidate_id}/switch", "admin", switch)
