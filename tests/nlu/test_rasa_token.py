"""Rasa's auth token stays out of ``ps`` and out of the logs: the server gets it through its
environment (readable by its owner only) and our launcher hands it to Rasa inside the process."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.domain.privacy import redact_handlers
from nlu import rasa_launch
from nlu.server import RasaServer, rasa_env
from tests.conftest import make_settings

TOKEN = "-tok-7f3a9c2e5b1d4e6f"  # a leading "-": argparse must still take it as the value


def test_the_start_command_carries_no_token_and_the_environment_does(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, nlu={"token": SecretStr(TOKEN), "url": "http://127.0.0.1:5999"})
    server = RasaServer(settings.nlu, settings.rasa_places, model=tmp_path / "nlu-0000.tar.gz")
    command = server.command()
    assert not any(TOKEN in part for part in command)
    assert command[1] == str(Path(rasa_launch.__file__).resolve()) and "run" in command
    assert rasa_env(server.token)[rasa_launch.TOKEN_VARIABLE] == TOKEN
    # what the launcher hands to Rasa's own argument parser, inside the process
    assert rasa_launch.arguments(command[2:], TOKEN) == ["rasa", *command[2:], f"--auth-token={TOKEN}"]


def _group_command_lines(leader: int) -> list[str]:
    """The command lines of every process in the server's process group, as ``ps`` shows them."""
    lines = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != leader:
                continue
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return lines


@pytest.mark.rasa
async def test_a_started_server_shows_no_token_in_ps_or_logs_and_still_wants_it(
    private_rasa_server: RasaServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_rasa_server
    assert server.process is not None
    lines = _group_command_lines(server.process.pid)
    assert lines and any("--enable-api" in line for line in lines)
    assert not any(server.token in line for line in lines)
    assert server.token not in server.log_path.read_text(errors="replace")
    started = [r.getMessage() for r in caplog.get_records("setup")]
    assert not any(server.token in message for message in started)
    # httpx logs each request's URL, query string included, at INFO: the CLI's redacting
    # handlers (bot.domain.privacy) hide the token even at that level
    redact_handlers(logging.getLogger())
    caplog.set_level(logging.INFO, logger="httpx")
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
        assert (await http.get("/status", params={"token": server.token})).status_code == 200
        assert (await http.get("/status", params={"token": "wrong"})).status_code == 401
    assert "status?token=***" in caplog.text and server.token not in caplog.text
