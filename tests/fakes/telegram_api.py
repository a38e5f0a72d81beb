"""A fake Telegram Bot API: real HTTP on 127.0.0.1, the request and response shapes Telegram uses,
so python-telegram-bot talks to it unchanged (``base_url`` / ``base_file_url``).

Tests push updates (text, buttons, photos, documents, stickers, edits) and read what the bot sent;
they can make any method answer 429 with retry_after, 5xx, 403, or answer slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from nlu.server import free_port

TOKEN = "123456:TEST-token"
STRUCTURED = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "reply_markup",
    "commands",
    "allowed_updates",
    "scope",
    "drop_pending_updates",
    "show_alert",
}


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0


class FakeTelegram:
    def __init__(self, token: str = TOKEN, *, enforce_limits: bool = False):
        self.token = token
        # Telegram's flood control: more than 30 messages in a second overall, or more than one a
        # second to one chat, is answered 429 (counted in ``limited``) when enforce_limits is on.
        self.enforce_limits = enforce_limits
        self.limited = 0
        self.lock = threading.Lock()
        self.pending: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.commands: dict[str | None, list[dict[str, str]]] = {}
        self.edited: list[dict[str, Any]] = []
        self.answered: list[str] = []
        self.webhook: str | None = None
        self.files: dict[str, tuple[str, bytes]] = {}
        self.failures: dict[str, deque[Failure]] = defaultdict(deque)
        self.ids = itertools.count(1)
        self.message_ids = itertools.count(1000)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.new_update: asyncio.Event | None = None
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTelegram:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Telegram did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    # -- what tests do ---------------------------------------------------------------------
    def fail(
        self,
        method: str,
        status: int,
        *,
        retry_after: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        description: str | None = None,
    ) -> None:
        usual = {
            429: f"Too Many Requests: retry after {retry_after}",
            403: "Forbidden: bot was blocked by the user",
            400: "Bad Request: chat not found",
        }
        description = description or usual.get(status, "Internal Server Error")
        with self.lock:
            for _ in range(times):
                self.failures[method].append(Failure(status, description, retry_after, delay))

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        with self.lock:
            for _ in range(times):
                self.failures[method].append(Failure(200, "", None, seconds))

    def push(self, kind: str, body: dict[str, Any]) -> int:
        with self.lock:
            update_id = next(self.ids)
            self.pending.append({"update_id": update_id, kind: body})
        if self.loop is not None and self.new_update is not None:
            self.loop.call_soon_threadsafe(self.new_update.set)
        return update_id

    def message(self, chat_id: int, language: str = "zh-hans", **fields: Any) -> dict[str, Any]:
        user = {"id": chat_id, "is_bot": False, "first_name": "Alice", "language_code": language}
        return {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Alice"},
            "from": user,
            **fields,
        }

    def push_text(self, chat_id: int, text: str) -> int:
        return self.push("message", self.message(chat_id, text=text))

    def push_edit(self, chat_id: int, text: str) -> int:
        return self.push("edited_message", self.message(chat_id, text=text, edit_date=int(time.time())))

    def push_button(self, chat_id: int, data: str, message_id: int) -> int:
        user = {"id": chat_id, "is_bot": False, "first_name": "Alice", "language_code": "zh-hans"}
        menu = {
            "message_id": message_id,
            "date": int(time.time()),
            "text": "menu",
            "chat": {"id": chat_id, "type": "private"},
        }
        body = {"id": f"cq{message_id}", "from": user, "chat_instance": "ci", "data": data, "message": menu}
        return self.push("callback_query", body)

    def add_file(self, file_id: str, path: str, content: bytes) -> None:
        with self.lock:
            self.files[file_id] = (path, content)

    def push_photo(self, chat_id: int, content: bytes, caption: str = "") -> int:
        self.add_file("photo-big", "photos/file_1.jpg", content)
        sizes = [
            {"file_id": "photo-small", "file_unique_id": "ps", "width": 90, "height": 90, "file_size": 10},
            {
                "file_id": "photo-big",
                "file_unique_id": f"pb{len(content)}",
                "width": 800,
                "height": 600,
                "file_size": len(content),
            },
        ]
        return self.push("message", self.message(chat_id, photo=sizes, caption=caption))

    def push_document(self, chat_id: int, content: bytes, name: str, size: int | None = None) -> int:
        self.add_file("doc-1", f"documents/{name}", content)
        doc = {
            "file_id": "doc-1",
            "file_unique_id": "d1",
            "file_name": name,
            "mime_type": "application/pdf",
            "file_size": len(content) if size is None else size,
        }
        return self.push("message", self.message(chat_id, document=doc))

    def push_sticker(self, chat_id: int) -> int:
        sticker = {
            "file_id": "st",
            "file_unique_id": "st",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self.push("message", self.message(chat_id, sticker=sticker))

    def text_times(self, chat_id: int) -> list[tuple[float, str]]:
        """(time.monotonic() it arrived, text) of every text message sent to ``chat_id``."""
        with self.lock:
            return [(m["at"], m["text"]) for m in self.sent if m["chat_id"] == chat_id and "at" in m]

    def texts_to(self, chat_id: int) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.sent if m["chat_id"] == chat_id]

    def methods(self) -> list[str]:
        with self.lock:
            return [m for m, _ in self.calls]

    # -- the HTTP side ---------------------------------------------------------------------
    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/bot{token}/{method}", methods=["GET", "POST"])
        async def api(token: str, method: str, request: Request) -> Response:
            if token != self.token:
                return _error(401, "Unauthorized")
            params = await _params(request)
            with self.lock:
                self.calls.append((method, params))
                failure = self.failures[method].popleft() if self.failures[method] else None
            if failure is not None:
                await asyncio.sleep(failure.delay)
                if failure.status != 200:
                    extra = {"retry_after": failure.retry_after} if failure.retry_after else None
                    return _error(failure.status, failure.description, extra)
            if (
                method == "sendMessage"
                and self.enforce_limits
                and self.over_limit(int(params["chat_id"]), time.monotonic())
            ):
                with self.lock:
                    self.limited += 1
                return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            handler = getattr(self, f"_{method}", None)
            if handler is None:
                return _error(404, "Not Found: method not found")
            result = await handler(params)
            return JSONResponse({"ok": True, "result": result})

        @app.get("/file/bot{token}/{path:path}")
        async def download(token: str, path: str) -> Response:
            with self.lock:
                found = [content for p, content in self.files.values() if p == path]
            if token != self.token or not found:
                return Response(status_code=404)
            return Response(found[0], media_type="application/octet-stream")

        return app

    async def _getMe(self, _p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Bot API names
        return {"id": 123456, "is_bot": True, "first_name": "Tousu", "username": "tousu_bot"}

    async def _getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.new_update = asyncio.Event()
        assert self.new_update is not None
        offset = int(p.get("offset") or 0)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        while True:
            with self.lock:
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
                ready = self.pending[: int(p.get("limit") or 100)]
            if ready or time.monotonic() >= deadline:
                return ready
            self.new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.new_update.wait(), max(0.01, deadline - time.monotonic()))

    def over_limit(self, chat_id: int, now: float) -> bool:
        with self.lock:
            recent = [m for m in self.sent if now - m["at"] < 1.0]
            return len(recent) >= 30 or any(m["chat_id"] == chat_id for m in recent)

    async def _sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        chat_id = int(p["chat_id"])
        message = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "text": p["text"],
            "chat": {"id": chat_id, "type": "private"},
        }
        with self.lock:
            self.sent.append(
                {
                    "chat_id": chat_id,
                    "text": p["text"],
                    "reply_markup": p.get("reply_markup"),
                    "message_id": message["message_id"],
                    "at": time.monotonic(),
                }
            )
        return message

    async def _sendDocument(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._file_sent(p, "document")

    async def _sendPhoto(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._file_sent(p, "photo")

    def _file_sent(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        upload = p.get(kind)
        if not isinstance(upload, dict):
            raise ValueError(f"{kind} must be an uploaded file here")
        chat_id = int(p["chat_id"])
        message_id = next(self.message_ids)
        with self.lock:
            self.sent.append(
                {"chat_id": chat_id, "text": p.get("caption", ""), kind: upload, "message_id": message_id}
            )
        file_info = {
            "file_id": f"up{message_id}",
            "file_unique_id": f"u{message_id}",
            "file_size": upload["size"],
        }
        body: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
        }
        body[kind] = (
            [{**file_info, "width": 1, "height": 1}]
            if kind == "photo"
            else {
                **file_info,
                "file_name": upload["filename"],
            }
        )
        return body

    def files_to(self, chat_id: int) -> list[tuple[str, str, bytes]]:
        """(kind, file name, content) of every file the bot sent to ``chat_id``."""
        with self.lock:
            return [
                (kind, m[kind]["filename"], m[kind]["content"])
                for m in self.sent
                if m["chat_id"] == chat_id
                for kind in ("photo", "document")
                if kind in m
            ]

    async def _editMessageReplyMarkup(self, p: dict[str, Any]) -> bool:  # noqa: N802
        with self.lock:
            self.edited.append(p)
        return True

    async def _answerCallbackQuery(self, p: dict[str, Any]) -> bool:  # noqa: N802
        with self.lock:
            self.answered.append(str(p["callback_query_id"]))
        return True

    async def _setMyCommands(self, p: dict[str, Any]) -> bool:  # noqa: N802
        with self.lock:
            self.commands[p.get("language_code")] = p["commands"]
        return True

    async def _setWebhook(self, p: dict[str, Any]) -> bool:  # noqa: N802
        self.webhook = str(p["url"])
        return True

    async def _deleteWebhook(self, _p: dict[str, Any]) -> bool:  # noqa: N802
        self.webhook = None
        return True

    async def _sendChatAction(self, _p: dict[str, Any]) -> bool:  # noqa: N802
        return True

    async def _getFile(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with self.lock:
            path, content = self.files[str(p["file_id"])]
        return {
            "file_id": p["file_id"],
            "file_unique_id": "u" + str(p["file_id"]),
            "file_size": len(content),
            "file_path": path,
        }


async def _params(request: Request) -> dict[str, Any]:
    """Bot API parameters: JSON bodies, or form fields whose non-string values are JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.form()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):  # an uploaded file (sendPhoto, sendDocument)
            content = await value.read()
            params[key] = {"filename": value.filename, "size": len(content), "content": content}
            continue
        params[key] = json.loads(value) if key in STRUCTURED and value else value
    params.update(dict(request.query_params))
    return params


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=status)
