"""``tousu users``: an account made on the command line can log in to the console."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import TousuApp
from bot.web.console.security import SESSION_COOKIE
from bot.web.server import create_web_app
from tests.bot.cli.test_chat_and_tickets import _tousu
from tests.bot.web.console.helpers import csrf_of
from tests.conftest import make_settings


def test_users_add_then_log_in_then_deactivate(tmp_path: Path) -> None:
    short = _tousu(["users", "add", "boss", "--role", "admin", "--password-stdin"], tmp_path, stdin="short\n")
    assert short.returncode == 1 and "at least 8" in short.stderr
    made = _tousu(
        ["users", "add", "boss", "--role", "admin", "--name", "老板", "--password-stdin"],
        tmp_path,
        stdin="a long enough secret\n",
    )
    assert made.returncode == 0, made.stderr
    listed = _tousu(["users", "list"], tmp_path)
    assert "boss" in listed.stdout and "admin" in listed.stdout
    assert "a long enough secret" not in listed.stdout + made.stdout

    settings = make_settings(tmp_path, db_url=f"sqlite:///{tmp_path / 'cli.db'}")
    with TestClient(create_web_app(TousuApp(settings, channels=[], use_nlu=False))) as client:
        token = csrf_of(client.get("/console/login").text)
        response = client.post(
            "/console/login",
            data={"username": "boss", "password": "a long enough secret", "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303 and SESSION_COOKIE in client.cookies
        home = client.get("/console")
        assert home.status_code == 200 and "老板" in home.text and "/console/canned" in home.text

    assert _tousu(["users", "deactivate", "boss"], tmp_path).returncode == 0
    with TestClient(create_web_app(TousuApp(settings, channels=[], use_nlu=False))) as client:
        token = csrf_of(client.get("/console/login").text)
        refused = client.post(
            "/console/login",
            data={"username": "boss", "password": "a long enough secret", "csrf_token": token},
            follow_redirects=False,
        )
        assert refused.status_code == 401
