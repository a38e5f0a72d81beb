"""``tousu api-tokens``: a token made on the command line is printed once and works on the API;
revoked, it does not."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import TousuApp
from bot.web.server import create_web_app
from tests.bot.cli.test_chat_and_tickets import _tousu
from tests.conftest import make_settings


def test_create_list_revoke(tmp_path: Path) -> None:
    made = _tousu(
        ["api-tokens", "create", "crm", "--role", "supervisor", "--department", "quality"], tmp_path
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("tsu_") and "not shown again" in made.stderr
    again = _tousu(["api-tokens", "create", "crm", "--role", "agent"], tmp_path)
    assert again.returncode == 1 and "revoke it first" in again.stderr
    listed = _tousu(["api-tokens", "list"], tmp_path)
    assert "crm" in listed.stdout and "supervisor" in listed.stdout and secret not in listed.stdout

    settings = make_settings(tmp_path, db_url=f"sqlite:///{tmp_path / 'cli.db'}")
    with TestClient(create_web_app(TousuApp(settings, channels=[], use_nlu=False))) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.json() == {"name": "crm", "role": "supervisor", "department": "quality"}

    assert _tousu(["api-tokens", "revoke", "crm"], tmp_path).returncode == 0
    assert _tousu(["api-tokens", "revoke", "crm"], tmp_path).returncode == 1
    assert "revoked" in _tousu(["api-tokens", "list"], tmp_path).stdout
    with TestClient(create_web_app(TousuApp(settings, channels=[], use_nlu=False))) as client:
        gone = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert gone.status_code == 401
