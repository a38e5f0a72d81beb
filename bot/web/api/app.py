"""The API application: its own FastAPI app mounted at ``/api/v1``, so its OpenAPI document
(``/api/v1/openapi.json``) and docs page (``/api/v1/docs``) describe the API alone, never the
console's form routes. Every error is ``{"detail": ...}``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from bot.app import TousuApp
from bot.web.api import categories, conversations, customers, me, reports, tickets
from bot.web.api.schemas import ERRORS
from bot.web.console.context import Console
from bot.web.token_buckets import TokenBuckets

PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests per token: ``per_second`` on average, ``burst`` at once."""

    per_second: float = 10.0
    burst: float = 60.0
    tokens_tracked: int = 4096


def build_api(
    tousu: TousuApp, *, limit: RateLimit | None = None, announce: Callable[[int], None] | None = None
) -> FastAPI:
    """``announce``: told the conversation id of a ticket the API changed (the console's live
    pages redraw it)."""
    limit = limit or RateLimit()
    api = FastAPI(
        title="Tousu API",
        version="1",
        description="Tickets, conversations, customers and reports of the Tousu complaint desk. "
        "Authenticate with `Authorization: Bearer <token>` (`tousu api-tokens create`). "
        "Times are UTC, ISO 8601.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=ERRORS,
    )
    api.state.tousu = tousu
    api.state.announce = announce or (lambda _conversation_id: None)
    api.state.buckets = TokenBuckets(rate=limit.per_second, burst=limit.burst, max_keys=limit.tokens_tracked)
    for module in (me, tickets, categories, conversations, customers, reports):
        api.include_router(module.router)
    return api


def install(app: FastAPI, tousu: TousuApp, *, limit: RateLimit | None = None) -> FastAPI:
    """Mount the API on the web app (after the console, whose live hub it tells of ticket
    changes); returns the API app (its state holds the rate buckets)."""
    console: Console | None = getattr(app.state, "console", None)

    def announce(conversation_id: int) -> None:
        if console is not None:
            console.hub.publish("activity", id=conversation_id)

    api = build_api(tousu, limit=limit, announce=announce)
    app.mount(PREFIX, api)
    return api
