"""How a console action answers: ``{"ok": ...}`` JSON to the page's script (``X-Requested-With:
fetch``), a redirect back (with ``?error=``) to a plain form."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from bot.domain.catalog import Words
from bot.domain.states import InvalidTransition
from bot.services.takeover import HandoffError
from bot.services.ticket_desk import LifecycleError


def wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


def fail(request: Request, back: str, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": False, "error": message}, status_code=409)
    return RedirectResponse(f"{back}?error={quote(message)}", status_code=303)


class Refusal(ValueError):
    """A refusal already in the agent's words (e.g. which of a bulk action's tickets failed)."""


REFUSALS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"already taken by (?P<who>.+)", "error_taken"),
        (r"named in", "error_recused"),
        (r"write a reply or attach", "error_empty_reply"),
        (r"a (reply|note) holds", "error_too_long"),
        (r"no such conversation", "error_no_conversation"),
        (r"choose a colleague or a department", "error_choose_target"),
        (r"no active (console user|staff member)", "error_no_person"),
        (r"no resolved ticket waiting for a survey", "error_no_survey"),
        (r"take the conversation first", "error_take_first"),
        (r"not yours to work on", "error_not_yours"),
        (r"write the finding", "error_finding"),
        (r"unknown contact method", "error_contact_how"),
        (r"contact time is not a date", "error_contact_time"),
        (r"contact time is in the future", "error_contact_future"),
        (r"contact time is before", "error_contact_before"),
        (r"solution needs text|use the solution form", "error_solution_text"),
        (r"file too large", "error_file_large"),
        (r"takes images only", "error_images_only"),
        (r"files cannot be sent on", "error_no_files"),
        (r"unknown hand-back point", "error_other"),
    )
)
"""The services refuse in English for logs and the API; the console says it in the agent's words."""


def in_words(exc: Exception, t: Words, label: Any = None) -> str:
    """A refusal as the agent reads it: never the service's English, never a code."""
    if isinstance(exc, InvalidTransition):
        name = label or (lambda area, code: code)
        return t("error_transition").format(
            current=name("status", exc.current), target=name("status", exc.target)
        )
    message = str(exc)
    for pattern, key in REFUSALS:
        found = pattern.search(message)
        if found:
            return t(key).format(**found.groupdict())
    if isinstance(exc, Refusal):
        return message
    return t("error_refused")


async def act(
    request: Request,
    back: str,
    action: Awaitable[Any],
    *,
    t: Words | None = None,
    label: Any = None,
    done: str | None = None,
) -> Response:
    """Run ``action``; a refusal of the desk or the handoff is the ``fail`` answer (in the
    agent's words when ``t`` is given). ``done``: where to go after success, when ``back`` is
    no longer the agent's to see (a conversation handed back)."""
    try:
        await action
    except (HandoffError, LifecycleError, InvalidTransition, Refusal) as exc:
        return fail(request, back, in_words(exc, t, label) if t is not None else str(exc))
    if wants_json(request):
        return JSONResponse({"ok": True})
    return RedirectResponse(done or back, status_code=303)
