"""The conversation manager, driven through the in-process console channel: push a message,
pop the replies, and check what was stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import Session, col, select

from bot.app import TousuApp
from bot.settings import Settings
from nlu.types import IntentScore, NluResult
from storage.models import Conversation, Customer, Message, Ticket
from tests.conftest import make_settings

COMPLAINT = [
    ("1", "请描述"),
    ("我买的电热水壶用了两天就漏水了，订单号 A20261120001", "类型"),
    ("1", "什么时候"),
    ("昨天", "哪里"),
    ("北京朝阳门店", "工作人员"),  # the product was in the description
    ("1", "照片"),
    ("2", "希望"),
    ("1", "电话"),
    ("13800138000", "核对"),
]


def joined(replies: list[object]) -> str:
    return "\n".join(getattr(r, "text", "") for r in replies)


async def file_complaint(app: TousuApp, user: str) -> str:
    for text, expected in COMPLAINT:
        replies = await app.console.say(app.manager, user, text)
        assert expected in joined(replies), (text, joined(replies))
    done = joined(await app.console.say(app.manager, user, "1"))
    tickets = await app.db.run(lambda s: list(s.exec(select(Ticket).order_by(col(Ticket.id)))))
    number = tickets[-1].number
    assert number in done
    assert "{ticket_number}" not in done and "{reply_by}" not in done
    return number


async def test_whole_complaint_ends_in_a_ticket_with_the_collected_fields(app: TousuApp) -> None:
    number = await file_complaint(app, "alice")
    ticket = await app.db.run(lambda s: s.exec(select(Ticket)).one())
    assert ticket.number == number and len(number) == 10
    assert ticket.kind == "complaint"
    assert ticket.category == "product_quality" and ticket.category_source == "menu"
    assert "漏水" in ticket.description
    assert ticket.contact_phone == "13800138000"
    assert ticket.references == ["A20261120001"]
    assert ticket.details["where"] == "北京朝阳门店"
    assert ticket.channel == "console" and ticket.status == "new"
    # the transcript holds every customer message and every reply, in order
    messages = await app.db.run(lambda s: list(s.exec(select(Message).order_by(col(Message.id)))))
    assert [m.text for m in messages if m.direction == "in"] == [t for t, _ in COMPLAINT] + ["1"]
    assert all(m.processed_at is not None for m in messages)
    await asyncio.sleep(0.1)
    replies = await app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "out"))))
    assert replies and {m.delivery for m in replies} == {"sent"}  # each reply is its own delivery record
    assert all(m.sent_at is not None for m in replies)


async def test_progress_lists_only_the_customers_own_tickets(app: TousuApp) -> None:
    number = await file_complaint(app, "alice")
    mine = joined(await app.console.say(app.manager, "alice", f"进度 {number}"))
    assert number in mine and "已受理" in mine
    theirs = joined(await app.console.say(app.manager, "mallory", f"进度 {number}"))
    assert "未找到" in theirs
    assert "漏水" not in theirs
    listing = joined(await app.console.say(app.manager, "mallory", "进度"))
    assert number not in listing and "暂未查到" in listing


async def test_the_number_given_in_an_intake_is_offered_in_the_next(app: TousuApp) -> None:
    await file_complaint(app, "carol")
    customer = await app.db.run(
        lambda s: s.exec(select(Customer).where(Customer.external_id == "carol")).one()
    )
    assert customer.phone == "13800138000"  # kept on file
    await app.console.say(app.manager, "carol", "/start")
    for text, _expected in COMPLAINT[:-1]:  # up to the phone question again
        replies = await app.console.say(app.manager, "carol", text)
    offered = [b.label for r in replies for b in getattr(r, "buttons", ())]
    assert any("138****8000" in label for label in offered), offered


async def test_duplicate_delivery_is_ignored(app: TousuApp) -> None:
    first = app.console.inbound("bob", "你好", message_id="m-1")
    assert not (await app.manager.handle(first)).duplicate
    assert (await app.manager.handle(first)).duplicate
    stored = await app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "in"))))
    assert len(stored) == 1
    out = await app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "out"))))
    assert len(out) >= 1
    replies_before = len(out)
    assert (await app.manager.handle(app.console.inbound("bob", "你好", message_id="m-1"))).duplicate
    out = await app.db.run(lambda s: list(s.exec(select(Message).where(Message.direction == "out"))))
    assert len(out) == replies_before


async def test_bad_input_gets_a_clear_reply_and_is_stored_intact(app: TousuApp) -> None:
    await app.console.say(app.manager, "eve", "1")  # into the description question
    cases = {
        "": "消息是空的",
        "长" * 20_000: "4000",
        "😡😡😡 水壶爆炸了 🔥🔥 漏电!!!": "类型",
    }
    for text, expected in cases.items():
        replies = await app.console.say(app.manager, "eve", text)
        assert replies, repr(text[:20])
        assert expected in joined(replies), (text[:20], joined(replies))
    await app.console.say(app.manager, "eve2", "1")
    sql = "'; DROP TABLE tickets; -- 我的订单被重复扣款 \x07\x1b[31m"
    replies = await app.console.say(app.manager, "eve2", sql)
    assert "类型" in joined(replies)
    stored = await app.db.run(
        lambda s: [
            m.text for m in s.exec(select(Message).where(Message.direction == "in").order_by(col(Message.id)))
        ]
    )
    assert stored == ["1", *cases, "1", sql]
    tables = await app.db.run(lambda s: s.exec(select(Ticket)).all())
    assert tables == []  # the table is still there and untouched


async def test_human_key_puts_the_conversation_in_the_queue(app: TousuApp) -> None:
    await app.console.say(app.manager, "carol", "你好")
    replies = await app.console.say(app.manager, "carol", "0")
    assert "人工" in joined(replies)
    conv = await app.db.run(lambda s: s.exec(select(Conversation)).one())
    assert conv.status == "agent" and conv.handoff_reason == "customer_request"
    assert conv.waiting_since is not None


async def test_restart_resumes_at_the_same_step(settings: Settings) -> None:
    first = TousuApp(settings, channels=[], use_nlu=False)
    await first.start()
    for text, _ in COMPLAINT[:4]:
        await first.console.say(first.manager, "dave", text)
    await first.stop()
    second = TousuApp(settings, channels=[], use_nlu=False)
    await second.start()
    try:
        replies = joined(await second.console.say(second.manager, "dave", "#"))
        assert "哪里" in replies  # the question the first process was waiting on
        for text, expected in COMPLAINT[4:]:
            assert expected in joined(await second.console.say(second.manager, "dave", text))
        assert "工单" in joined(await second.console.say(second.manager, "dave", "1"))
    finally:
        await second.stop()


async def test_messages_stored_before_a_crash_are_answered_on_start(settings: Settings) -> None:
    first = TousuApp(settings, channels=[], use_nlu=False)
    await first.start()
    await first.console.say(first.manager, "erin", "你好")
    # a message that reached storage but whose turn never ran (the process died)
    stored = await first.manager._store(first.console.inbound("erin", "1", message_id="crash-1"))
    assert stored is not None
    await stored[1]  # its commit
    await first.stop()
    second = TousuApp(settings, channels=[], use_nlu=False)
    await second.start()
    try:
        replies = await second.console.pop("erin", 1, timeout=5)
        assert "请描述" in joined(replies)
        pending = await second.db.run(
            lambda s: s.exec(select(Message).where(col(Message.processed_at).is_(None))).all()
        )
        assert pending == []
    finally:
        await second.stop()


async def test_messages_to_one_conversation_are_processed_in_order(app: TousuApp) -> None:
    await app.console.say(app.manager, "frank", "你好")
    inbound = [app.console.inbound("frank", t) for t in ("1", "我的快递三天都没有送到，电话也打不通", "3")]
    await asyncio.gather(*(app.manager.accept(m) for m in inbound))
    await app.manager.drain()
    conv = await app.db.run(lambda s: s.exec(select(Conversation)).one())
    assert conv.step == "complaint_when"
    assert conv.slots["category"] == "delivery"


class FixedNlu:
    def __init__(self, intent: str, confidence: float) -> None:
        self.result = (intent, confidence)
        self.calls: list[str] = []

    async def parse(self, text: str) -> NluResult:
        self.calls.append(text)
        top = IntentScore(*self.result)
        return NluResult(text=text, intent=top, ranking=(top, IntentScore("after_sales", 0.01)))

    async def aclose(self) -> None:
        return None


async def test_nlu_classifies_the_description(tmp_path: Path) -> None:
    nlu = FixedNlu("delivery", 0.93)
    app = TousuApp(make_settings(tmp_path), channels=[], nlu=nlu)
    await app.start()
    try:
        await app.console.say(app.manager, "gina", "1")
        replies = joined(await app.console.say(app.manager, "gina", "快递员把包裹扔在门口就走了，还丢了一件"))
        assert "什么时候" in replies  # no category menu: the NLU was confident
        assert nlu.calls == ["快递员把包裹扔在门口就走了，还丢了一件"]
        conv = await app.db.run(lambda s: s.exec(select(Conversation)).one())
        assert conv.slots["category"] == "delivery" and conv.slots["category_source"] == "nlu"
    finally:
        await app.stop()


async def test_a_published_flow_change_applies_to_new_conversations_only(app: TousuApp) -> None:
    await app.console.say(app.manager, "old", "你好")
    flows_dir = app.settings.path(app.settings.dialogue.flows_dir)
    text = (
        (flows_dir / "intake.yaml")
        .read_text(encoding="utf-8")
        .replace("您好，这里是客户服务中心", "欢迎光临新版客服")
    )

    def publish(session: Session) -> int:
        from storage.repositories import flows as flow_repo

        return flow_repo.publish(session, name="intake", content=text, author="admin").version

    version = await app.db.run(publish)
    assert version == 2
    assert "您好，这里是客户服务中心" in joined(await app.console.say(app.manager, "old", "#"))
    assert "欢迎光临新版客服" in joined(await app.console.say(app.manager, "new", "你好"))
