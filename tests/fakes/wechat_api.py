"""A fake WeChat Official Account API (real HTTP on 127.0.0.1) and callback payloads in WeChat's
XML formats, plain or encrypted (safe mode), signed the way WeChat signs them."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import socket
import threading
import time
from collections import defaultdict, deque
from typing import Any

import uvicorn
import xmltodict
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from wechatpy.crypto import WeChatCrypto

APP_ID = "wx1234567890abcdef"
SECRET = "app-secret"
TOKEN = "callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
OFFICIAL = "gh_tousu"


class FakeWeChat:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token_fetches = 0
        self.current_token = ""
        self.sent: list[dict[str, Any]] = []
        self.sent_at: list[float] = []  # time.monotonic() of each ``sent`` entry
        self.templates: list[dict[str, Any]] = []
        self.menus: list[dict[str, Any]] = []
        self.media: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.errors: dict[str, deque[int]] = defaultdict(deque)
        self.down_until = 0.0  # time.monotonic() until which every API call gets HTTP 503
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.server = uvicorn.Server(
            uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def start(self) -> FakeWeChat:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake WeChat did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def fail(self, path: str, errcode: int, times: int = 1) -> None:
        with self.lock:
            self.errors[path].extend([errcode] * times)

    def outage(self, seconds: float) -> None:
        """The API answers 503 to everything for ``seconds`` from now, as in a platform outage."""
        with self.lock:
            self.down_until = time.monotonic() + seconds

    def expire_token(self) -> None:
        with self.lock:
            self.current_token = "expired"

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/cgi-bin/token")
        async def token(appid: str, secret: str) -> JSONResponse:
            if (appid, secret) != (APP_ID, SECRET):
                return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
            with self.lock:
                self.token_fetches += 1
                self.current_token = f"TOKEN-{self.token_fetches}-{secrets.token_hex(4)}"
                return JSONResponse({"access_token": self.current_token, "expires_in": 7200})

        @app.api_route("/cgi-bin/{path:path}", methods=["GET", "POST"])
        async def api(path: str, request: Request) -> Response:
            with self.lock:
                if time.monotonic() < self.down_until:
                    return Response("service unavailable", status_code=503)
                if request.query_params.get("access_token") != self.current_token:
                    return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
                if self.errors[path]:
                    code = self.errors[path].popleft()
                    return JSONResponse({"errcode": code, "errmsg": f"injected {code}"})
            if path == "media/get":
                content = self.media.get(request.query_params.get("media_id", ""))
                if content is None:
                    return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
                return Response(content, media_type="image/jpeg")
            if path == "media/upload":  # multipart, as wechatpy uploads it
                form = await request.form()
                upload = form.get("media")
                if upload is None or isinstance(upload, str):
                    return JSONResponse({"errcode": 41005, "errmsg": "media data missing"})
                media_id = f"up{len(self.uploads) + 1}"
                with self.lock:
                    self.uploads[media_id] = await upload.read()
                return JSONResponse(
                    {"type": request.query_params.get("type"), "media_id": media_id, "created_at": 1}
                )
            body = await request.json()
            with self.lock:
                if path == "message/custom/send":
                    self.sent_at.append(time.monotonic())
                {
                    "message/custom/send": self.sent,
                    "message/template/send": self.templates,
                    "menu/create": self.menus,
                }.get(path, []).append(body)
            return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(self.templates)})

        return app

    def texts_to(self, openid: str) -> list[str]:
        with self.lock:
            return [m["text"]["content"] for m in self.sent if m["touser"] == openid and "text" in m]

    def text_times(self, openid: str) -> list[tuple[float, str]]:
        """(time.monotonic() it arrived, text) of every text message sent to ``openid``."""
        with self.lock:
            return [
                (at, m["text"]["content"])
                for at, m in zip(self.sent_at, self.sent, strict=True)
                if m["touser"] == openid and "text" in m
            ]

    def images_to(self, openid: str) -> list[bytes]:
        """The uploaded content of every image message sent to ``openid``."""
        with self.lock:
            return [
                self.uploads[m["image"]["media_id"]]
                for m in self.sent
                if m["touser"] == openid and m.get("msgtype") == "image"
            ]


_ids = itertools.count(int(time.time()) * 1000)


def xml_message(openid: str, msg_type: str, **fields: Any) -> str:
    """A callback body as WeChat sends it (CDATA for strings); a field given as None is left out
    (``MsgId=None``: a message without one)."""
    parts = [
        f"<ToUserName><![CDATA[{fields.pop('to', OFFICIAL)}]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{fields.pop('create_time', int(time.time()))}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    for name, value in fields.items():
        if value is None:
            continue
        parts.append(
            f"<{name}>{value}</{name}>"
            if isinstance(value, int | float)
            else f"<{name}><![CDATA[{value}]]></{name}>"
        )
    if msg_type != "event" and "MsgId" not in fields:
        parts.append(f"<MsgId>{next(_ids)}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def text(openid: str, content: str) -> str:
    return xml_message(openid, "text", Content=content)


def signed_query(timestamp: int | None = None, token: str = TOKEN) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(5)
    signature = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": ts, "nonce": nonce}


def encrypted(xml: str, query: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Safe mode: the body WeChat would post and the query with msg_signature."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    body = crypto.encrypt_message(xml, query["nonce"], query["timestamp"])
    signature = xmltodict.parse(body)["xml"]["MsgSignature"]
    return body, {**query, "encrypt_type": "aes", "msg_signature": signature}


def decrypt_reply(body: str, query: dict[str, str]) -> str:
    parsed = xmltodict.parse(body)["xml"]
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    return str(crypto.decrypt_message(body, parsed["MsgSignature"], parsed["TimeStamp"], parsed["Nonce"]))


def reply_content(xml: str) -> str:
    return str(xmltodict.parse(xml)["xml"]["Content"])
