"""The customer web chat's edges: identities only the server issues, rate limits per browser
and per address, the socket's Origin and frame checks, and the page's headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.app import TousuApp
from bot.channels.webchat import ChatIdentity
from bot.web.server import CHAT_COOKIE, create_web_app
from bot.web.token_buckets import TokenBuckets
from tests.conftest import make_settings


def _client(tmp_path: Path, base_url: str = "http://testserver", **webchat: Any) -> TestClient:
    tousu = TousuApp(make_settings(tmp_path, webchat=webchat), use_nlu=False)
    return TestClient(create_web_app(tousu), base_url=base_url)


def _customer_texts(client: TestClient) -> list[str]:
    history = client.get("/chat/history").json()["messages"]
    return [m["text"] for m in history if m["from"] == "customer"]


def _send(ws: Any, ident: str, text: str) -> None:
    ws.send_text(json.dumps({"id": ident, "text": text}))


def test_a_cookie_the_server_did_not_issue_gets_a_fresh_identity(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        client.get("/chat")
        issued = client.cookies[CHAT_COOKIE]
        with client.websocket_connect("/chat/ws") as ws:
            _send(ws, "a1", "我的快递丢了")
            ws.receive_json()
        assert _customer_texts(client) == ["我的快递丢了"]
        identity: ChatIdentity = client.app.state.chat_identity  # type: ignore[attr-defined]
        public = identity.public_id(issued)
        assert public is not None and public not in issued
        secret = issued.partition(".")[0]
        forged = secret + "." + "A" * 43
        for made_up in (public, "c" * 24, forged, secret):
            client.cookies.clear()
            client.cookies.set(CHAT_COOKIE, made_up)
            assert client.get("/chat/history").json() == {"messages": []}
            with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/chat/ws") as ws:
                ws.receive_json()
            assert info.value.code == 4401
            page = client.get("/chat")
            fresh = page.cookies.get(CHAT_COOKIE)
            assert fresh and fresh != made_up and identity.public_id(fresh) not in (None, public)


def test_the_cookie_key_is_kept_across_restarts_and_private(tmp_path: Path) -> None:
    first = ChatIdentity.load(None, tmp_path)
    cookie, public = first.issue()
    assert ChatIdentity.load(None, tmp_path).public_id(cookie) == public
    assert (tmp_path / "chat_cookie.key").stat().st_mode & 0o077 == 0
    assert ChatIdentity.load("another secret", tmp_path).public_id(cookie) is None


def test_messages_are_rate_limited_per_browser(tmp_path: Path) -> None:
    with _client(tmp_path, burst=3, messages_per_minute=0.001) as client:
        client.get("/chat")
        with client.websocket_connect("/chat/ws") as ws:
            refused = None
            for n in range(4):
                _send(ws, f"m{n}", f"第{n}条")
                while True:
                    item = ws.receive_json()
                    if item.get("from") == "system":
                        refused = item
                        break
                    if item.get("from") == "bot":
                        break
            assert refused is not None and refused["error"] == "rate_limited"
            assert "稍等" in refused["text"] and "too fast" in refused["text"]
        assert _customer_texts(client) == ["第0条", "第1条", "第2条"]


def test_messages_are_rate_limited_per_address_across_browsers(tmp_path: Path) -> None:
    with _client(tmp_path, burst=10, address_burst=2, address_messages_per_minute=0.001) as client:
        errors: list[str] = []
        for browser in range(2):
            client.cookies.clear()
            client.get("/chat")
            with client.websocket_connect("/chat/ws") as ws:
                for n in range(2):
                    _send(ws, f"b{browser}-{n}", f"浏览器{browser}第{n}条")
                    item = ws.receive_json()
                    if item.get("from") == "system":
                        errors.append(str(item["error"]))
        assert errors == ["rate_limited", "rate_limited"]


def test_an_address_may_start_only_so_many_new_chats(tmp_path: Path) -> None:
    with _client(tmp_path, new_chats_burst=2, new_chats_per_hour=0.001) as client:
        statuses = []
        for _ in range(3):
            client.cookies.clear()
            statuses.append(client.get("/chat").status_code)
        assert statuses == [200, 200, 429]
        client.cookies.clear()
        client.get("/chat")  # refused, but a browser that has a cookie keeps its page
        assert CHAT_COOKIE not in client.cookies


def test_the_socket_refuses_another_sites_page(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        client.get("/chat")
        headers = {"origin": "https://evil.example"}
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/chat/ws", headers=headers) as ws,
        ):
            ws.receive_json()
        assert info.value.code == 4403
        with client.websocket_connect("/chat/ws", headers={"origin": "http://testserver"}) as ws:
            _send(ws, "ok", "同源")
            assert ws.receive_json()["from"] == "bot"
        proxied = {"origin": "https://kefu.example.cn", "x-forwarded-host": "kefu.example.cn"}
        with client.websocket_connect("/chat/ws", headers=proxied) as ws:  # behind a proxy
            _send(ws, "proxied", "代理")
            assert ws.receive_json()["from"] == "bot"


def test_a_binary_frame_closes_the_socket_cleanly(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        client.get("/chat")
        with client.websocket_connect("/chat/ws") as ws:
            ws.send_bytes(b"\x00\x01")
            closed = ws.receive()
        assert closed == {"type": "websocket.close", "code": 1003, "reason": ""}
        with client.websocket_connect("/chat/ws") as ws:  # the app is fine afterwards
            _send(ws, "after", "还在吗")
            assert ws.receive_json()["from"] == "bot"


def test_the_chat_page_may_be_framed_only_by_this_site(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        page = client.get("/chat")
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in policy and "script-src 'self'" in policy
        assert "Secure" not in page.headers["set-cookie"]


def test_the_chat_cookie_is_secure_over_https(tmp_path: Path) -> None:
    with _client(tmp_path, base_url="https://testserver") as client:
        cookie = client.get("/chat").headers["set-cookie"]
        assert CHAT_COOKIE in cookie and "Secure" in cookie and "HttpOnly" in cookie


def test_token_buckets_refill_and_stay_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=1.0, burst=2, max_keys=3, clock=lambda: now[0])
    assert [buckets.allow("a") for _ in range(3)] == [True, True, False]
    now[0] += 1.0
    assert buckets.allow("a") and not buckets.allow("a")
    for n in range(100):
        buckets.allow(f"spoof-{n}")
    assert len(buckets) == 3
