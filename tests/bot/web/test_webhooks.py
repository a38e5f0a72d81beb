"""The channels' webhooks are ordinary routes: every middleware of the app applies to them, the
body cap stops an oversized callback before the channel sees a byte, a failing channel is a 500
that leaves the app answering, and a channel that is not configured has no route. What the
channels answer is tested end to end in tests/bot/channels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import TousuApp
from bot.channels.base import WebhookReply
from bot.web.server import create_web_app
from bot.web.webhooks import TELEGRAM_SECRET, TELEGRAM_WEBHOOK, WECHAT_CALLBACK
from tests.conftest import make_settings
from tests.fakes import wechat_api as wx

SECRET = "s3cret"


def _tousu(tmp_path: Path, *, telegram_mode: str = "webhook") -> TousuApp:
    settings = make_settings(
        tmp_path,
        wechat={
            "app_id": wx.APP_ID,
            "app_secret": SecretStr(wx.SECRET),
            "token": SecretStr(wx.TOKEN),
            "account_id": wx.OFFICIAL,
            "api_base_url": "http://127.0.0.1:9",  # never called: the channel is not started
        },
        telegram={
            "token": SecretStr("123:abc"),
            "mode": telegram_mode,
            "webhook_url": "https://bot.example.com/telegram/webhook",
            "secret_token": SecretStr(SECRET),
        },
    )
    return TousuApp(settings, use_nlu=False)


class Seen:
    """A pure ASGI middleware added after the app was built: it records every HTTP path."""

    def __init__(self, app: ASGIApp, paths: list[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def _chunks(count: int, size: int = 1024) -> Iterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def _app(tousu: TousuApp, paths: list[str]) -> FastAPI:
    app = create_web_app(tousu, manage_lifecycle=False)
    app.add_middleware(Seen, paths=paths)
    return app


def test_the_webhooks_pass_through_middleware_added_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tousu = _tousu(tmp_path)
    wechat, telegram = tousu.channels["wechat"], tousu.channels["telegram"]
    calls: list[tuple[str, Any, Any]] = []

    async def callback(body: bytes, query: dict[str, str]) -> WebhookReply:
        calls.append(("wechat", body, query))
        return WebhookReply(body="<xml>reply</xml>", media_type="application/xml")

    async def on_webhook(body: bytes) -> WebhookReply:
        calls.append(("telegram", body, None))
        return WebhookReply(503)

    monkeypatch.setattr(wechat, "callback", callback)
    monkeypatch.setattr(telegram, "on_webhook", on_webhook)
    paths: list[str] = []
    query = wx.signed_query()
    with TestClient(_app(tousu, paths)) as client:
        check = client.get(WECHAT_CALLBACK, params={**query, "echostr": "4242"})
        assert (check.status_code, check.text) == (200, "4242")
        forged = client.get(WECHAT_CALLBACK, params={**query, "signature": "0" * 40, "echostr": "1"})
        assert (forged.status_code, forged.text) == (403, "")
        answered = client.post(WECHAT_CALLBACK, params=query, content="<xml>喂</xml>".encode())
        assert (answered.status_code, answered.text) == (200, "<xml>reply</xml>")
        assert answered.headers["content-type"] == "application/xml"
        assert (
            client.post(TELEGRAM_WEBHOOK, content=b"{}", headers={TELEGRAM_SECRET: "guess"}).status_code
            == 403
        )
        assert (
            client.post(TELEGRAM_WEBHOOK, content=b"{}", headers={TELEGRAM_SECRET: SECRET}).status_code == 503
        )
    assert calls == [("wechat", "<xml>喂</xml>".encode(), query), ("telegram", b"{}", None)]  # no 403 read
    assert (
        paths
        == [f"GET {WECHAT_CALLBACK}"] * 2 + [f"POST {WECHAT_CALLBACK}"] + [f"POST {TELEGRAM_WEBHOOK}"] * 2
    )


def test_an_oversized_callback_is_refused_before_the_channel_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tousu = _tousu(tmp_path)
    seen: list[int] = []

    async def callback(body: bytes, query: dict[str, str]) -> WebhookReply:
        seen.append(len(body))
        return WebhookReply(body="success", media_type="text/plain")

    monkeypatch.setattr(tousu.channels["wechat"], "callback", callback)
    limit = tousu.settings.wechat.max_body_bytes
    with TestClient(_app(tousu, [])) as client:
        over = limit // 1024 + 1
        assert client.post(WECHAT_CALLBACK, content=_chunks(over)).status_code == 413  # streamed
        assert client.post(WECHAT_CALLBACK, content=b"x" * (limit + 1)).status_code == 413  # declared
        assert client.post(WECHAT_CALLBACK, content=_chunks(over - 2)).status_code == 200
    assert seen == [(over - 2) * 1024]


def test_a_failing_channel_is_a_500_and_the_app_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tousu = _tousu(tmp_path)

    async def broken(body: bytes, query: dict[str, str]) -> WebhookReply:
        raise RuntimeError("boom")

    monkeypatch.setattr(tousu.channels["wechat"], "callback", broken)
    with TestClient(_app(tousu, []), raise_server_exceptions=False) as client:
        assert client.post(WECHAT_CALLBACK, params=wx.signed_query(), content=b"<xml/>").status_code == 500
        assert client.get("/health").status_code in (200, 503)  # answered: not started, so degraded


def test_only_configured_channels_have_webhook_routes(tmp_path: Path) -> None:
    polling = _tousu(tmp_path / "polling", telegram_mode="polling")
    with TestClient(_app(polling, [])) as client:
        assert (
            client.post(TELEGRAM_WEBHOOK, content=b"{}", headers={TELEGRAM_SECRET: SECRET}).status_code == 404
        )
        assert client.get(WECHAT_CALLBACK, params={**wx.signed_query(), "echostr": "1"}).status_code == 200
    bare = TousuApp(make_settings(tmp_path / "bare"), use_nlu=False)
    with TestClient(_app(bare, [])) as client:
        assert client.get(WECHAT_CALLBACK).status_code == 404
        assert client.post(TELEGRAM_WEBHOOK, content=b"{}").status_code == 404
