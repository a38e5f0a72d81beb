"""The intake with the real Rasa server: free text picks the category, a low-confidence guess is
confirmed with the customer, and a server that dies mid-conversation leaves the customer with the
category menu and nothing worse."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import TousuApp
from nlu.server import RasaServer
from storage.models import Conversation
from tests.bot.services.test_inbox import joined
from tests.fixtures.rasa import rasa_settings

pytestmark = pytest.mark.rasa

CATEGORY_MENU = "请选择最符合您问题的类型"


async def _app(tmp_path: Path, server: RasaServer, **nlu: object) -> TousuApp:
    settings = rasa_settings(tmp_path, port=server.port, token=server.token)
    if nlu:
        settings = settings.model_copy(update={"nlu": settings.nlu.model_copy(update=nlu)})
    app = TousuApp(settings, channels=[], use_nlu=True, manage_nlu=False)
    await app.start()
    assert app.nlu is not None
    await app.nlu.parse("预热 warm-up")  # a fresh server's first parse can outlast the turn's timeout
    return app


@pytest.fixture
async def nlu_app(tmp_path: Path, rasa_server: RasaServer) -> AsyncIterator[TousuApp]:
    app = await _app(tmp_path, rasa_server)
    try:
        yield app
    finally:
        await app.stop()


async def _slots(app: TousuApp, user: str) -> dict[str, object]:
    conv = await app.db.run(lambda s: s.exec(select(Conversation).where(Conversation.user_id == user)).one())
    return dict(conv.slots)


async def test_free_text_at_the_greeting_is_classified_and_the_intake_moves_on(nlu_app: TousuApp) -> None:
    say = nlu_app.console.say
    assert "您好" in joined(await say(nlu_app.manager, "zh-user", "你好"))
    text = "快递显示已经签收了，但我根本没有收到包裹，已经三天了"
    reply = joined(await say(nlu_app.manager, "zh-user", text))
    assert CATEGORY_MENU not in reply and "什么时候" in reply
    slots = await _slots(nlu_app, "zh-user")
    assert slots["category"] == "delivery" and slots["category_source"] == "nlu"


async def test_an_english_complaint_is_classified_too(nlu_app: TousuApp) -> None:
    say = nlu_app.console.say
    await say(nlu_app.manager, "en-user", "english")
    await say(nlu_app.manager, "en-user", "1")
    reply = joined(await say(nlu_app.manager, "en-user", "I was charged twice for the same order last week"))
    assert "When did it happen" in reply
    slots = await _slots(nlu_app, "en-user")
    assert slots["category"] == "billing" and slots["category_source"] == "nlu"


async def test_below_the_threshold_the_bot_asks_about_its_guess(
    tmp_path: Path, rasa_server: RasaServer
) -> None:
    app = await _app(tmp_path, rasa_server, confidence_threshold=0.999)
    try:
        say = app.console.say
        await say(app.manager, "u", "1")
        replies = await say(app.manager, "u", "空调坏了报修半个月了还没人上门维修")
        assert "是否属于「售后服务」" in joined(replies)
        labels = [b.label for r in replies for b in r.buttons]
        assert any("其他类型" in label for label in labels), labels  # the menu is one key away
        reply = joined(await say(app.manager, "u", "1"))
        assert "什么时候" in reply
        assert (await _slots(app, "u"))["category"] == "after_sales"
    finally:
        await app.stop()


async def test_a_server_killed_mid_conversation_hands_over_to_the_fallback(
    tmp_path: Path, private_rasa_server: RasaServer
) -> None:
    """Rasa dies between two customers: the next description is still understood, by the
    in-process classifier, within the client's timeout; no category menu is needed."""
    app = await _app(tmp_path, private_rasa_server)
    try:
        say = app.console.say
        reply = joined(await say(app.manager, "u", "营业厅的厕所脏得没法进，空调也坏了"))
        assert (await _slots(app, "u"))["category"] == "facilities"
        private_rasa_server.kill()
        await say(app.manager, "v", "1")
        started = time.monotonic()
        reply = joined(await say(app.manager, "v", "快递显示已经签收了，但我根本没有收到包裹"))
        assert time.monotonic() - started < app.settings.nlu.timeout_seconds + 1.0
        assert CATEGORY_MENU not in reply
        assert "什么时候" in reply
        slots = await _slots(app, "v")
        assert slots["category"] == "delivery" and slots["category_source"] != "menu"
    finally:
        await app.stop()


async def test_rasa_reads_what_the_description_says_and_the_intake_skips_it(nlu_app: TousuApp) -> None:
    """Issue 21 item 4 with the real server: Rasa's entities (regexes and lookup tables) fill the
    order number, the amount, the product and the wish, so those questions are not asked."""
    assert nlu_app.nlu is not None
    text = "订单号 88812345 的电热水壶漏水了，花了 ¥200，我要退款"
    parsed = await nlu_app.nlu.parse(text)
    assert parsed is not None
    found = {(e.entity, e.value.strip(" ：:")) for e in parsed.entities}  # "订单号 8…": the space too
    assert {("order_number", "88812345"), ("amount", "¥200"), ("product", "电热水壶")} <= found
    assert ("desired_outcome", "退款") in found
    say = nlu_app.console.say
    await say(nlu_app.manager, "ent", "你好")
    reply = joined(await say(nlu_app.manager, "ent", text))
    assert "我从您的描述中记下了" in reply and "订单号：88812345" in reply and "诉求：退款" in reply
    slots = await _slots(nlu_app, "ent")
    assert (slots["order_number"], slots["amount"], slots["product"]) == ("88812345", "¥200", "电热水壶")
    assert slots["desired_outcome"] == "refund"
    if "什么时候" not in reply:
        reply = joined(await say(nlu_app.manager, "ent", "是的"))
    for answer, next_question in [("昨天", "哪里"), ("朝阳门店", "工作人员"), ("无", "照片")]:
        reply = joined(await say(nlu_app.manager, "ent", answer))
        assert next_question in reply, (answer, reply)
    reply = joined(await say(nlu_app.manager, "ent", "没有"))
    assert "电话" in reply, reply
    # an English description: the place and the staff number come from Rasa's regexes
    english = await nlu_app.nlu.parse("the cashier with staff number 4521 at the Xujiahui store was rude")
    assert english is not None
    assert {("staff", "staff number 4521"), ("place", "Xujiahui store")} <= {
        (e.entity, e.value) for e in english.entities
    }
