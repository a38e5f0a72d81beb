"""The intake uses what the description already says (issue 21 item 4): the understand step
fills the order number, the amount, the desired outcome, the place, the product and the member
of staff, the flow asks only for what is missing, the customer is told what was noted and can
change it from the confirmation. With the NLU down (or absent) the bot's own reading does it;
with Rasa's entities, those come first."""

from __future__ import annotations

from dialogues.model import Flow
from nlu.types import Entity, IntentScore, NluResult
from tests.dialogues.helpers import Chat, FakeNlu

DESCRIPTION = "订单号 12345 的电热水壶漏水，花了 ¥200，我要退款"


def _rules(down: bool = False) -> FakeNlu:
    return FakeNlu(
        [("漏水", (("product_quality", 0.93),)), ("leak", (("product_quality", 0.91),))], down=down
    )


def test_what_the_description_says_is_not_asked_again(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules())
    chat.run("1", DESCRIPTION)
    assert (chat.slots["order_number"], chat.slots["amount"], chat.slots["desired_outcome"]) == (
        "12345",
        "¥200",
        "refund",
    )
    assert chat.slots["product"] == "电热水壶"
    # told what was noted, in front of the next question (one message)
    assert chat.state.step == "complaint_when"
    assert "我从您的描述中记下了" in chat.text and "订单号：12345" in chat.text and "金额：¥200" in chat.text
    assert "诉求：退款" in chat.text and "什么时候" in chat.text and "refund" not in chat.text
    chat.run("昨天", "北京朝阳门店")
    assert chat.state.step == "complaint_staff"  # the product question is passed over
    chat.run("无", "2")
    assert chat.state.step == "complaint_phone"  # so is "what would you like us to do?"
    chat.send("13800138000")
    assert chat.state.step == "complaint_confirm"
    assert "订单号：12345" in chat.text and "金额：¥200" in chat.text and "诉求：退款" in chat.text
    assert "产品/服务：电热水壶" in chat.text


def test_in_english_at_the_greeting_too(flow: Flow) -> None:
    chat = Chat(flow, language="en", nlu=_rules())
    chat.send("hello")
    chat.send("My kettle leaks. Order number JD2024112000123, I paid $35 and I want a refund")
    assert chat.slots["description"].startswith("My kettle leaks")
    assert "From what you wrote, I have noted" in chat.text
    assert "Order number: JD2024112000123" in chat.text and "Amount: $35" in chat.text
    assert "You would like: Refund" in chat.text
    chat.run("skip", "skip", "no", "2", "13800138000")
    assert chat.state.step == "complaint_confirm"
    assert "Order number: JD2024112000123" in chat.text and "Product/service: kettle" in chat.text


def test_the_noted_values_can_be_corrected_from_the_confirmation(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules())
    chat.run("1", DESCRIPTION, "昨天", "门店", "无", "2", "13800138000")
    assert chat.state.step == "complaint_confirm"
    chat.run("修改", "订单号")
    assert chat.state.step == "complaint_order" and "订单号" in chat.text
    chat.send("A20241120009")
    assert chat.state.step == "complaint_confirm" and "订单号：A20241120009" in chat.text
    chat.run("修改", "金额")
    chat.send("两百五十元")
    assert chat.slots["amount"] == "¥250" and "金额：¥250" in chat.text
    chat.run("修改", "诉求")
    assert chat.state.step == "complaint_outcome"  # asked now: the customer is changing it
    chat.send("2")
    assert chat.slots["desired_outcome"] == "exchange" and "诉求：换货" in chat.text
    chat.send("1")
    created = [e for t in chat.turns for e in t.effects if type(e).__name__ == "CreateTicket"]
    assert created and created[0].fields["order_number"] == "A20241120009"  # type: ignore[attr-defined]
    assert created[0].fields["amount"] == "¥250"  # type: ignore[attr-defined]


def test_an_amount_that_is_not_one_is_refused(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules())
    chat.run("1", DESCRIPTION, "昨天", "门店", "无", "2", "13800138000", "修改", "金额", "很多")
    assert chat.state.step == "complaint_amount" and "没能识别这个金额" in chat.text


def test_with_the_nlu_down_the_bots_own_reading_fills_them(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules(down=True))
    chat.run("1", DESCRIPTION)
    assert chat.slots["order_number"] == "12345" and chat.slots["desired_outcome"] == "refund"
    assert "我从您的描述中记下了" in chat.text and chat.state.step == "complaint_category"


def test_nothing_noted_when_the_description_says_nothing_of_it(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules())
    chat.run("1", "用了两天就漏水了，打电话 13800138000 也没人管")
    assert "记下了" not in chat.text and chat.state.step == "complaint_when"
    assert chat.slots["order_number"] is None and chat.slots["amount"] is None
    chat.run("昨天", "门店", "水壶", "无", "2")
    assert chat.state.step == "complaint_outcome"  # asked, since the customer did not say


def test_rasa_entities_come_first(flow: Flow) -> None:
    """An entity Rasa found (its lookup knows 智能马桶盖, the bot's own list does not) fills the slot."""

    def rasa(text: str) -> NluResult:
        start = text.find("智能马桶盖")
        entities = (
            (Entity("product", "智能马桶盖", start, start + 5, "RegexEntityExtractor"),) if start >= 0 else ()
        )
        entities += (Entity("desired_outcome", "赔偿", None, None, "RegexEntityExtractor"),)
        score = IntentScore("product_quality", 0.95)
        return NluResult(text=text, intent=score, ranking=(score,), entities=entities)

    chat = Chat(flow)
    chat.nlu = rasa
    chat.run("1", "新装的智能马桶盖漏电")
    assert chat.slots["product"] == "智能马桶盖" and chat.slots["desired_outcome"] == "compensation"
    assert "产品/服务：智能马桶盖" in chat.text and "诉求：赔偿" in chat.text
