"""Rasa killed under the bot: the supervisor ``tousu run`` uses restarts it with back-off, logs
each restart, reports where it stands on ``/health``, and stops its whole process group with the
bot. The real Rasa server, started by the app as in production (``nlu.managed``)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.app import TousuApp
from bot.web.server import create_web_app
from nlu.server import free_port
from tests.conftest import make_settings

pytestmark = pytest.mark.timeout(400)


async def wait_until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_killed_rasa_server_is_restarted_and_stopped_with_the_bot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nlu = {
        "enabled": True,
        "managed": True,
        "url": f"http://127.0.0.1:{free_port()}",
        "token": SecretStr(secrets.token_urlsafe(16)),
    }
    tousu = TousuApp(make_settings(tmp_path, nlu=nlu), channels=[])
    caplog.set_level(logging.INFO, logger="nlu.supervisor")
    await tousu.start()
    try:
        supervisor = tousu.nlu_supervisor
        assert supervisor is not None
        transport = httpx.ASGITransport(app=create_web_app(tousu))
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as http:

            async def health() -> dict[str, object]:
                data: dict[str, object] = (await http.get("/health")).json()
                return data

            await wait_until(lambda: supervisor.state == "ok", 300)  # may train the model once
            first = supervisor.server.process
            assert first is not None
            before = supervisor.restarts  # a first start slower than its timeout counts too
            assert (await health())["nlu_rasa"] == "up"

            os.killpg(first.pid, signal.SIGKILL)  # Rasa dies
            await wait_until(lambda: supervisor.state == "restarting", 10)
            down = await health()
            assert (down["nlu_rasa"], down["nlu_free_text"]) == ("restarting", "builtin")

            await wait_until(lambda: supervisor.state == "ok", 120)
            second = supervisor.server.process
            assert second is not None and second.pid != first.pid
            status = await health()
            assert status["nlu_rasa"] == "up" and status["nlu_restarts"] == before + 1
            assert not group_alive(first.pid)  # nothing of the killed server lingers
    finally:
        await tousu.stop()
    assert f"restarting the NLU server (restart {before + 1}" in caplog.text
    assert second.poll() is not None and not group_alive(second.pid)  # stopped with the bot
