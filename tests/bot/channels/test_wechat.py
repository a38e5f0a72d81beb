"""WeChat end to end: callbacks in WeChat's XML (plain and safe mode) into the real app, and the
outbound API against a fake WeChat server over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import xmltodict
from pydantic import SecretStr
from sqlmodel import select

from bot.app import TousuApp
from bot.channels.wechat_xml import signature
from bot.web.server import create_web_app
from dialogues.types import ConversationKey, Reply
from storage.models import Customer, Message, Ticket
from storage.types import utcnow
from tests.bot.services.test_inbox import COMPLAINT
from tests.conftest import make_settings
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat

pytestmark = pytest.mark.timeout(60)
USER = "oUser123"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    try:
        yield server
    finally:
        server.stop()


def wx_settings(tmp_path: Path, fake: FakeWeChat, **wechat: Any) -> Any:
    """Plain mode unless ``encoding_aes_key`` is given (safe mode refuses plaintext)."""
    values: dict[str, Any] = {
        "app_id": wx.APP_ID,
        "app_secret": SecretStr(wx.SECRET),
        "token": SecretStr(wx.TOKEN),
        "account_id": wx.OFFICIAL,
        "api_base_url": fake.base_url,
        "templates": {"status_update": "TPL-1"},
        **wechat,
    }
    return make_settings(tmp_path, wechat=values, outbox={"backoff_base_seconds": 0.05})


@pytest.fixture
async def app(tmp_path: Path, fake: FakeWeChat) -> AsyncIterator[TousuApp]:
    tousu = TousuApp(wx_settings(tmp_path, fake), use_nlu=False)
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()


@pytest.fixture
async def client(app: TousuApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://wx") as http:
        yield http


@pytest.fixture
async def safe_app(tmp_path: Path, fake: FakeWeChat) -> AsyncIterator[TousuApp]:
    tousu = TousuApp(wx_settings(tmp_path, fake, encoding_aes_key=SecretStr(wx.AES_KEY)), use_nlu=False)
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()


@pytest.fixture
async def safe_client(safe_app: TousuApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web_app(safe_app))
    async with httpx.AsyncClient(transport=transport, base_url="http://wx") as http:
        yield http


async def post(client: httpx.AsyncClient, body: str, query: dict[str, str] | None = None) -> httpx.Response:
    return await client.post("/wechat/callback", params=query or wx.signed_query(), content=body.encode())


async def say(client: httpx.AsyncClient, content: str, user: str = USER) -> str:
    response = await post(client, wx.text(user, content))
    assert response.status_code == 200
    return "" if response.text == "success" else wx.reply_content(response.text)


async def test_the_echostr_check(client: httpx.AsyncClient) -> None:
    query = wx.signed_query()
    ok = await client.get("/wechat/callback", params={**query, "echostr": "12345"})
    assert ok.status_code == 200 and ok.text == "12345"
    bad = await client.get("/wechat/callback", params={**query, "signature": "0" * 40, "echostr": "1"})
    assert bad.status_code == 403


async def test_a_complaint_in_plain_mode_ends_in_a_ticket(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    greeting = await say(client, "你好")
    assert "1. 我要投诉" in greeting  # WeChat has no buttons: menus are numbered lines
    for content, expected in COMPLAINT:
        assert expected in await say(client, content)
    done = await say(client, "1")
    ticket = await app.db.run(lambda s: s.exec(select(Ticket)).one())
    assert ticket.number in done and ticket.channel == "wechat"
    assert fake.sent == []  # every reply went back passively


async def test_a_complaint_in_safe_mode_ends_in_a_ticket(
    safe_app: TousuApp, safe_client: httpx.AsyncClient
) -> None:
    for content, expected in [*COMPLAINT, ("1", "工单")]:
        body, query = wx.encrypted(wx.text("oSafe", content), wx.signed_query())
        response = await post(safe_client, body, query)
        assert response.status_code == 200
        assert expected in wx.reply_content(wx.decrypt_reply(response.text, query))
    tickets = await safe_app.db.run(lambda s: list(s.exec(select(Ticket))))
    assert len(tickets) == 1


async def test_a_message_delivered_three_times_gives_one_reply(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    await say(client, "你好")
    body = wx.text(USER, "1")
    first, second, third = await asyncio.gather(*(post(client, body) for _ in range(3)))
    assert first.text == second.text == third.text and "请描述" in wx.reply_content(first.text)
    again = await post(client, body)  # a late retry gets the same answer
    assert again.text == first.text
    inbound = await app.db.run(
        lambda s: list(s.exec(select(Message).where(Message.direction == "in", Message.text == "1")))
    )
    outbound = await app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "out"))))
    assert len(inbound) == 1 and len(outbound) == 2
    await asyncio.sleep(0.2)
    assert fake.sent == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"signature": "0" * 40}, 403),
        ({"timestamp": str(int(time.time()) - 3600)}, 403),
    ],
)
async def test_forged_or_stale_callbacks_are_refused(
    client: httpx.AsyncClient, change: dict[str, str], status: int
) -> None:
    query = {**wx.signed_query(), **change}
    response = await post(client, wx.text(USER, "你好"), query)
    assert response.status_code == status


async def test_a_stale_timestamp_with_a_valid_signature_is_refused(client: httpx.AsyncClient) -> None:
    query = wx.signed_query(timestamp=int(time.time()) - 3600)
    assert (await post(client, wx.text(USER, "你好"), query)).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType>"
        "<Content>&xxe;</Content></xml>",
        '<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>',
        "<xml><ToUserName>unclosed",
        "not xml at all",
        "<xml><Content>no type</Content></xml>",
    ],
)
async def test_hostile_or_malformed_xml_is_a_400(client: httpx.AsyncClient, body: str) -> None:
    assert (await post(client, body)).status_code == 400


async def test_an_oversized_body_is_a_413(client: httpx.AsyncClient) -> None:
    assert (await post(client, wx.text(USER, "长" * 40_000))).status_code == 413


async def test_a_malformed_content_length_is_a_400_not_a_500(client: httpx.AsyncClient) -> None:
    request = client.build_request(
        "POST", "/wechat/callback", params=wx.signed_query(), content=wx.text(USER, "你好").encode()
    )
    request.headers["content-length"] = "12abc"
    assert (await client.send(request)).status_code == 400


async def test_a_slow_turn_answers_success_and_the_api_delivers(tmp_path: Path, fake: FakeWeChat) -> None:
    app = TousuApp(wx_settings(tmp_path, fake, reply_budget_seconds=0.001), use_nlu=False)
    await app.start()
    try:
        transport = httpx.ASGITransport(app=create_web_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://wx") as http:
            response = await post(http, wx.text(USER, "你好"))
        assert response.text == "success"
        deadline = time.monotonic() + 10
        while not fake.texts_to(USER):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert fake.texts_to(USER)[0].startswith("您好")
    finally:
        await app.stop()


async def test_outside_the_48_hour_window_a_template_is_sent(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    await say(client, "你好")

    def age(session: Any) -> None:  # the customer wrote 49 hours ago
        customer = session.exec(select(Customer)).one()
        customer.last_inbound_at = utcnow() - timedelta(hours=49)
        session.add(customer)
        for row in session.exec(select(Message).where(Message.direction == "in")):
            row.created_at = utcnow() - timedelta(hours=49)
            session.add(row)

    await app.db.run(age)
    key = ConversationKey("wechat", USER)
    await app.manager.send_as(key, [Reply("您的工单已处理完毕")], author="agent:li")
    deadline = time.monotonic() + 10
    while not fake.templates:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert fake.templates[0]["template_id"] == "TPL-1"
    assert fake.templates[0]["data"]["first"]["value"] == "您的工单已处理完毕"
    assert fake.sent == []


async def test_past_the_five_wechat_allows_after_a_message_a_template_is_sent(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    await say(client, "你好")
    key = ConversationKey("wechat", USER)
    for i in range(6):
        await app.manager.send_as(key, [Reply(f"进展 {i}")], author="agent:li")
    deadline = time.monotonic() + 10
    while not fake.templates:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert fake.texts_to(USER) == [f"进展 {i}" for i in range(5)]  # never a 45047 from WeChat
    assert fake.templates[0]["data"]["first"]["value"] == "进展 5"
    await say(client, "还有别的问题")  # the customer writes: five more
    fake.sent.clear()
    await app.manager.send_as(key, [Reply("收到")], author="agent:li")
    while "收到" not in fake.texts_to(USER):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert len(fake.templates) == 1


async def test_wechats_minute_quota_is_waited_out_not_a_lost_customer(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    await say(client, "你好")
    fake.fail("message/custom/send", 45011)
    await app.manager.send_as(ConversationKey("wechat", USER), [Reply("稍后送达")], author="agent:li")

    def reply_row(session: Any) -> Message:
        return session.exec(select(Message).where(Message.text == "稍后送达")).one()

    deadline = time.monotonic() + 10
    while (row := await app.db.run(reply_row)).attempts == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert row.delivery == "pending"  # retried after the minute, not given up
    assert row.next_attempt_at is not None and row.next_attempt_at - utcnow() > timedelta(seconds=50)
    customer = await app.db.run(lambda s: s.exec(select(Customer)).one())
    assert not customer.unreachable


async def test_45015_from_the_api_falls_back_to_a_template(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    await say(client, "你好")
    fake.fail("message/custom/send", 45015)
    await app.manager.send_as(ConversationKey("wechat", USER), [Reply("进展通知")], author="agent:li")
    deadline = time.monotonic() + 10
    while not fake.templates:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert fake.sent == []


async def test_the_token_is_fetched_once_and_refreshed_once_when_rejected(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    await say(client, "你好")
    key = ConversationKey("wechat", USER)
    for i in range(4):  # WeChat allows 5 after the customer's message
        await app.manager.send_as(key, [Reply(f"通知 {i}")], author="agent:li")
    deadline = time.monotonic() + 10
    while len(fake.sent) < 4:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert fake.token_fetches == 1
    fake.expire_token()
    await app.manager.send_as(key, [Reply("再次通知")], author="agent:li")
    while len(fake.sent) < 5:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert fake.token_fetches == 2
    assert fake.texts_to(USER)[-1] == "再次通知"


async def test_an_image_is_downloaded_as_evidence(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    fake.media["MEDIA1"] = b"\xff\xd8wechat-jpeg"
    for content, expected in COMPLAINT[:6]:
        assert expected in await say(client, content)
    response = await post(client, wx.xml_message(USER, "image", PicUrl="http://x/p.jpg", MediaId="MEDIA1"))
    assert response.status_code == 200
    for content, expected in [("1", "希望"), *COMPLAINT[7:], ("1", "工单")]:
        assert expected in await say(client, content)
    ticket = await app.db.run(lambda s: s.exec(select(Ticket)).one())
    [attachment] = ticket.attachments
    assert attachment["kind"] == "photo"
    assert await asyncio.to_thread(Path(attachment["ref"]).read_bytes) == b"\xff\xd8wechat-jpeg"


async def test_subscribe_greets_and_unsubscribe_marks_the_customer(
    app: TousuApp, client: httpx.AsyncClient
) -> None:
    response = await post(client, wx.xml_message(USER, "event", Event="subscribe"))
    assert "您好" in wx.reply_content(response.text)
    response = await post(client, wx.xml_message(USER, "event", Event="unsubscribe"))
    assert response.text == "success"
    customer = await app.db.run(lambda s: s.exec(select(Customer)).one())
    assert customer.unreachable is True


async def test_voice_recognition_is_read_as_text_and_unknown_kinds_are_explained(
    client: httpx.AsyncClient,
) -> None:
    await say(client, "你好")
    voice = wx.xml_message(USER, "voice", MediaId="V1", Format="amr", Recognition="我要投诉")
    assert "请描述" in wx.reply_content((await post(client, voice)).text)
    video = wx.xml_message(USER, "shortvideo", MediaId="S1", ThumbMediaId="T1")
    assert "无法接收这类消息" in wx.reply_content((await post(client, video)).text)


def test_menu_push_sends_the_configured_menu(tmp_path: Path, fake: FakeWeChat) -> None:
    from bot.cli.wechat import push_menu

    menu = [
        {"type": "click", "name": "查询进度", "key": "progress"},
        {"type": "click", "name": "人工客服", "key": "human"},
    ]
    settings = wx_settings(tmp_path, fake, menu=menu)
    assert push_menu(None, settings) == 0  # type: ignore[arg-type]
    assert fake.menus == [{"button": menu}]
    assert push_menu(None, wx_settings(tmp_path, fake)) == 2  # type: ignore[arg-type]


async def test_location_link_click_and_voice_without_recognition(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    click = wx.xml_message(USER, "event", Event="CLICK", EventKey="complain")
    assert "请描述" in wx.reply_content((await post(client, click)).text)  # the menu's "complain" key
    location = wx.xml_message(
        USER, "location", Location_X=39.9042, Location_Y=116.4074, Scale=15, Label="北京市东城区"
    )
    await post(client, location)
    link = wx.xml_message(USER, "link", Title="我的订单截图", Description="d", Url="http://example.com/o/1")
    await post(client, link)
    fake.media["VOICE1"] = b"#!AMR voice"
    voice = wx.xml_message(USER, "voice", MediaId="VOICE1", Format="amr")
    assert (await post(client, voice)).status_code == 200
    rows = await app.db.run(
        lambda s: list(s.exec(select(Message).where(Message.direction == "in").order_by(Message.id)))
    )
    kinds = [(m.kind, m.text) for m in rows]
    assert kinds[0] == ("text", "1")
    assert kinds[1][0] == "location" and kinds[1][1].startswith("39.9042,116.4074")
    assert "东城区" in kinds[1][1]
    assert kinds[2] == ("link", "我的订单截图 http://example.com/o/1")
    assert kinds[3][0] == "voice"
    [audio] = rows[3].attachments
    assert audio["kind"] == "voice"
    assert await asyncio.to_thread(Path(audio["ref"]).read_bytes) == b"#!AMR voice"
    unknown = wx.xml_message(USER, "event", Event="CLICK", EventKey="not-a-key")
    assert (await post(client, unknown)).text == "success"


async def test_an_agents_reply_with_a_photo_reaches_the_customer_as_an_image(
    app: TousuApp, client: httpx.AsyncClient, fake: FakeWeChat
) -> None:
    from sqlmodel import Session

    from bot.web.console import accounts
    from storage.models import Conversation
    from tests.bot.web.console.helpers import PASSWORD, login, page_csrf, take_and_send_file

    def seed(session: Session) -> None:
        accounts.add_user(session, username="wangfang", password=PASSWORD, role="agent", display_name="王芳")

    await app.db.run(seed)
    await say(client, "人工")
    cid = await app.db.run(
        lambda s: s.exec(select(Conversation.id).where(Conversation.user_id == USER)).one()
    )
    await login(client, "wangfang")
    sent = await take_and_send_file(
        client, cid, "这是维修单照片", ("repair.jpg", b"\xff\xd8\xff jpeg bytes", "image/jpeg")
    )
    assert sent.json() == {"ok": True}
    deadline = time.monotonic() + 10
    while fake.images_to(USER) != [b"\xff\xd8\xff jpeg bytes"]:
        assert time.monotonic() < deadline, "no image reached the fake WeChat server"
        await asyncio.sleep(0.05)
    assert "这是维修单照片" in fake.texts_to(USER)
    refused = await client.post(
        f"/console/conversations/{cid}/reply",
        data={"csrf_token": await page_csrf(client), "text": "x"},
        files={"files": ("a.pdf", b"%PDF", "application/pdf")},
        headers={"X-Requested-With": "fetch"},
    )
    why = refused.json()["error"]  # why, in the agent's language, not the generic refusal
    assert refused.status_code == 409 and ("只能向客户发送图片" in why or "images only" in why)


async def inbound_rows(app: TousuApp) -> list[Message]:
    return await app.db.run(
        lambda s: list(s.exec(select(Message).where(Message.direction == "in").order_by(Message.id)))
    )


async def test_safe_mode_refuses_plaintext_whatever_encrypt_type_says(
    safe_app: TousuApp, safe_client: httpx.AsyncClient
) -> None:
    plain = wx.text(USER, "你好")
    assert (await post(safe_client, plain)).status_code == 400  # no encrypt_type at all
    assert (await post(safe_client, plain, {**wx.signed_query(), "encrypt_type": "raw"})).status_code == 400
    query = wx.signed_query()  # plaintext claiming to be encrypted
    claimed = {**query, "encrypt_type": "aes", "msg_signature": signature(wx.TOKEN, query["timestamp"])}
    assert (await post(safe_client, plain, claimed)).status_code == 400
    body, signed = wx.encrypted(plain, wx.signed_query())
    other, other_query = wx.encrypted(wx.text(USER, "别的"), wx.signed_query())
    swapped = {**signed, "msg_signature": other_query["msg_signature"]}  # signs another body
    assert (await post(safe_client, body, swapped)).status_code == 403
    assert (await post(safe_client, other, other_query)).status_code == 200
    assert [m.text for m in await inbound_rows(safe_app)] == ["别的"]


async def test_a_timestamp_and_nonce_replayed_with_another_body_is_refused(
    app: TousuApp, client: httpx.AsyncClient, safe_client: httpx.AsyncClient
) -> None:
    query = wx.signed_query()
    body = wx.text(USER, "你好")
    first = await post(client, body, query)
    assert first.status_code == 200
    for other in (wx.text(USER, "1"), wx.text("oOther", "你好")):  # the signature does not cover the body
        assert (await post(client, other, query)).status_code == 403
    again = await post(client, body, query)  # the same callback again: WeChat's retry or a replay
    assert again.status_code == 200 and again.text == first.text  # answered alike, processed once
    assert (await post(client, wx.text(USER, "1"))).status_code == 200  # a new pair
    inner = wx.text("oSafe", "你好")
    encrypted, signed = wx.encrypted(inner, wx.signed_query())
    assert (await post(safe_client, encrypted, signed)).status_code == 200
    other, other_query = wx.encrypted(wx.text("oSafe", "1"), signed)  # validly signed, same pair
    assert (await post(safe_client, other, other_query)).status_code == 403
    again, again_query = wx.encrypted(inner, signed)  # the same message, encrypted anew
    assert (await post(safe_client, again, again_query)).status_code == 200
    assert [m.text for m in await inbound_rows(app) if m.user_id == USER] == ["你好", "1"]
    assert [m.user_id for m in await inbound_rows(app)].count("oOther") == 0


def test_the_nonce_cache_forgets_pairs_once_their_timestamp_is_out_of_the_window() -> None:
    from bot.channels.wechat_xml import CallbackRefused, NonceCache

    cache = NonceCache(window=300, capacity=3)
    cache.use("1000", "a", b"x", now=1000)
    cache.use("1000", "a", b"x", now=1100)  # the same body: a retry
    with pytest.raises(CallbackRefused):
        cache.use("1000", "a", b"y", now=1200)
    cache.use("1000", "a", b"y", now=1302)  # the timestamp itself is refused by then; no memory needed
    for nonce in "bcd":
        cache.use("1400", nonce, b"x", now=1400)
    assert len(cache) == 3


async def test_three_customers_without_msg_id_each_get_their_own_answer(
    app: TousuApp, client: httpx.AsyncClient
) -> None:
    created = int(time.time())
    customers = ["oAlice", "oBob", "oCarol"]
    for user in customers:  # the same content and second: only the sender differs
        body = wx.xml_message(user, "text", Content="你好", MsgId=None, create_time=created)
        response = await post(client, body)
        assert response.status_code == 200
        assert xmltodict.parse(response.text)["xml"]["ToUserName"] == user
        assert "您好" in wx.reply_content(response.text)
    again = wx.xml_message("oBob", "text", Content="你好", MsgId=None, create_time=created)
    assert xmltodict.parse((await post(client, again)).text)["xml"]["ToUserName"] == "oBob"  # a retry
    for user in customers:  # events without Event, and MsgId 0, are keyed the same way
        await post(client, wx.xml_message(user, "event", create_time=created))
        await post(client, wx.xml_message(user, "text", Content="1", MsgId=0, create_time=created))
    rows = await inbound_rows(app)
    assert sorted((m.user_id, m.text) for m in rows if m.kind == "text") == sorted(
        [(u, "你好") for u in customers] + [(u, "1") for u in customers]
    )
    assert sorted(m.user_id for m in rows if m.kind != "text") == customers
    assert len({m.channel_message_id for m in rows}) == len(rows) == 9


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (wx.text(USER, "你好").encode().replace("你".encode(), b"\xe4\xbd"), "not UTF-8"),
        (wx.xml_message(USER, "text", Content="a", MsgId="12ab").encode(), "MsgId"),
        (wx.xml_message(USER, "text", Content="a", create_time="soon").encode(), "CreateTime"),
        (wx.xml_message(USER, "text", Content="a", create_time=10**40).encode(), "CreateTime"),
        (wx.text(USER, "a").replace("</xml>", "<Content>b</Content></xml>").encode(), "2 times"),
        (wx.xml_message(USER, "text", Content="a", to="gh_other").encode(), "ToUserName"),
        (wx.text(USER, "a").replace(f"<FromUserName><![CDATA[{USER}]]></FromUserName>", "").encode(), "From"),
        (wx.text("", "a").encode(), "From"),
        (
            wx.text(USER, "a")
            .replace("<Content><![CDATA[a]]></Content>", "<Content><b>1</b></Content>")
            .encode(),
            "not text",
        ),
        (wx.text(USER, "a").replace("<MsgType><![CDATA[text]]></MsgType>", "").encode(), "MsgType"),
        (b"<other><Content>a</Content></other>", "no <xml>"),
        (
            wx.xml_message(USER, "event", Event="subscribe")
            .replace("</xml>", "<Info>" + "<a>" * 5000 + "</a>" * 5000 + "</Info></xml>")
            .encode(),
            "too deep",
        ),
    ],
)
async def test_a_malformed_field_is_a_400_with_one_log_line_and_never_stored(
    app: TousuApp, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, body: bytes, reason: str
) -> None:
    caplog.set_level("WARNING", logger="bot.channels.wechat")
    response = await client.post("/wechat/callback", params=wx.signed_query(), content=body)
    assert response.status_code == 400
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and reason in refusals[0]
    assert await inbound_rows(app) == []


async def test_a_file_message_is_not_told_to_send_files(app: TousuApp, client: httpx.AsyncClient) -> None:
    await say(client, "你好")
    body = wx.xml_message(USER, "file", Title="合同.pdf", FileKey="k", FileMd5="m", FileTotalLen=10)
    answer = wx.reply_content((await post(client, body)).text)
    assert "请用文字回复，或发送图片。" in answer and "发送图片、文件" not in answer
    assert "file" not in app.texts.text("engine.unsupported_images_only", "en").split("send")[-1]


def test_a_passive_reply_keeps_cdata_terminators_and_drops_what_xml_forbids() -> None:
    from wechatpy import parse_message

    from bot.channels.wechat_xml import Envelope

    message = parse_message(wx.text(USER, "你好"))
    rendered = Envelope(wx.TOKEN, None, wx.APP_ID).reply(message, "a]]>b<c>&\x01d", {})
    assert wx.reply_content(rendered) == "a]]>b<c>&d"


async def test_a_failed_media_download_is_stored_with_the_failure(
    app: TousuApp, client: httpx.AsyncClient
) -> None:
    await say(client, "你好")
    image = wx.xml_message(USER, "image", PicUrl="http://x/p.jpg", MediaId="GONE")  # unknown to the API
    response = await post(client, image)
    assert response.status_code == 200
    assert "没有收到" in wx.reply_content(response.text)
    voice = wx.xml_message(USER, "voice", Format="amr")  # no MediaId at all
    assert "没有收到" in wx.reply_content((await post(client, voice)).text)
    rows = await inbound_rows(app)
    assert [m.kind for m in rows[1:]] == ["download_failed", "download_failed"]


def test_without_a_configured_account_the_addressee_must_still_look_like_an_id() -> None:
    from bot.channels.wechat_xml import CallbackRefused, check_fields

    fields = {"ToUserName": "gh_x", "FromUserName": USER, "MsgType": "text", "CreateTime": "1"}
    check_fields(fields, None)
    with pytest.raises(CallbackRefused, match="ToUserName"):
        check_fields({**fields, "ToUserName": "gh_]]><x>"}, None)  # it becomes the reply's sender
