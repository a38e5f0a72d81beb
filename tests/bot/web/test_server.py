"""The web server: health, and the customer chat page over a real WebSocket round trip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.app import TousuApp
from bot.web.server import CHAT_COOKIE, create_web_app
from nlu.client import RasaNluClient
from nlu.fallback import with_fallback
from tests.conftest import ROOT, make_settings


def _client(tmp_path: Path) -> TestClient:
    tousu = TousuApp(make_settings(tmp_path), use_nlu=False)
    return TestClient(create_web_app(tousu))


def _receive_until(ws: object, predicate: object, limit: int = 10) -> list[dict[str, object]]:
    got: list[dict[str, object]] = []
    for _ in range(limit):
        item = ws.receive_json()  # type: ignore[attr-defined]
        got.append(item)
        if predicate(item):  # type: ignore[operator]
            return got
    raise AssertionError(f"no matching message in {got}")


def test_health_reports_database_and_channels(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        response = client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["database"] == "ok"
        # menus only (use_nlu=False): said in words, and in fixed words for monitors
        assert body["nlu"] == "Rasa is off; free text is not understood, customers get menus only"
        assert (body["nlu_rasa"], body["nlu_free_text"]) == ("off", "none")
        assert set(body["channels"]) >= {"webchat", "console"}


def test_chat_page_sets_an_unguessable_httponly_cookie(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        response = client.get("/chat")
        assert response.status_code == 200
        assert "客户服务" in response.text and "/static/chat.js" in response.text
        cookie = response.headers["set-cookie"]
        assert CHAT_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert len(client.cookies[CHAT_COOKIE]) >= 24
        assert client.get("/static/chat.js").status_code == 200


def test_websocket_needs_the_cookie(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/chat/ws") as ws:
            ws.receive_json()
        assert info.value.code == 4401


def test_a_customer_chats_through_the_websocket_and_history_survives(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        client.get("/chat")
        with client.websocket_connect("/chat/ws") as ws:
            ws.send_text(json.dumps({"id": "a1", "text": "/start"}))
            greeting = _receive_until(ws, lambda m: bool(m.get("buttons")))[-1]
            assert "您好" in str(greeting["text"])
            keys = [b["key"] for b in greeting["buttons"]]  # type: ignore[union-attr]
            assert keys[:4] == ["1", "2", "3", "4"]
            complaint = greeting["buttons"][0]  # type: ignore[index]
            ws.send_text(
                json.dumps({"id": "a2", "text": complaint["label"], "payload": complaint["payload"]})
            )
            reply = _receive_until(ws, lambda m: "描述" in str(m.get("text")))[-1]
            assert reply["from"] == "bot"
            # the same client message id again (a resend after a reconnect) is ignored
            ws.send_text(
                json.dumps({"id": "a2", "text": complaint["label"], "payload": complaint["payload"]})
            )
            ws.send_text("not json")
            error = ws.receive_json()
            assert error == {"from": "system", "error": "bad_message"}
            ws.send_text(
                json.dumps({"id": "a3", "text": "<script>alert(1)</script> 我的快递丢了，订单 SF1234567890"})
            )
            _receive_until(ws, lambda m: "类型" in str(m.get("text")))
        history = client.get("/chat/history").json()["messages"]
        texts = [m["text"] for m in history]
        assert "/start" not in texts  # the page's own greeting request is no message of the customer's
        assert texts[0].startswith("您好")
        assert sum(1 for m in history if m["from"] == "customer") == 2  # the duplicate was not stored
        assert "<script>alert(1)</script> 我的快递丢了，订单 SF1234567890" in texts
        assert any("描述" in t for t in texts)


def test_oversized_socket_message_gets_a_clear_error(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        client.get("/chat")
        with client.websocket_connect("/chat/ws") as ws:
            ws.send_text(json.dumps({"id": "big", "text": "长" * 70_000}))
            assert ws.receive_json() == {"from": "system", "error": "too_long"}


@pytest.mark.parametrize(
    ("answer", "backed", "words", "rasa", "free_text"),
    [
        (
            httpx.Response(200, json={"model_file": "/var/models/nlu-abc.tar.gz"}),
            True,
            "Rasa is up (model nlu-abc.tar.gz); Rasa understands free text",
            "up",
            "rasa",
        ),
        (
            httpx.Response(503),
            True,
            "Rasa is down; meanwhile the built-in classifier understands free text",
            "down",
            "builtin",
        ),
        (
            httpx.Response(503),
            False,
            "Rasa is down; meanwhile free text is not understood, customers get menus only",
            "down",
            "none",
        ),
    ],
)
def test_health_says_who_understands_free_text_without_failing_on_a_down_rasa(
    tmp_path: Path, answer: httpx.Response, backed: bool, words: str, rasa: str, free_text: str
) -> None:
    transport = httpx.MockTransport(lambda _: answer)
    rasa_client = RasaNluClient("http://rasa.test", token="t", transport=transport)
    nlu = with_fallback(rasa_client, ROOT / "nlu" / "data") if backed else rasa_client
    tousu = TousuApp(make_settings(tmp_path), nlu=nlu, use_nlu=True, manage_nlu=False)
    with TestClient(create_web_app(tousu)) as client:
        response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["nlu"], body["nlu_rasa"], body["nlu_free_text"]) == (words, rasa, free_text)


def test_health_with_rasa_off_in_the_config_names_the_built_in_classifier(tmp_path: Path) -> None:
    tousu = TousuApp(make_settings(tmp_path))  # the tests' settings: nlu.enabled false
    with TestClient(create_web_app(tousu)) as client:
        body = client.get("/health").json()
    assert body["nlu"] == "Rasa is off; the built-in classifier understands free text"
    assert (body["nlu_rasa"], body["nlu_free_text"]) == ("off", "builtin")


def _chunks(count: int, size: int = 1024) -> Iterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def test_every_route_stops_reading_a_body_over_the_cap_declared_or_chunked(tmp_path: Path) -> None:
    tousu = TousuApp(make_settings(tmp_path, web={"max_body_bytes": 4096}), use_nlu=False)
    app = create_web_app(tousu)
    seen: list[int] = []

    async def hook(request: Request) -> Response:
        seen.append(len(await request.body()))
        return PlainTextResponse("ok")

    app.add_api_route("/hook", hook, methods=["POST"])  # any route, added after the app was built
    with TestClient(app) as client:
        assert client.post("/hook", content=_chunks(3)).status_code == 200 and seen == [3072]
        # no Content-Length: the body is counted as it arrives and the handler never gets it
        assert client.post("/hook", content=_chunks(50)).status_code == 413
        assert client.post("/hook", content=b"x" * 5000).status_code == 413  # declared: not read
        assert client.post("/hook", content=b"x", headers={"content-length": "1x"}).status_code == 400
        assert seen == [3072]
        # the login form is parsed before anyone is logged in: its cap is small, multipart too
        big_form = client.post("/console/login", files={"f": ("a.bin", b"x" * 3000)}, data={"a": "b" * 2000})
        assert big_form.status_code == 413
        chunked_form = client.post(
            "/console/login",
            content=_chunks(20),
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
        assert chunked_form.status_code == 413
        assert client.get("/health").status_code == 200  # the app goes on


def test_an_agents_reply_may_carry_a_file_bigger_than_the_general_cap(tmp_path: Path) -> None:
    from bot.web.server import LOGIN_BODY_BYTES, body_limits

    settings = make_settings(tmp_path)
    limit_for = body_limits(settings, wechat=True)
    general = settings.web.max_body_bytes
    assert limit_for({"path": "/chat/history"}) == general
    assert limit_for({"path": "/console/login"}) == LOGIN_BODY_BYTES < general
    assert limit_for({"path": "/wechat/callback"}) == settings.wechat.max_body_bytes
    assert limit_for({"path": "/console/conversations/7/reply"}) > settings.console.max_upload_bytes
    assert body_limits(settings, wechat=False)({"path": "/wechat/callback"}) == general  # not served
