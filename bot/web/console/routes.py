"""The console's route table: one router per area, its static files, and the console itself on
``app.state`` for the dependencies (bot/web/console/deps.py). Every route puts its role on record
(bot/web/console/security.py); a test walks the app's routes and tries every role on each."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from bot.web.console import (
    api_tokens,
    auth,
    canned,
    conversations,
    customers,
    flow_editor,
    nlu_review,
    notify_settings,
    queue,
    reports,
    team,
    team_departments,
    ticket_list,
    tickets,
    webhook_endpoints,
)
from bot.web.console.context import STATIC, Console

AREAS: tuple[APIRouter, ...] = (
    auth.router,
    queue.router,
    conversations.router,
    ticket_list.router,  # before tickets: /console/tickets/export.csv is not a ticket number
    tickets.router,
    canned.router,
    flow_editor.router,
    reports.router,
    customers.router,
    nlu_review.router,
    notify_settings.router,
    api_tokens.router,
    webhook_endpoints.router,
    team.router,
    team_departments.router,
)


def install(app: FastAPI, console: Console) -> None:
    """Serve ``console`` on ``app``: its static files, then every area's routes."""
    app.state.console = console
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    for router in AREAS:
        app.include_router(router)
