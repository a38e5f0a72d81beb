"""Telegram end to end: the real app and python-telegram-bot against a fake Bot API server that
speaks Telegram's HTTP protocol on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import select

from bot.app import TousuApp
from bot.channels.base import DeliveryError, OutboundMessage
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_updates import CallbackPayloads
from bot.settings import Settings
from bot.web.server import create_web_app
from dialogues.types import Button
from storage.models import Customer, Message, Ticket
from tests.bot.services.test_inbox import COMPLAINT
from tests.conftest import make_settings
from tests.fakes.telegram_api import TOKEN, FakeTelegram

pytestmark = pytest.mark.timeout(60)
CHAT = 4242


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    try:
        yield server
    finally:
        server.stop()


def tg_settings(tmp_path: Path, fake: FakeTelegram, **telegram: Any) -> Settings:
    return make_settings(
        tmp_path,
        telegram={
            "token": SecretStr(TOKEN),
            "base_url": f"{fake.url}/bot",
            "base_file_url": f"{fake.url}/file/bot",
            "poll_timeout_seconds": 1,
            **telegram,
        },
        outbox={"per_chat_interval_seconds": 0.02, "backoff_base_seconds": 0.05},
    )


@pytest.fixture
async def app(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[TousuApp]:
    tousu = TousuApp(tg_settings(tmp_path, fake), use_nlu=False)
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def say(fake: FakeTelegram, text: str, expect: str, chat: int = CHAT) -> str:
    """Send a message as the customer and wait for a reply containing ``expect``."""
    before = len(fake.texts_to(chat))
    fake.push_text(chat, text)
    await until(lambda: any(expect in t for t in fake.texts_to(chat)[before:]))
    return "\n".join(fake.texts_to(chat)[before:])


async def tickets(app: TousuApp) -> list[Ticket]:
    return await app.db.run(lambda s: list(s.exec(select(Ticket))))


async def test_a_whole_complaint_through_telegram_ends_in_a_ticket(app: TousuApp, fake: FakeTelegram) -> None:
    for text, expected in COMPLAINT:
        await say(fake, text, expected)
    done = await say(fake, "1", "工单")
    [ticket] = await tickets(app)
    assert ticket.number in done and ticket.channel == "telegram"
    assert ticket.contact_phone == "13800138000" and "漏水" in ticket.description
    # menus came as inline keyboards, and the bot registered its commands in both languages
    assert any(m["reply_markup"] for m in fake.sent)
    registered = {c["command"] for c in fake.commands[None]}
    assert registered >= {"start", "help", "status", "cancel", "human", "lang"}
    assert fake.commands["en"][0]["description"] == "Start over"
    assert "deleteWebhook" in fake.methods()


async def test_the_telegram_language_picks_english_at_first_contact(
    app: TousuApp, fake: FakeTelegram
) -> None:
    fake.push("message", fake.message(777, language="en-GB", text="hi"))
    await until(lambda: bool(fake.texts_to(777)))
    assert fake.texts_to(777)[0].startswith("Hello")
    fake.push_text(778, "hi")  # a zh-hans user
    await until(lambda: bool(fake.texts_to(778)))
    assert fake.texts_to(778)[0].startswith("您好")


async def test_an_edited_message_is_read_as_a_new_answer(app: TousuApp, fake: FakeTelegram) -> None:
    await say(fake, "你好", "您好")
    before = len(fake.texts_to(CHAT))
    fake.push_edit(CHAT, "1")
    await until(lambda: any("请描述" in t for t in fake.texts_to(CHAT)[before:]))


async def test_buttons_work_and_the_answered_keyboard_is_removed(app: TousuApp, fake: FakeTelegram) -> None:
    await say(fake, "你好", "您好")
    menu = next(m for m in reversed(fake.sent) if m["reply_markup"])
    first = menu["reply_markup"]["inline_keyboard"][0][0]
    assert len(first["callback_data"].encode()) <= 64
    before = len(fake.texts_to(CHAT))
    fake.push_button(CHAT, first["callback_data"], menu["message_id"])
    await until(lambda: any("请描述" in t for t in fake.texts_to(CHAT)[before:]))
    await until(lambda: bool(fake.edited) and bool(fake.answered))
    assert fake.edited[0]["message_id"] == menu["message_id"]


async def test_a_restart_mid_intake_resumes_at_the_same_step(tmp_path: Path, fake: FakeTelegram) -> None:
    settings = tg_settings(tmp_path, fake)
    first = TousuApp(settings, use_nlu=False)
    await first.start()
    for text, expected in COMPLAINT[:4]:
        await say(fake, text, expected)
    await first.stop()
    second = TousuApp(settings, use_nlu=False)
    await second.start()
    try:
        reply = await say(fake, COMPLAINT[4][0], COMPLAINT[4][1])  # answers the "where" question
        assert "哪里" not in reply
        for text, expected in COMPLAINT[5:]:
            await say(fake, text, expected)
        await say(fake, "1", "工单")
        assert len(await tickets(second)) == 1
    finally:
        await second.stop()


async def test_429_and_500_lose_and_duplicate_nothing(app: TousuApp, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 429, retry_after=1)
    fake.fail("sendMessage", 500, times=2)
    await say(fake, "你好", "您好")
    await say(fake, "1", "请描述")
    texts = fake.texts_to(CHAT)
    assert len(texts) == len(set(texts)) == 2
    assert texts[0].startswith("您好") and "请描述" in texts[1]  # in order
    # a row is marked sent just after Telegram answers, which can be a moment after the fake
    # server shows the message: wait for that, then check nothing is left pending or doubled
    deadline = time.monotonic() + 5
    while True:
        rows = await app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "out"))))
        if {r.delivery for r in rows} == {"sent"} or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert {r.delivery for r in rows} == {"sent"} and len(rows) == 2


async def test_the_same_update_twice_gives_one_reply(app: TousuApp, fake: FakeTelegram) -> None:
    await say(fake, "你好", "您好")
    update = fake.message(CHAT, text="1")
    fake.push("message", update)
    await until(lambda: len(fake.texts_to(CHAT)) == 2)
    with fake.lock:  # Telegram delivers the same update again (the offset was not confirmed)
        fake.pending.append({"update_id": 2, "message": update})
    fake.push_text(CHAT, "#")  # and something after it, to know the copy was read
    await until(lambda: len(fake.texts_to(CHAT)) >= 3)
    await asyncio.sleep(0.2)
    assert sum("请描述" in t for t in fake.texts_to(CHAT)) == 2  # the prompt, then the repeat from "#"
    assert len(fake.texts_to(CHAT)) == 3


async def test_a_photo_is_downloaded_and_linked_to_the_ticket(app: TousuApp, fake: FakeTelegram) -> None:
    for text, expected in COMPLAINT[:6]:
        await say(fake, text, expected)
    before = len(fake.texts_to(CHAT))
    fake.push_photo(CHAT, b"\xff\xd8jpeg-bytes", caption="")
    await until(lambda: len(fake.texts_to(CHAT)) > before)
    await say(fake, "1", "希望")  # done with evidence
    for text, expected in COMPLAINT[7:]:
        await say(fake, text, expected)
    await say(fake, "1", "工单")
    [ticket] = await tickets(app)
    [attachment] = ticket.attachments
    assert attachment["kind"] == "photo"
    assert await asyncio.to_thread(Path(attachment["ref"]).read_bytes) == b"\xff\xd8jpeg-bytes"


async def test_a_sticker_and_an_oversized_file_are_explained(app: TousuApp, fake: FakeTelegram) -> None:
    await say(fake, "你好", "您好")
    before = len(fake.texts_to(CHAT))
    fake.push_sticker(CHAT)
    await until(lambda: any("无法识别这类消息" in t for t in fake.texts_to(CHAT)[before:]))
    before = len(fake.texts_to(CHAT))
    fake.push_document(CHAT, b"%PDF", "huge.pdf", size=app.settings.attachments.max_bytes + 1)
    await until(lambda: any("文件太大" in t for t in fake.texts_to(CHAT)[before:]))
    assert "getFile" not in fake.methods()  # refused from the size Telegram announced


async def test_a_blocked_bot_marks_the_customer_unreachable_and_stops(
    app: TousuApp, fake: FakeTelegram
) -> None:
    fake.fail("sendMessage", 403, times=5)
    fake.push_text(CHAT, "你好")

    async def dead() -> list[Message]:
        query = select(Message).where(Message.delivery == "dead")
        return await app.db.run(lambda s: list(s.exec(query)))

    deadline = time.monotonic() + 10
    while not await dead():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert fake.methods().count("sendMessage") == 1  # no retries after a 403
    customer = await app.db.run(lambda s: s.exec(select(Customer)).one())
    assert customer.unreachable is True


async def test_webhook_mode_checks_the_secret(tmp_path: Path, fake: FakeTelegram) -> None:
    settings = tg_settings(
        tmp_path,
        fake,
        mode="webhook",
        webhook_url="https://bot.example.com/telegram/webhook",
        secret_token=SecretStr("s3cret"),
    )
    app = TousuApp(settings, use_nlu=False)
    await app.start()
    try:
        assert fake.webhook == "https://bot.example.com/telegram/webhook"
        web = create_web_app(app)
        update = {"update_id": 77, "message": fake.message(CHAT, text="你好")}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://t") as client:
            wrong = await client.post(
                "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
            assert wrong.status_code == 403
            missing = await client.post("/telegram/webhook", json=update)
            assert missing.status_code == 403
            junk = await client.post(
                "/telegram/webhook",
                content=b"{not json",
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"},
            )
            assert junk.status_code == 200  # confirmed and ignored: a redelivery could never be read
            assert fake.texts_to(CHAT) == []
            ok = await client.post(
                "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            )
            assert ok.status_code == 200
        await until(lambda: any("您好" in t for t in fake.texts_to(CHAT)))
        assert "getUpdates" not in fake.methods()
    finally:
        await app.stop()


async def test_a_file_telegram_will_not_serve_is_explained_not_retried(
    app: TousuApp, fake: FakeTelegram
) -> None:
    await say(fake, "你好", "您好")
    fake.fail("getFile", 400, description="Bad Request: file is too big")
    before = len(fake.texts_to(CHAT))
    fake.push_document(CHAT, b"%PDF", "big.pdf")
    await until(lambda: any("文件太大" in t for t in fake.texts_to(CHAT)[before:]))
    await say(fake, "1", "请描述")  # polling went on past the refused file
    assert fake.methods().count("getFile") == 1


async def test_long_payloads_travel_as_short_tokens(app: TousuApp, fake: FakeTelegram) -> None:
    channel = app.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    long = "some_very_long_step_identifier_" * 3 + ":2"
    await channel.send(str(CHAT), OutboundMessage("pick", buttons=(Button("two", long), Button("s", "a:1"))))
    [row_long], [row_short] = fake.sent[-1]["reply_markup"]["inline_keyboard"]
    assert row_short["callback_data"] == "a:1"
    data = row_long["callback_data"]
    assert len(data.encode()) <= 64 and data.endswith(":2")
    assert channel.payloads.decode(data) == ("2", long)
    assert CallbackPayloads().decode(data) == ("2", None)  # forgotten (a restart): the key alone
    small = CallbackPayloads(capacity=2)
    tokens = [small.encode(f"{'x' * 70}{i}:{i}") for i in range(3)]
    assert small.decode(tokens[0]) == ("0", None) and small.decode(tokens[2])[1] is not None


async def test_a_long_text_is_split_in_order_and_a_retry_repeats_no_part(
    app: TousuApp, fake: FakeTelegram
) -> None:
    channel = app.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    text = "\n".join(f"line {i:05d} " + "x" * 90 for i in range(90))  # about 9 000 characters
    message = OutboundMessage(text, buttons=(Button("ok", "s:1"),))
    fake.slow("sendMessage", 0)  # the first part goes through
    fake.fail("sendMessage", 500)  # the second fails
    with pytest.raises(DeliveryError) as failed:
        await channel.send(str(CHAT), message)
    assert not failed.value.permanent
    await channel.send(str(CHAT), message)  # the outbox retries
    parts = fake.texts_to(CHAT)
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text
    markups = [m["reply_markup"] for m in fake.sent if m["chat_id"] == CHAT]
    assert markups[:2] == [None, None] and markups[2] is not None


@pytest.fixture
async def webhook_app(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[TousuApp]:
    settings = tg_settings(
        tmp_path,
        fake,
        mode="webhook",
        webhook_url="https://bot.example.com/telegram/webhook",
        secret_token=SecretStr("s3cret"),
    )
    tousu = TousuApp(settings, use_nlu=False)
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()


def _bad_updates(fake: FakeTelegram) -> list[Any]:
    good = fake.message(CHAT, text="你好")
    return [
        [1, 2],
        "update",
        None,
        {"message": good},  # no update_id
        {"update_id": "9", "message": good},
        {"update_id": True, "message": good},
        {"update_id": 9, "message": {**good, "text": 5}},
        {"update_id": 9, "message": {**good, "text": {"a": 1}}},
        {"update_id": 9, "message": {**good, "chat": {"id": "abc", "type": "private"}}},
        {"update_id": 9, "message": {**good, "chat": "abc"}},
        {"update_id": 9, "message": {**good, "text": "\ud800"}},
        {"update_id": 9, "message": {**good, "location": {"latitude": "x", "longitude": 1}}},
        {"update_id": 9, "message": {**good, "from": {"id": 1, "is_bot": False}}},  # no first_name
        {"update_id": 9, "message": {**good, "caption": ["a"], "photo": "p"}},
        {"update_id": 9, "callback_query": {"id": "c", "from": {"id": 1}, "data": 7}},
        {"update_id": 9, "message": [good]},
    ]


async def test_an_unreadable_webhook_update_is_confirmed_never_stored_and_never_a_500(
    webhook_app: TousuApp, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    caplog.set_level("WARNING", logger="bot.channels.telegram")
    web = create_web_app(webhook_app)
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret", "Content-Type": "application/json"}
    bodies = [json.dumps(u).encode() for u in _bad_updates(fake)]
    bodies += [b"{", b"\xff\xfe{}", b'{"update_id": 1' + b"0" * 5000 + b"}", b"[" * 100_000]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://t") as client:
        for body in bodies:
            response = await client.post("/telegram/webhook", content=body, headers=secret)
            assert response.status_code == 200, body
        good = {"update_id": 10, "message": fake.message(CHAT, text="你好")}
        assert (await client.post("/telegram/webhook", json=good, headers=secret)).status_code == 200
    ignored = [r for r in caplog.records if "unreadable update ignored" in r.getMessage()]
    assert len(ignored) == len(bodies)
    await until(lambda: any("您好" in t for t in fake.texts_to(CHAT)))
    rows = await webhook_app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "in"))))
    assert [(m.user_id, m.text) for m in rows] == [(str(CHAT), "你好")]


async def test_a_webhook_update_that_could_not_be_stored_is_a_503_so_telegram_redelivers_it(
    webhook_app: TousuApp, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def locked(_inbound: object) -> bool:
        raise OSError("database is locked")

    monkeypatch.setattr(webhook_app.manager, "accept", locked)
    web = create_web_app(webhook_app)
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    update = {"update_id": 11, "message": fake.message(CHAT, text="你好")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://t") as client:
        response = await client.post("/telegram/webhook", json=update, headers=secret)
        assert response.status_code == 503
        monkeypatch.undo()
        assert (await client.post("/telegram/webhook", json=update, headers=secret)).status_code == 200
    await until(lambda: any("您好" in t for t in fake.texts_to(CHAT)))


async def test_a_polled_update_with_fields_of_the_wrong_type_is_skipped_not_retried_forever(
    app: TousuApp, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="bot.channels.telegram")
    fake.push("message", fake.message(CHAT, text=5))  # Telegram's own types, broken
    await say(fake, "你好", "您好")  # the next update still gets through
    assert any("unreadable update" in r.getMessage() for r in caplog.records)
    rows = await app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "in"))))
    assert [m.text for m in rows] == ["你好"]
