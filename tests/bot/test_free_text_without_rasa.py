"""With the Rasa server stopped, a customer who only writes sentences (no menu key ever) on a
channel without buttons - the console stands in for WeChat - still files a ticket: the composition
root backs the Rasa client with the in-process classifier (nlu/fallback.py)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import TousuApp
from bot.domain.catalog import Catalog
from dialogues.state import ConversationState
from nlu.fallback import NluWithFallback
from storage.models import Conversation, Ticket
from tests.conftest import make_settings

NOT_UNDERSTOOD = Catalog.load().text("engine.not_a_choice", "zh")


def _dead_url() -> str:
    """A local port nobody listens on: Rasa is stopped."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[TousuApp]:
    settings = make_settings(tmp_path, nlu={"enabled": True, "managed": False, "url": _dead_url()})
    tousu = TousuApp(settings, channels=[])
    await tousu.start()
    try:
        yield tousu
    finally:
        await tousu.stop()


def _text(replies: list[object]) -> str:
    return "\n".join(getattr(r, "text", "") for r in replies)


async def _latest(app: TousuApp) -> Ticket:
    ticket = await app.db.run(lambda s: s.exec(select(Ticket).order_by(col(Ticket.id).desc())).first())
    assert ticket is not None
    return ticket


async def test_a_complaint_in_sentences_only_reaches_a_ticket(app: TousuApp) -> None:
    assert isinstance(app.nlu, NluWithFallback)
    assert not app.console.supports_buttons
    say = app.console.say
    assert "描述" in _text(await say(app.manager, "w", "你好"))
    # The sentence picks the complaint and is kept as its description; the category follows.
    replies = _text(await say(app.manager, "w", "快递员把我的包裹直接扔在小区门口，里面的东西都摔坏了"))
    assert NOT_UNDERSTOOD not in replies
    if "什么时候" not in replies:  # unsure of the category: it asks to confirm, in words
        assert "物流配送" in replies
        replies = _text(await say(app.manager, "w", "是的"))
    assert "什么时候" in replies
    for text, next_question in [
        ("昨天下午", "哪里"),
        ("朝阳区的家里", "产品"),
        ("一箱玻璃杯", "工作人员"),
        ("不知道", "照片"),
        ("没有", "希望"),
        ("希望赔偿摔坏的杯子", "电话"),
    ]:
        replies = _text(await say(app.manager, "w", text))
        assert next_question in replies, (text, replies)
    assert "核对" in _text(await say(app.manager, "w", "13800138000"))  # a phone number is data
    done = _text(await say(app.manager, "w", "确认"))
    ticket = await _latest(app)
    assert ticket.number in done
    assert (ticket.kind, ticket.category) == ("complaint", "delivery")
    assert ticket.category_source in ("nlu", "confirmed")
    assert "包裹" in ticket.description and ticket.desired_outcome == "希望赔偿摔坏的杯子"


async def test_an_unsure_category_is_confirmed_or_corrected_in_words(app: TousuApp) -> None:
    say = app.console.say
    await say(app.manager, "v", "你好")
    asked = _text(await say(app.manager, "v", "买的东西和服务都很差"))
    assert "是否属于" in asked  # unsure: it asks instead of guessing
    assert "什么时候" in _text(await say(app.manager, "v", "不是，是杯子质量太差，一碰就碎"))
    state = await app.db.run(
        lambda s: s.exec(select(Conversation.state).where(Conversation.user_id == "v")).one()
    )
    assert ConversationState.from_json(state).slots["category"] == "product_quality"


async def test_a_complaint_announced_before_it_is_told_asks_what_happened(app: TousuApp) -> None:
    await app.console.say(app.manager, "b", "你好")
    assert "请描述" in _text(await app.console.say(app.manager, "b", "我想投诉一下"))
    await app.console.say(app.manager, "c", "/english")
    assert "what happened" in _text(await app.console.say(app.manager, "c", "I want to make a complaint"))


async def test_a_question_in_english_becomes_a_consultation(app: TousuApp) -> None:
    say = app.console.say
    await say(app.manager, "e", "/english")
    replies = _text(await say(app.manager, "e", "how much does the yearly membership cost"))
    assert "phone" in replies, replies
    done = _text(await say(app.manager, "e", "+44 7700 900123"))
    ticket = await _latest(app)
    assert ticket.number in done
    assert ticket.kind == "consultation" and ticket.description == "how much does the yearly membership cost"


async def test_asking_for_a_person_or_progress_in_words_works(app: TousuApp) -> None:
    say = app.console.say
    await say(app.manager, "p", "你好")
    progress = _text(await say(app.manager, "p", "我上个月投诉的事情到底处理得怎么样了"))
    assert NOT_UNDERSTOOD not in progress and "工单" in progress, progress
    handoff = _text(await say(app.manager, "h", "我不想跟机器说话，帮我找个真人客服"))
    assert "人工客服" in handoff
    status = await app.db.run(
        lambda s: s.exec(select(Conversation.status).where(Conversation.user_id == "h")).one()
    )
    assert status == "agent"


async def test_what_the_description_says_is_noted_and_not_asked_with_rasa_stopped(app: TousuApp) -> None:
    """Issue 21 item 4: the order number, the amount and the wish in the description fill their
    questions (the bot's own reader), the customer is told what was noted, and the summary shows it."""
    say = app.console.say
    await say(app.manager, "d", "你好")
    replies = _text(await say(app.manager, "d", "订单号 88812345 的快递一直没送到，运费花了 ¥20，我要退款"))
    assert "我从您的描述中记下了" in replies and "订单号：88812345" in replies
    assert "金额：¥20" in replies and "诉求：退款" in replies
    if "什么时候" not in replies:
        replies = _text(await say(app.manager, "d", "是的"))
    assert "什么时候" in replies
    for text, next_question in [
        ("昨天", "哪里"),
        ("家门口", "产品"),
        ("快递", "工作人员"),
        ("不知道", "照片"),
    ]:
        replies = _text(await say(app.manager, "d", text))
        assert next_question in replies, (text, replies)
    replies = _text(await say(app.manager, "d", "没有"))
    assert "电话" in replies and "希望" not in replies  # the wish was in the description
    summary = _text(await say(app.manager, "d", "13800138000"))
    assert "订单号：88812345" in summary and "金额：¥20" in summary and "诉求：退款" in summary
    await say(app.manager, "d", "确认")
    ticket = await _latest(app)
    assert ticket.desired_outcome == "refund" and ticket.references[0] == "88812345"
    assert (ticket.details["order_number"], ticket.details["amount"]) == ("88812345", "¥20")
