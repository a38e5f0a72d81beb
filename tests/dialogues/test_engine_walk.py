"""The whole intake, end to end, in both languages: what the customer reads at each step and
what the finished turn hands the manager."""

from __future__ import annotations

import pytest

from dialogues.spec import Flow
from dialogues.state import CreateTicket, EndConversation, ShowProgress
from dialogues.types import Attachment
from tests.dialogues.helpers import Chat, FakeNlu

# (what the customer sends, the step afterwards, a phrase the reply must contain)
ZH_WALK = [
    ("你好", "greeting", "请回复数字选择服务"),
    ("1", "complaint_description", "请描述一下发生了什么"),
    ("我买的电热水壶用了两天就漏水，订单号 A20261120001", "complaint_when", "什么时候"),
    ("昨天下午", "complaint_where", "发生在哪里"),
    ("北京朝阳门店", "complaint_staff", "工作人员"),  # the product was in the description
    ("跳过", "complaint_evidence", "证据"),
    ("2", "complaint_outcome", "怎么处理"),
    ("1", "complaint_phone", "联系电话"),
    ("13800138000", "complaint_confirm", "请核对您的投诉信息"),
]
EN_WALK = [
    ("hello", "greeting", "Reply with a number"),
    ("1", "complaint_description", "tell us what happened"),
    ("The kettle I bought leaks after two days, order A20261120001", "complaint_when", "When did it happen"),
    ("yesterday afternoon", "complaint_where", "Where did it happen"),
    ("Beijing Chaoyang shop", "complaint_staff", "member of staff"),
    ("skip", "complaint_evidence", "photos"),
    ("2", "complaint_outcome", "What would you like us to do"),
    ("1", "complaint_phone", "phone number"),
    ("13800138000", "complaint_confirm", "Please check your complaint"),
]
EXPECTED_SUMMARY = {
    "zh": ["问题类型：产品质量", "时间：2024-11-21 下午", "地点：北京朝阳门店", "涉及人员：未填写",
           "产品/服务：电热水壶", "订单号：A20261120001", "金额：未填写", "证据：无", "诉求：退款",
           "联系电话：13800138000"],
    "en": ["Type: Product quality", "When: 2024-11-21 afternoon", "Where: Beijing Chaoyang shop",
           "Staff involved: not given", "Product/service: kettle", "Order number: A20261120001",
           "Amount: not given", "Evidence: none", "You would like: Refund", "Phone: 13800138000"],
}  # fmt: skip


@pytest.mark.parametrize(("language", "walk"), [("zh", ZH_WALK), ("en", EN_WALK)])
def test_complaint_intake_from_greeting_to_ticket(
    flow: Flow, nlu: FakeNlu, language: str, walk: list[tuple[str, str, str]]
) -> None:
    chat = Chat(flow, language="zh" if language == "zh" else "en", nlu=nlu)
    for text, step, phrase in walk:
        chat.send(text)
        if text == walk[2][0]:  # what the description says is noted in front of the next question
            assert ("订单号：A20261120001" if language == "zh" else "Order number: A20261120001") in chat.text
        assert chat.state.step == step, (text, chat.text)
        assert phrase in chat.text, (text, chat.text)
        assert chat.last.effects == ()
    for line in EXPECTED_SUMMARY[language]:
        assert line in chat.text
    chat.send("1")
    ticket, end = chat.last.effects
    assert isinstance(ticket, CreateTicket)
    assert ticket.kind == "complaint"
    assert ticket.fields == {
        "ticket_kind": "complaint",
        "description": walk[2][0],
        "category": "product_quality",
        "category_source": "nlu",
        "nlu_confidence": 0.93 if language == "zh" else 0.91,
        "when": "2024-11-21 下午" if language == "zh" else "2024-11-21 afternoon",
        "where": walk[4][0],
        "product": "电热水壶" if language == "zh" else "kettle",
        "staff": None,
        "order_number": "A20261120001",
        "amount": None,
        "evidence": [],
        "desired_outcome": "refund",
        "phone": "13800138000",
        "contact_name": None,  # no name written after the number
        "language": language,
    }
    assert end == EndConversation("done")
    assert chat.state.status == "closed"
    assert "{ticket_number}" in chat.text
    assert "{reply_by}" in chat.text


def test_the_description_is_sent_to_the_nlu_and_nothing_else_is(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    for text, _, _ in ZH_WALK:
        chat.send(text)
    chat.send("1")
    assert chat.nlu_texts == ["你好", ZH_WALK[2][0]]


def test_every_button_payload_is_step_and_key_within_telegram_limit(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu, profile={"phone_on_file": "13900001111"})
    payloads: list[str] = []
    for text, _, _ in ZH_WALK:
        chat.send(text)
        payloads += [p for _, p in chat.buttons]
        for label, payload in chat.buttons:
            screen, key = payload.rsplit(":", 1)
            assert screen == chat.screen
            assert label.startswith(f"{key}. ")
    assert payloads
    assert all(len(p.encode()) <= 64 for p in payloads)


def test_the_greeting_offers_the_five_services_and_a_person(flow: Flow) -> None:
    chat = Chat(flow)
    chat.send("hi")
    assert chat.buttons == [
        ("1. 我要投诉", "greeting:1"),
        ("2. 咨询问题", "greeting:2"),
        ("3. 意见建议", "greeting:3"),
        ("4. 查询工单进度", "greeting:4"),
        ("5. 申诉", "greeting:5"),
        ("0. 人工客服", "greeting:0"),
    ]


def test_a_confident_complaint_as_first_message_skips_the_menu(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.send("我要投诉快递员态度差，包裹还被扔在门口")
    assert chat.state.step == "complaint_when"
    assert chat.last.replies[0].text.startswith("您好！已收到您反映的问题")
    assert "什么时候" in chat.text
    assert chat.slots["description"] == "我要投诉快递员态度差，包裹还被扔在门口"
    assert chat.slots["category"] == "delivery"
    assert chat.slots["category_source"] == "nlu"
    assert chat.slots["ticket_kind"] == "complaint"
    assert len(chat.last.replies) == 1  # one message: WeChat's passive reply takes one


def test_free_text_at_the_greeting_jumps_into_the_complaint(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.send("hi")
    chat.send("我要投诉快递员态度差")
    assert chat.state.step == "complaint_when"
    assert chat.slots["category"] == "delivery"
    assert "您好！" not in chat.text  # the short greeting is for first contact only


def test_a_short_request_picks_the_option_but_still_asks_for_the_description(flow: Flow) -> None:
    chat = Chat(flow, nlu=FakeNlu([("投诉", (("delivery", 0.5), ("billing", 0.3)))]))
    chat.send("我要投诉")
    assert chat.state.step == "complaint_description"
    assert "description" not in chat.slots


def test_a_first_message_that_is_not_a_request_gets_the_greeting(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.send("你好")
    assert chat.state.step == "greeting"
    assert chat.state.failures == 0
    assert "您好！已收到" not in chat.text


def test_consultation_records_a_ticket_with_the_phone_on_file(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu, profile={"phone_on_file": "13912345678"})
    chat.run("hi", "2")
    assert chat.state.step == "consultation_question"
    chat.send("你们周末营业吗？")
    assert chat.buttons == [("1. 使用 139****5678", "request_phone:1")]
    chat.press("1")
    ticket, end = chat.last.effects
    assert ticket == CreateTicket(
        "consultation",
        {
            "ticket_kind": "consultation",
            "description": "你们周末营业吗？",
            "phone": "13912345678",
            "contact_name": None,
            "language": "zh",
        },
    )
    assert end == EndConversation("done")
    assert "您的咨询已记录，编号 {ticket_number}" in chat.text


def test_a_suggestion_typed_at_the_greeting_is_recorded_as_one(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu, language="en")
    chat.send("hello")
    chat.send("我有个建议：希望增加夜间配送")
    assert chat.state.step == "request_phone"
    chat.send("+44 20 7946 0958")
    ticket = chat.last.effects[0]
    assert isinstance(ticket, CreateTicket)
    assert ticket.kind == "suggestion"
    assert ticket.fields["description"] == "我有个建议：希望增加夜间配送"
    assert ticket.fields["phone"] == "+442079460958"
    assert "Thank you for your suggestion" in chat.text


def test_progress_option_shows_the_customers_tickets_and_ends(flow: Flow) -> None:
    chat = Chat(flow)
    chat.run("hi", "4")
    assert chat.last.effects == (ShowProgress(None), EndConversation("done"))
    assert chat.state.status == "closed"


def test_after_the_end_the_next_message_starts_afresh(flow: Flow) -> None:
    chat = Chat(flow)
    chat.run("hi", "4")
    chat.send("1")  # a start-menu key right away picks it
    assert chat.state.step == "complaint_description"
    assert chat.state.status == "bot"
    assert chat.slots == {"ticket_kind": "complaint"}


def test_photos_sent_during_the_complaint_reach_the_ticket(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.run("hi", "1", "刚买的就漏水了", "今天")
    chat.send(attachments=(Attachment("photo", "tg:file-1", mime="image/jpeg"),), kind="photo")
    assert chat.state.step == "complaint_where"
    assert "收到 1 个附件（目前共 1 个）" in chat.text
    chat.run("1", "1", "1")
    assert chat.state.step == "complaint_evidence"
    chat.send(attachments=(Attachment("document", "f/receipt.pdf", name="receipt.pdf"),), kind="document")
    assert "共 2 个" in chat.text
    assert chat.buttons == [("1. 完成", "complaint_evidence:1"), ("2. 跳过", "complaint_evidence:2")]
    chat.run("1", "5", "13800138000")
    assert "证据：2 个文件" in chat.text
    chat.send("确认")
    ticket = chat.last.effects[0]
    assert isinstance(ticket, CreateTicket)
    assert ticket.fields["evidence"] == [
        {"kind": "photo", "ref": "tg:file-1", "name": None, "mime": "image/jpeg", "size": None},
        {"kind": "document", "ref": "f/receipt.pdf", "name": "receipt.pdf", "mime": None, "size": None},
    ]
    assert ticket.fields["desired_outcome"] == "compensation"


def test_a_name_after_the_phone_number_is_how_the_customer_is_addressed(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.run("hi", "3", "建议你们周末多开一个收银台")
    assert chat.state.step == "request_phone" and "怎么称呼您" in chat.text
    chat.send("13800138000 王女士")
    (ticket, _end) = chat.last.effects
    assert isinstance(ticket, CreateTicket)
    assert ticket.fields["phone"] == "13800138000" and ticket.fields["contact_name"] == "王女士"
