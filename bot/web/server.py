"""The HTTP side of the app: health, the customer chat page, the channel webhooks
(bot/web/webhooks.py) and the console (bot/web/console/routes.py), all behind one middleware
stack with the body cap first. The TousuApp lifecycle runs inside the ASGI lifespan."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from bot.app import TousuApp
from bot.channels.webchat import ChatIdentity, message_json
from bot.channels.webchat_files import Refused, store_upload
from bot.domain.catalog import Catalog
from bot.settings import Settings
from bot.web.api.app import install as install_api
from bot.web.console.context import Console
from bot.web.console.routes import install as install_console
from bot.web.console.security import SESSION_COOKIE, NotLoggedIn, secure_cookie
from bot.web.limits import BodyLimit, LimitFor
from bot.web.nlu_health import nlu_health
from bot.web.process_tuning import tune_for_serving
from bot.web.token_buckets import TokenBuckets
from bot.web.webhooks import WECHAT_CALLBACK, webhook_router
from dialogues.types import ConversationKey, InboundMessage
from storage.models import Message
from storage.types import utcnow

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "chat_static"
CHAT_COOKIE = "tousu_chat"
HISTORY_LIMIT = 50
MAX_WS_MESSAGE = 64_000
CHAT_HEADERS = {
    # the page and its script come from here; only this site may frame it
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_web_app(tousu: TousuApp, *, manage_lifecycle: bool = True, serving: bool = False) -> FastAPI:
    """Build the FastAPI app; with ``manage_lifecycle`` the bot starts and stops with it, and
    ``serving`` (the process is the bot's: ``tousu run``) tunes the interpreter once started."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await tousu.start()
        if serving:
            tune_for_serving()
        try:
            yield
        finally:
            app.state.console.hub.close()
            if manage_lifecycle:
                await tousu.stop()

    app = FastAPI(title="Tousu", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.tousu = tousu
    app.add_middleware(BodyLimit, limit_for=body_limits(tousu.settings, wechat="wechat" in tousu.channels))
    app.include_router(webhook_router(tousu.channels))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    console = Console(tousu)
    console.hub.relay_through(tousu.live)  # pages on every process see every event
    install_console(app, console)
    install_api(app, tousu)

    @app.exception_handler(StarletteHTTPException)
    async def console_error(request: Request, exc: StarletteHTTPException) -> Response:
        """A person opening a console page they may not see gets a page in their language;
        scripts and API clients keep the JSON answer."""
        wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if not (wants_page and request.url.path.startswith("/console")):
            return await http_exception_handler(request, exc)
        agent = await console.agent_for(request.cookies.get(SESSION_COOKIE))
        key = {404: "error_404", 403: "error_403"}.get(exc.status_code, "error_other")
        language = agent.language if agent is not None else "zh"
        return console.render(
            "error.html",
            agent,
            status=exc.status_code,
            message=tousu.texts.name("console", key, "en" if language == "en" else "zh"),
            language=language,
        )

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _exc: NotLoggedIn) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/console/login", status_code=303)
        return JSONResponse({"detail": "log in first"}, status_code=401)

    @app.get("/health")
    async def health() -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            await tousu.db.run(lambda s: s.execute(text("SELECT 1")).scalar_one())
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        supervisor = tousu.nlu_supervisor  # the bot's own Rasa: where it stands, how often it died
        understanding = await nlu_health(tousu.nlu, supervisor.state if supervisor is not None else None)
        checks.update(understanding.as_json())
        if supervisor is not None:
            checks["nlu_restarts"] = supervisor.restarts
        checks["channels"] = sorted(tousu.channels)
        checks["outbox_pending"] = tousu.delivery.pending_count()
        ok = checks["database"] == "ok" and tousu.started
        return JSONResponse({"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503)

    settings = tousu.settings
    identity = ChatIdentity.load(
        settings.web.session_secret.get_secret_value() if settings.web.session_secret else None,
        settings.path(settings.general.data_dir),
    )
    app.state.chat_identity = identity
    chat = settings.webchat
    new_chats = TokenBuckets(
        rate=chat.new_chats_per_hour / 3600, burst=chat.new_chats_burst, max_keys=chat.tracked
    )
    per_chat = TokenBuckets(rate=chat.messages_per_minute / 60, burst=chat.burst, max_keys=chat.tracked)
    per_address = TokenBuckets(
        rate=chat.address_messages_per_minute / 60, burst=chat.address_burst, max_keys=chat.tracked
    )

    @app.get("/chat", response_class=HTMLResponse)
    async def chat_page(request: Request) -> Response:
        """The page; a browser without a cookie this server issued gets a new identity, at
        most ``webchat.new_chats_per_hour`` per address."""
        page = (STATIC_DIR / "chat.html").read_text(encoding="utf-8")
        if identity.public_id(request.cookies.get(CHAT_COOKIE)) is not None:
            return HTMLResponse(page, headers=CHAT_HEADERS)
        if not new_chats.allow(_address(request.client)):
            return Response(_too_fast(tousu.texts), status_code=429, media_type="text/plain; charset=utf-8")
        response = HTMLResponse(page, headers=CHAT_HEADERS)
        cookie, _public = identity.issue()
        response.set_cookie(
            CHAT_COOKIE,
            cookie,
            httponly=True,
            samesite="strict",
            secure=secure_cookie(request, settings.console.secure_cookies),
            max_age=90 * 86400,
        )
        return response

    @app.get("/chat/history")
    async def chat_history(request: Request) -> JSONResponse:
        user_id = identity.public_id(request.cookies.get(CHAT_COOKIE))
        if user_id is None:
            return JSONResponse({"messages": []})

        def load(session: Session) -> list[dict[str, Any]]:
            rows = session.exec(
                select(Message)
                .where(Message.channel == tousu.webchat.name, Message.user_id == user_id)
                .where(col(Message.direction).in_(("in", "out")))
                .order_by(col(Message.id).desc())
                .limit(HISTORY_LIMIT)
            ).all()
            # the page's own "/start" on a first visit is no message of the customer's
            return [_history_item(row) for row in reversed(rows) if not _page_start(row)]

        return JSONResponse({"messages": await tousu.db.run(load)})

    @app.get("/chat/files/{name}")
    async def chat_file(name: str, request: Request) -> Response:
        """A file an agent sent to this browser's chat; anyone else gets 404."""
        user_id = identity.public_id(request.cookies.get(CHAT_COOKIE))
        if user_id is None or not name or "/" in name or name.startswith("."):
            return Response(status_code=404)

        def find(session: Session) -> dict[str, Any] | None:
            rows = session.exec(
                select(Message)
                .where(Message.channel == tousu.webchat.name, Message.user_id == user_id)
                .where(Message.direction == "out", col(Message.author).startswith("agent:"))
                .order_by(col(Message.id).desc())
                .limit(500)
            ).all()
            for row in rows:
                for item in row.attachments:
                    if Path(str(item.get("ref", ""))).name == name:
                        return item
            return None

        found = await tousu.db.run(find)
        if found is None:
            return Response(status_code=404)
        return FileResponse(
            str(found["ref"]),
            filename=str(found.get("name") or name),
            media_type=str(found.get("mime") or "application/octet-stream"),
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )

    attachments_dir = settings.path(settings.attachments.dir) / "webchat"

    @app.post("/chat/upload")
    async def chat_upload(request: Request) -> JSONResponse:
        """A photo or file the customer attaches: stored (webchat_files: size, kind and bytes
        checked), then a message carrying it goes to the bot as a Telegram photo would; a
        refused file becomes a too_large or unsupported message, which the bot answers in the
        customer's language. Same cookie, origin and rate limits as the socket."""
        user_id = identity.public_id(request.cookies.get(CHAT_COOKIE))
        origin = request.headers.get("origin")
        if user_id is None or (origin is not None and urlsplit(origin).netloc != request.url.netloc):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        if not (per_chat.allow(user_id) and per_address.allow(_address(request.client))):
            return JSONResponse({"error": "rate_limited", "text": _too_fast(tousu.texts)}, status_code=429)
        form = await request.form()
        item = form.get("file")
        if not isinstance(item, UploadFile):
            return JSONResponse({"error": "bad_message"}, status_code=400)
        data = await item.read(settings.attachments.max_bytes + 1)
        stored = await asyncio.to_thread(
            store_upload,
            attachments_dir,
            user_id,
            item.filename or "file",
            data,
            settings.attachments.max_bytes,
        )
        client_id = str(form.get("id") or secrets.token_hex(8))[:64]
        refused = isinstance(stored, Refused)
        inbound = InboundMessage(
            key=ConversationKey(tousu.webchat.name, user_id),
            text="",
            message_id=f"{user_id}:{client_id}",
            received_at=utcnow(),
            attachments=() if isinstance(stored, Refused) else (stored,),
            kind=stored.reason if isinstance(stored, Refused) else stored.kind,
            language_hint=str(form.get("lang") or "") or None,
        )
        await tousu.manager.accept(inbound)
        return JSONResponse(
            {"ok": not refused, "error": stored.reason if isinstance(stored, Refused) else None}
        )

    @app.websocket("/chat/ws")
    async def chat_socket(socket: WebSocket) -> None:
        """One browser's live chat: only from a page of this site (Origin), only with a cookie
        this server issued, text frames only (a binary one closes with 1003), and at most
        ``webchat.messages_per_minute`` per browser and ``address_messages_per_minute`` per address."""
        if not _same_origin(socket, settings.web.public_url):
            await socket.close(code=4403)
            return
        user_id = identity.public_id(socket.cookies.get(CHAT_COOKIE))
        if user_id is None:
            await socket.close(code=4401)
            return
        address = _address(socket.client)
        await socket.accept()
        tousu.webchat.connect(user_id, socket)
        try:
            while True:
                frame = await socket.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                raw = frame.get("text")
                if raw is None:
                    await socket.close(code=1003)  # unsupported data: this chat speaks JSON text
                    break
                if len(raw) > MAX_WS_MESSAGE:
                    await socket.send_json({"from": "system", "error": "too_long"})
                    continue
                if not (per_chat.allow(user_id) and per_address.allow(address)):
                    too_fast = _too_fast(tousu.texts)
                    await socket.send_json({"from": "system", "error": "rate_limited", "text": too_fast})
                    continue
                try:
                    data = json.loads(raw)
                    text_in = str(data.get("text", ""))
                    payload = data.get("payload")
                    client_id = str(data.get("id") or secrets.token_hex(8))[:64]
                except (ValueError, AttributeError):
                    await socket.send_json({"from": "system", "error": "bad_message"})
                    continue
                inbound = InboundMessage(
                    key=ConversationKey(tousu.webchat.name, user_id),
                    text=text_in,
                    message_id=f"{user_id}:{client_id}",
                    received_at=utcnow(),
                    payload=str(payload)[:256] if payload else None,
                    language_hint=str(data.get("lang") or "") or None,
                )
                await tousu.manager.accept(inbound)
        except WebSocketDisconnect:
            pass
        finally:
            tousu.webchat.disconnect(user_id, socket)

    return app


LOGIN_BODY_BYTES = 16 * 1024
"""The login form is three short fields; anyone may post it, so its cap is small."""


def body_limits(settings: Settings, *, wechat: bool) -> LimitFor:
    """Each route's body cap: ``web.max_body_bytes``, except the login form (small), the
    WeChat callback (``wechat.max_body_bytes``, when WeChat is served) and an agent's reply,
    which carries files of up to ``console.max_upload_bytes``."""
    general = settings.web.max_body_bytes
    upload = settings.console.max_upload_bytes + general

    def limit_for(scope: Scope) -> int:
        path: str = scope["path"]
        if path == "/console/login":
            return min(general, LOGIN_BODY_BYTES)
        if wechat and path == WECHAT_CALLBACK:
            return settings.wechat.max_body_bytes
        if path.startswith("/console/conversations/") and path.endswith("/reply"):
            return upload
        if path == "/chat/upload":
            return settings.attachments.max_bytes + general
        return general

    return limit_for


def _address(client: Any) -> str:
    """The peer's address (behind a proxy, as the ASGI server's forwarded-header handling gives it)."""
    return str(client.host) if client is not None else "?"


def _same_origin(socket: WebSocket, public_url: str | None) -> bool:
    """A browser always sends Origin on a WebSocket; a page of another site must not open one
    with this site's cookie. A client that sends none is no browser, and holds its own cookie.
    The site is the Host, a proxy's X-Forwarded-Host (no page can set it) or ``web.public_url``."""
    origin = socket.headers.get("origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    allowed = {socket.headers.get("host", "").lower()}
    allowed.update(h.strip().lower() for h in socket.headers.get("x-forwarded-host", "").split(","))
    if public_url:
        allowed.add(urlsplit(public_url).netloc.lower())
    return bool(netloc) and netloc in allowed


def _too_fast(texts: Catalog) -> str:
    return texts.both("bot.chat_too_fast")


def _page_start(row: Message) -> bool:
    return row.direction == "in" and row.text.strip() == "/start" and not row.attachments


def _history_item(row: Message) -> dict[str, Any]:
    if row.direction == "in":
        names = [str(a.get("name") or "file") for a in row.attachments]
        lines = ([row.text] if row.text else []) + ["📎 " + name for name in names]
        return {"from": "customer", "text": "\n".join(lines), "buttons": []}
    item: dict[str, Any] = message_json_from_row(row)
    if row.author.startswith("agent:"):
        item["from"] = "agent"
    return item


def message_json_from_row(row: Message) -> dict[str, Any]:
    from bot.channels.base import OutboundMessage
    from dialogues.types import Attachment, Button

    return message_json(
        OutboundMessage(
            text=row.text,
            buttons=tuple(Button(b["label"], b["payload"]) for b in row.buttons),
            attachments=tuple(Attachment(**a) for a in row.attachments),
            author=row.author,
        )
    )
