"""REST API tokens in the console (admins, ``/console/api-tokens``): the list (name, role,
created, last used, revoked), a new token shown once on the page that made it, and revoking.
The same calls as ``tousu api-tokens`` (bot/web/api/tokens.py, storage/repositories/api_tokens.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from bot.domain.access import Role
from bot.web.api import tokens
from bot.web.console.accounts import Agent
from bot.web.console.answers import fail
from bot.web.console.deps import ConsoleDep, CurrentAdmin, DbDep, NowDep, SettingsDep
from bot.web.console.security import role_extra
from storage.models import ApiToken
from storage.repositories import api_tokens

router = APIRouter(prefix="/console/api-tokens")
PAGE = "/console/api-tokens"
REFUSED = {
    tokens.Refused.BAD_NAME: "error_bad_name",
    tokens.Refused.NAME_TAKEN: "error_name_taken",
    tokens.Refused.UNKNOWN_ROLE: "error_unknown_role",
}
"""A refusal's words in the catalog's ``integrations`` area."""


def _rows(session: Session) -> list[ApiToken]:
    """Live tokens first, each group by name; revoked ones stay listed (who had access, until when)."""
    rows = list(api_tokens.listing(session))
    for row in rows:
        session.expunge(row)
    return sorted(rows, key=lambda r: (r.revoked_at is not None, r.name))


def _page(
    console: ConsoleDep, agent: Agent, rows: list[ApiToken], settings: SettingsDep, **values: Any
) -> HTMLResponse:
    return console.render(
        "api_tokens.html",
        agent,
        rows=rows,
        roles=list(Role),
        departments=console.department_codes(),
        w=console.tousu.texts.words("integrations", "en" if agent.language == "en" else "zh"),
        **values,
    )


@router.get("", openapi_extra=role_extra("admin"))
async def tokens_page(
    request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep, settings: SettingsDep
) -> HTMLResponse:
    return _page(
        console,
        agent,
        await db.run(_rows),
        settings,
        error=request.query_params.get("error"),
        revoked=request.query_params.get("revoked", "")[: tokens.NAME_MAX],
    )


@router.post("", openapi_extra=role_extra("admin"))
async def create_token(
    request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep, now: NowDep, settings: SettingsDep
) -> HTMLResponse:
    """The new token is on this answer only (the page is not cached, and nothing stores it)."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    role = str(form.get("role") or "")
    department = str(form.get("department") or "")
    if department and department not in console.department_codes():
        department = ""

    def make(session: Session) -> tuple[str, list[ApiToken]] | tokens.Refused:
        try:
            made = tokens.create(session, name=name, role=role, department=department or None, now=now)
        except tokens.TokenError as exc:
            return exc.reason
        session.flush()
        return made.secret, _rows(session)

    result = await db.run(make)
    words = console.tousu.texts.words("integrations", "en" if agent.language == "en" else "zh")
    if isinstance(result, tokens.Refused):
        rows = await db.run(_rows)
        return _page(
            console, agent, rows, settings, error=words(REFUSED[result]), typed=(name, role, department)
        )
    secret, rows = result
    return _page(console, agent, rows, settings, made=(name, role, secret))


@router.post("/revoke", openapi_extra=role_extra("admin"))
async def revoke_token(
    request: Request, agent: CurrentAdmin, console: ConsoleDep, db: DbDep, now: NowDep
) -> Response:
    form = await request.form()
    name = str(form.get("name") or "")[: tokens.NAME_MAX]
    words = console.tousu.texts.words("integrations", "en" if agent.language == "en" else "zh")
    if not await db.run(lambda s: api_tokens.revoke(s, name=name, now=now)):
        return fail(request, PAGE, words("error_no_token"))
    return RedirectResponse(f"{PAGE}?{urlencode({'revoked': name})}", status_code=303)
