"""How a console action answers: ``{"ok": ...}`` JSON to the page's script (``X-Requested-With:
fetch``), a redirect back (with ``?error=``) to a plain form."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from bot.domain.states import InvalidTransition
from bot.services.takeover import HandoffError
from bot.services.ticket_desk import LifecycleError
from bot.settings import Settings


def wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


def fail(request: Request, back: str, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": False, "error": message}, status_code=409)
    return RedirectResponse(f"{back}?error={quote(message)}", status_code=303)


async def act(request: Request, back: str, action: Awaitable[Any]) -> Response:
    """Run ``action``; a refusal of the desk or the handoff is the ``fail`` answer."""
    try:
        await action
    except (HandoffError, LifecycleError, InvalidTransition) as exc:
        return fail(request, back, str(exc))
    if wants_json(request):
        return JSONResponse({"ok": True})
    return RedirectResponse(back, status_code=303)


def departments(settings: Settings) -> list[str]:
    """The departments a conversation or ticket can be sent to."""
    names = {settings.lifecycle.default_department, *settings.lifecycle.departments.values()}
    return sorted(n for n in names if n)
