"""Photos and files attached on the web chat: stored like Telegram's, checked for size, kind
and bytes, kept with the complaint; the history without the page's own /start; a person's
messages marked as theirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from bot.app import TousuApp
from bot.channels.webchat_files import Refused, store_upload
from bot.web.server import create_web_app
from dialogues.types import ConversationKey, Reply
from storage.models import Message, Ticket
from tests.conftest import make_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TO_EVIDENCE = ["1", "我买的电热水壶用了两天就漏水了", "1", "昨天", "北京朝阳门店", "无"]  # product: said


def _client(tmp_path: Path, **attachments: Any) -> tuple[TestClient, TousuApp]:
    settings = make_settings(
        tmp_path, attachments={"dir": tmp_path / "attachments", **attachments}, webchat={"burst": 50}
    )
    tousu = TousuApp(settings, use_nlu=False)
    return TestClient(create_web_app(tousu), base_url="http://testserver"), tousu


def _say(ws: Any, ident: str, text: str) -> dict[str, Any]:
    ws.send_text(json.dumps({"id": ident, "text": text}))
    return dict(ws.receive_json())


def test_a_photo_sent_at_the_evidence_question_goes_with_the_complaint(tmp_path: Path) -> None:
    client, tousu = _client(tmp_path)
    with client:
        client.get("/chat")
        with client.websocket_connect("/chat/ws") as ws:
            for n, text in enumerate(TO_EVIDENCE):
                reply = _say(ws, f"m{n}", text)
            assert "照片" in reply["text"]
            sent = client.post(
                "/chat/upload", files={"file": ("壶底.png", PNG, "image/png")}, data={"id": "f1"}
            )
            assert sent.json() == {"ok": True, "error": None}
            assert ws.receive_json()["text"].startswith("收到 1 个附件")
            for n, text in enumerate(["1", "1", "13800138000", "1"]):  # done, refund, phone, confirm
                _say(ws, f"e{n}", text)
        history = client.get("/chat/history").json()["messages"]
        mine = [m["text"] for m in history if m["from"] == "customer"]
        assert "📎 壶底.png" in mine and "/start" not in mine
        ticket = client.portal.call(lambda: tousu.db.run(lambda s: s.exec(select(Ticket)).one()))
        assert [(a["kind"], a["name"], a["mime"]) for a in ticket.attachments] == [
            ("photo", "壶底.png", "image/png")
        ]
    stored = list((tmp_path / "attachments" / "webchat").rglob("*.png"))
    assert len(stored) == 1 and stored[0].read_bytes() == PNG


def test_too_large_and_wrong_kinds_are_refused_in_words(tmp_path: Path) -> None:
    client, _tousu = _client(tmp_path, max_bytes=1024)
    with client:
        client.get("/chat")
        with client.websocket_connect("/chat/ws") as ws:
            _say(ws, "hi", "你好")
            big = client.post("/chat/upload", files={"file": ("big.png", PNG + b"\x00" * 2000, "image/png")})
            assert big.json()["error"] == "too_large"
            assert "太大" in ws.receive_json()["text"]
            fake = client.post(
                "/chat/upload", files={"file": ("photo.png", b"MZ\x90\x00 not a png", "image/png")}
            )
            assert fake.json()["error"] == "unsupported"
            assert "无法识别" in ws.receive_json()["text"]
    assert not list((tmp_path / "attachments").rglob("*.png"))


def test_an_upload_needs_the_chat_cookie_and_this_site(tmp_path: Path) -> None:
    client, _tousu = _client(tmp_path)
    with client:
        assert client.post("/chat/upload", files={"file": ("a.png", PNG, "image/png")}).status_code == 403
        client.get("/chat")
        other = client.post(
            "/chat/upload",
            files={"file": ("a.png", PNG, "image/png")},
            headers={"origin": "https://evil.example"},
        )
        assert other.status_code == 403


def test_store_upload_checks_kind_and_bytes(tmp_path: Path) -> None:
    assert store_upload(tmp_path, "w1", "a.exe", b"MZ", 100) == Refused("unsupported")
    assert store_upload(tmp_path, "w1", "a.pdf", b"%PDF-1.4", 4) == Refused("too_large")
    stored = store_upload(tmp_path, "w1", "..\\..\\收据.PDF", b"%PDF-1.4 ...", 100)
    assert not isinstance(stored, Refused)
    assert stored.kind == "document" and stored.name == "收据.PDF" and stored.mime == "application/pdf"
    assert Path(stored.ref).parent == tmp_path / "w1"


def test_a_persons_message_is_marked_on_the_socket_and_in_the_history(tmp_path: Path) -> None:
    client, tousu = _client(tmp_path)
    with client:
        client.get("/chat")
        with client.websocket_connect("/chat/ws") as ws:
            _say(ws, "hi", "你好")
            user = client.portal.call(
                lambda: tousu.db.run(
                    lambda s: s.exec(select(Message.user_id).where(Message.direction == "in")).first()
                )
            )
            key = ConversationKey(tousu.webchat.name, str(user))
            client.portal.call(
                lambda: tousu.manager.send_as(key, [Reply("我是客服李四")], author="agent:lisi")
            )
            live = ws.receive_json()
            assert live["from"] == "agent" and live["text"] == "我是客服李四"
        history = client.get("/chat/history").json()["messages"]
        assert history[-1]["from"] == "agent"
