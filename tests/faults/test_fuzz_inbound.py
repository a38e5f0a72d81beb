"""Property-based fuzz of the inbound paths (issue 25, item 4): thousands of generated and mutated
bodies, each validly signed, posted through the real ASGI app to the WeChat callback (plain and
safe mode) and the Telegram webhook. None may get a 500, the app must still answer /health, and
every valid message must be stored exactly as sent, under its own sender and id.

WeChat's XML drops whitespace at the ends of a text node (xmltodict, as wechatpy reads it), so
generated WeChat texts have none there; Telegram's JSON keeps everything.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import xmltodict
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlmodel import select
from wechatpy.crypto import WeChatCrypto

from bot.app import TousuApp
from bot.web.server import create_web_app
from storage.models import Message
from tests.conftest import make_settings
from tests.fakes import wechat_api as wx
from tests.fakes.telegram_api import TOKEN as TG_TOKEN
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.timeout(300)

MUTANTS = 3  # mutated bodies posted per valid one
WECHAT_RUNS = 250  # examples per WeChat mode: 1 000 posts each, 2 000 at the callback
TELEGRAM_RUNS = 500  # 2 000 posts at the webhook


def fuzz(runs: int) -> settings:
    return settings(
        max_examples=runs,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


SENDERS = [f"oFuzzCustomer{i:02d}" for i in range(8)]
CHATS = [9100 + i for i in range(8)]
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t"), min_size=1, max_size=120
)
WECHAT_TEXT = TEXT.map(str.strip).filter(bool)
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def mutate_bytes(data: st.DataObject, body: bytes) -> bytes:
    """A byte-level mutation: flips, cuts, insertions, truncation or a wholly random body."""
    how = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate", "random"]))
    at = data.draw(st.integers(0, max(len(body) - 1, 0)))
    if how == "flip":
        return body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1 :]
    if how == "cut":
        return body[:at] + body[at + data.draw(st.integers(1, 40)) :]
    if how == "insert":
        return body[:at] + data.draw(st.binary(min_size=1, max_size=20)) + body[at:]
    if how == "truncate":
        return body[:at]
    return data.draw(st.binary(max_size=200))


# ----------------------------------------------------------------------------------- WeChat
def wechat_body(fields: list[tuple[str, str]]) -> str:
    return "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields) + "</xml>"


def wechat_fields(sender: str, msg_id: int, content: str) -> list[tuple[str, str]]:
    return [
        ("ToUserName", wx.OFFICIAL),
        ("FromUserName", sender),
        ("CreateTime", str(int(time.time()))),
        ("MsgType", "text"),
        ("Content", content),
        ("MsgId", str(msg_id)),
    ]


FIELD_NAMES = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "MediaId"]
FIELD_VALUES = (
    st.text(max_size=30)
    | st.integers().map(str)
    | st.sampled_from(["event", "image", "voice", "location", "link", "file", "", "subscribe", "CLICK"])
)


def mutate_wechat(data: st.DataObject, fields: list[tuple[str, str]]) -> bytes:
    """A field-level or byte-level mutation of a valid message's XML."""
    fields = list(fields)
    how = data.draw(st.sampled_from(["set", "drop", "double", "nest", "deep", "bytes", "dtd"]))
    if how == "set":
        name = data.draw(st.sampled_from(FIELD_NAMES))
        fields = [f for f in fields if f[0] != name] + [(name, data.draw(FIELD_VALUES))]
    elif how == "drop" and fields:
        del fields[data.draw(st.integers(0, len(fields) - 1))]
    elif how == "double":
        fields.append(data.draw(st.sampled_from(fields)))
    body = wechat_body(fields)
    if how == "nest":
        name = data.draw(st.sampled_from(FIELD_NAMES))
        body = body.replace(f"<{name}>", f"<{name}><n>1</n>", 1)
    if how == "deep":  # an event (keyed by a hash of its fields) with elements nested n deep
        depth = data.draw(st.integers(1, 5000))
        body = body.replace("<MsgType>text</MsgType>", "<MsgType>event</MsgType><Event>subscribe</Event>")
        body = body.replace("</xml>", "<Info>" + "<n>" * depth + "</n>" * depth + "</Info></xml>")
    if how == "dtd":
        body = '<!DOCTYPE x [<!ENTITY e "e">]>' + body
    raw = body.encode()
    return mutate_bytes(data, raw) if how == "bytes" else raw


class Poster:
    """Posts to the app and counts every answer by status."""

    def __init__(self, client: TestClient):
        self.client = client
        self.statuses: dict[int, int] = {}
        self.posts = 0

    def post(self, path: str, body: bytes, params: dict[str, str] | None = None, **kw: Any) -> int:
        response = self.client.post(path, params=params, content=body, **kw)
        self.posts += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        assert response.status_code != 500, body[:300]
        if self.posts % 500 == 0:
            assert self.client.get("/health").status_code == 200
        return response.status_code


def wechat_app(tmp_path: Path, fake: wx.FakeWeChat, safe: bool) -> TousuApp:
    values: dict[str, Any] = {
        "app_id": wx.APP_ID,
        "app_secret": SecretStr(wx.SECRET),
        "token": SecretStr(wx.TOKEN),
        "account_id": wx.OFFICIAL,
        "api_base_url": fake.base_url,
        "encoding_aes_key": SecretStr(wx.AES_KEY) if safe else None,
    }
    return TousuApp(make_settings(tmp_path, wechat=values), use_nlu=False)


@pytest.fixture
def fake_wechat() -> Iterator[wx.FakeWeChat]:
    server = wx.FakeWeChat().start()
    try:
        yield server
    finally:
        server.stop()


def stored(app: TousuApp) -> dict[str, tuple[str, str]]:
    rows = app.db.run_sync(lambda s: list(s.exec(select(Message).where(Message.direction == "in"))))
    return {str(m.channel_message_id): (m.user_id, m.text) for m in rows}


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
def test_signed_fuzz_at_the_wechat_callback(tmp_path: Path, fake_wechat: wx.FakeWeChat, safe: bool) -> None:
    app = wechat_app(tmp_path, fake_wechat, safe)
    crypto = WeChatCrypto(wx.TOKEN, wx.AES_KEY, wx.APP_ID)
    ids = itertools.count(7_000_000_000)
    sent: dict[str, tuple[str, str]] = {}

    def signed(inner: bytes, data: st.DataObject | None = None) -> tuple[bytes, dict[str, str]]:
        query = wx.signed_query()
        if not safe:
            return inner, query
        outer = crypto.encrypt_message(inner, query["nonce"], query["timestamp"])
        if data is not None and data.draw(st.integers(0, 9)) == 0:  # a mangled envelope, signed as it is
            encrypt = data.draw(st.text(max_size=60)).strip()  # as xmltodict reads it
            outer = f"<xml><ToUserName>{wx.OFFICIAL}</ToUserName><Encrypt>{escape(encrypt)}</Encrypt></xml>"
        else:
            encrypt = str(xmltodict.parse(outer)["xml"]["Encrypt"])
        parts = sorted([wx.TOKEN, query["timestamp"], query["nonce"], encrypt])
        signature = hashlib.sha1("".join(parts).encode()).hexdigest()
        return outer.encode(), {**query, "encrypt_type": "aes", "msg_signature": signature}

    with TestClient(create_web_app(app)) as client:
        poster = Poster(client)

        @fuzz(WECHAT_RUNS)
        @given(data=st.data(), sender=st.sampled_from(SENDERS), content=WECHAT_TEXT)
        def run(data: st.DataObject, sender: str, content: str) -> None:
            msg_id = next(ids)
            body, query = signed(wechat_body(wechat_fields(sender, msg_id, content)).encode())
            assert poster.post("/wechat/callback", body, query) == 200
            sent[f"m:{msg_id}"] = (sender, content)
            for _ in range(MUTANTS):
                fields = wechat_fields(data.draw(st.sampled_from(SENDERS)), next(ids), content)
                body, query = signed(mutate_wechat(data, fields), data)
                assert poster.post("/wechat/callback", body, query) in (200, 400)

        run()
        assert client.get("/health").status_code == 200
        rows = stored(app)
    assert poster.posts >= 1000 and poster.statuses.get(400, 0) > 200, poster.statuses
    assert {mid: rows.get(mid) for mid in sent} == sent


# --------------------------------------------------------------------------------- Telegram
def tg_message(chat: int, text: str) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "Fuzz", "language_code": "zh-hans"}
    return {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private"},
        "from": user,
        "text": text,
    }


def tg_templates(chat: int, text: str) -> list[dict[str, Any]]:
    message = tg_message(chat, text)
    menu = {"message_id": 2, "date": int(time.time()), "text": "m", "chat": {"id": chat, "type": "private"}}
    return [
        {"message": message},
        {"edited_message": {**message, "edit_date": int(time.time())}},
        {
            "callback_query": {
                "id": "c",
                "from": message["from"],
                "chat_instance": "i",
                "data": text,
                "message": menu,
            }
        },
        {
            "message": {
                **{k: v for k, v in message.items() if k != "text"},
                "location": {"latitude": 1.5, "longitude": 2},
            }
        },
    ]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))


def mutate_update(data: st.DataObject, update: dict[str, Any]) -> bytes:
    """A structural mutation (a value replaced or removed anywhere, the whole wrapped) or a byte one."""
    how = data.draw(st.sampled_from(["set", "drop", "wrap", "deep", "bytes"]))
    update = copy.deepcopy(update)
    if how == "deep":  # deeper than the JSON parser recurses
        depth = data.draw(st.integers(1, 50_000))
        return b'{"update_id": %d, "message": ' % update["update_id"] + b"[" * depth + b"]" * depth + b"}"
    if how == "wrap":
        return json.dumps([update]).encode()
    if how == "bytes":
        return mutate_bytes(data, json.dumps(update).encode())
    path = data.draw(st.sampled_from([p for p in paths(update) if p]))
    parent: Any = update
    for key in path[:-1]:
        parent = parent[key]
    if how == "set":
        parent[path[-1]] = data.draw(JUNK)
    else:
        del parent[path[-1]]
    return json.dumps(update).encode()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    try:
        yield server
    finally:
        server.stop()


def test_signed_fuzz_at_the_telegram_webhook(tmp_path: Path, fake_telegram: FakeTelegram) -> None:
    settings_ = make_settings(
        tmp_path,
        telegram={
            "token": SecretStr(TG_TOKEN),
            "base_url": f"{fake_telegram.url}/bot",
            "base_file_url": f"{fake_telegram.url}/file/bot",
            "mode": "webhook",
            "webhook_url": "https://bot.example.com/telegram/webhook",
            "secret_token": SecretStr("s3cret"),
        },
        outbox={"per_chat_interval_seconds": 0.0},
    )
    app = TousuApp(settings_, use_nlu=False)
    ids = itertools.count(10**12)
    sent: dict[str, tuple[str, str]] = {}
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret", "Content-Type": "application/json"}

    with TestClient(create_web_app(app)) as client:
        poster = Poster(client)

        @fuzz(TELEGRAM_RUNS)
        @given(data=st.data(), chat=st.sampled_from(CHATS), text=TEXT.filter(lambda t: not t.startswith("/")))
        def run(data: st.DataObject, chat: int, text: str) -> None:
            update_id = next(ids)
            body = json.dumps({"update_id": update_id, **tg_templates(chat, text)[0]}).encode()
            assert poster.post("/telegram/webhook", body, headers=headers) == 200
            sent[f"u{update_id}"] = (str(chat), text)
            for _ in range(MUTANTS):
                template = data.draw(st.sampled_from(tg_templates(data.draw(st.sampled_from(CHATS)), text)))
                mutated = mutate_update(data, {"update_id": next(ids), **template})
                assert poster.post("/telegram/webhook", mutated, headers=headers) == 200

        run()
        assert client.get("/health").status_code == 200
        rows = stored(app)
    assert poster.posts >= 2000, poster.statuses
    assert {uid: rows.get(uid) for uid in sent} == sent
