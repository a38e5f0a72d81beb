"""``nlu.enabled: false`` (no Rasa server at all) still understands sentences: the built-in
classifier answers free text, as the greeting promises. A WeChat customer (no buttons) who never
types a menu key, only sentences and their phone number, files a complaint through the real
callback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot.app import TousuApp
from bot.domain.catalog import Catalog
from bot.web.server import create_web_app
from nlu.fallback import FallbackNluClient
from storage.models import Ticket
from tests.bot.channels.test_wechat import say, wx_settings
from tests.fakes.wechat_api import FakeWeChat

pytestmark = pytest.mark.timeout(60)
TEXTS = Catalog.load()

# What a customer who reads the question answers, in words (first matching cue wins).
ANSWERS = [
    ("是否属于", "是的"),
    ("核对", "没问题，提交吧"),
    ("电话", "13800138000"),
    ("什么时候", "前天晚上"),
    ("哪里", "朝阳区的家里"),
    ("产品", "一箱玻璃杯"),
    ("工作人员", "不知道是谁送的"),
    ("照片", "没有照片"),
    ("希望", "希望赔偿摔坏的杯子"),
]


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def app(tmp_path: Path, fake: FakeWeChat) -> AsyncIterator[TousuApp]:
    settings = wx_settings(tmp_path, fake)
    assert settings.nlu.enabled is False  # the tests' settings: no Rasa configured
    tousu = TousuApp(settings)  # use_nlu follows the config
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()


async def test_a_wechat_customer_in_sentences_files_a_complaint_with_nlu_off(
    app: TousuApp, fake: FakeWeChat
) -> None:
    assert isinstance(app.nlu, FallbackNluClient)  # the built-in classifier, alone
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://wx") as client:
        greeting = await say(client, "你好")
        assert "1. 我要投诉" in greeting and "描述" in greeting
        reply = await say(client, "快递员把我的包裹直接扔在小区门口，里面的东西都摔坏了")
        said = [reply]
        for _ in range(15):
            tickets = await app.db.run(lambda s: list(s.exec(select(Ticket))))
            if tickets:
                break
            assert TEXTS.text("engine.not_a_choice", "zh") not in reply, said
            assert TEXTS.text("engine.failed_offer", "zh") not in reply, said
            answer = next((a for cue, a in ANSWERS if cue in reply), None)
            assert answer is not None, f"a question the script has no words for: {reply}"
            reply = await say(client, answer)
            said.append(reply)
        else:
            raise AssertionError(f"no ticket after: {said}")
    [ticket] = tickets
    assert ticket.number in reply and ticket.channel == "wechat"
    assert (ticket.kind, ticket.category) == ("complaint", "delivery")
    assert "包裹" in ticket.description
    assert not any(ch.isdigit() for a in ANSWERS if a[1] != "13800138000" for ch in a[1])
