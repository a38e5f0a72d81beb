"""The console's dependencies: the agent behind the session cookie is looked up once per request
however many dependencies ask for it, a route's role is checked before its own parameters, and a
role the console does not have is refused when the route is defined."""

from __future__ import annotations

import pytest
from fastapi import Response

from bot.web.console.accounts import Agent
from bot.web.console.deps import CurrentAdmin, CurrentAgent, MaybeAgent, require
from bot.web.console.security import role_extra
from tests.bot.web.console.helpers import Desk


async def test_one_session_lookup_per_request(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    console = desk.web.state.console
    lookups: list[str | None] = []
    real = console.agent_for

    async def counted(token: str | None) -> Agent | None:
        lookups.append(token)
        return await real(token)

    monkeypatch.setattr(console, "agent_for", counted)

    async def both(agent: CurrentAgent, maybe: MaybeAgent) -> Response:
        return Response(f"{agent.username} {maybe is agent}")

    desk.web.add_api_route("/console/test-both", both, methods=["GET"], openapi_extra=role_extra("agent"))
    async with desk.client("wangfang") as client:
        lookups.clear()
        answer = await client.get("/console/test-both")
        assert (answer.status_code, answer.text) == (200, "wangfang True")
        assert len(lookups) == 1 and lookups[0]


async def test_the_role_is_checked_before_the_routes_own_parameters(desk: Desk) -> None:
    async def numbered(number: int, agent: CurrentAdmin) -> Response:
        return Response(str(number))

    desk.web.add_api_route("/console/test/{number}", numbered, methods=["GET"])
    async with desk.client("wangfang") as agent:
        assert (await agent.get("/console/test/not-a-number")).status_code == 403  # not 422
    async with desk.client("root") as admin:
        assert (await admin.get("/console/test/not-a-number")).status_code == 422
        assert (await admin.get("/console/test/7")).text == "7"


def test_an_unknown_role_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        require("owner")
