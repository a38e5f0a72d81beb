"""Step kinds and engine paths the intake flow does not use: say, choice asks, branches,
handoff and end steps, and states that no longer fit the flow."""

from __future__ import annotations

from dialogues.spec import Flow, parse_flow, validate_flow
from dialogues.state import EndConversation, RequestHandoff
from tests.dialogues.helpers import MESSAGES, Chat, FakeNlu
from tests.dialogues.test_spec import BASE

SHOP = """\
name: shop
start: welcome
steps:
  welcome:
    kind: say
    text: {zh: 欢迎光临, en: Welcome}
    next: channel
  channel:
    kind: ask
    slot: channel
    validator: choice
    optional: true
    choices:
      - {value: store, label: {zh: 门店, en: In a shop}, aliases: [线下]}
      - {value: online, label: {zh: 网上, en: Online}}
    text: {zh: 在哪里购买的？, en: 'Where did you buy it?'}
    next: route
  route:
    kind: branch
    cases:
      - {if: "channel == 'store'", goto: store_note}
      - {if: "channel == 'online'", goto: order}
    default: person
  store_note:
    kind: say
    text: {zh: "已记录：{channel}", en: "Noted: {channel}"}
    next: bye
  order:
    kind: ask
    slot: order
    validator: reference_number
    text: {zh: 订单号？, en: 'Order number?'}
    next: bye
  person:
    kind: handoff
    reason: no_channel
    text: {zh: 请稍候，马上为您转接。, en: 'One moment, passing you to a colleague.'}
  bye:
    kind: end
    reason: done
    text: {zh: "再见 {order}", en: "Bye {order}"}
"""


def shop() -> Flow:
    return parse_flow(SHOP.replace("{order}", ""), source="shop.yaml", messages=MESSAGES)


def test_the_validator_sees_that_order_is_not_set_on_the_store_path() -> None:
    errors = validate_flow(SHOP, source="shop.yaml")
    assert [(e.step, e.field, e.message) for e in errors] == [
        ("bye", "text.zh", "slot 'order' may be used before it is set (path: welcome → channel → route → "
         "store_note → bye)"),
        ("bye", "text.en", "slot 'order' may be used before it is set (path: welcome → channel → route → "
         "store_note → bye)"),
    ]  # fmt: skip


def test_say_steps_chain_into_the_next_question() -> None:
    chat = Chat(shop())
    chat.send("hi")
    assert [r.text for r in chat.last.replies] == ["欢迎光临", "在哪里购买的？"]
    assert chat.buttons == [
        ("1. 门店", "channel:1"),
        ("2. 网上", "channel:2"),
        ("3. 跳过", "channel:3"),
    ]


def test_a_choice_by_key_label_or_alias_then_a_branch() -> None:
    for answer in ["1", "门店", "线下", "in a shop"]:
        chat = Chat(shop())
        chat.run("hi", answer)
        assert chat.slots["channel"] == "store"
        assert [r.text for r in chat.last.replies] == ["已记录：门店", "再见 "]
        assert chat.last.effects == (EndConversation("done"),)


def test_a_choice_that_is_not_one_is_asked_again() -> None:
    chat = Chat(shop())
    chat.run("hi", "电话")
    assert chat.state.step == "channel"
    assert chat.text.startswith("请回复选项前的数字，或选项的名称。")


def test_skipping_a_choice_takes_the_branch_default_to_a_handoff_step() -> None:
    chat = Chat(shop())
    chat.run("hi", "3")
    assert chat.slots["channel"] is None
    assert chat.last.effects == (RequestHandoff("no_channel"),)
    assert chat.text == "请稍候，马上为您转接。"
    assert chat.state.status == "agent"


def test_a_conversation_released_by_its_agent_at_a_handoff_step_starts_again() -> None:
    chat = Chat(shop())
    chat.run("hi", "3")
    chat.state = chat.state.evolve(status="bot")  # what the console does on release
    chat.send("你好")
    assert chat.state.step == "channel"
    assert chat.slots == {}


def test_a_reference_number_is_read_from_a_sentence() -> None:
    chat = Chat(shop())
    chat.run("hi", "2", "订单号是 SO-2024-0001")
    assert chat.slots["order"] == "SO-2024-0001"


def test_a_state_on_a_step_the_flow_no_longer_has_starts_afresh(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.state = chat.state.evolve(step="complaint_mood", slots={"x": 1}, history=("greeting",))
    chat.send("1")
    assert chat.state.step == "complaint_description"
    assert chat.slots == {"ticket_kind": "complaint"}


def test_a_single_category_guess_offers_yes_or_the_menu(flow: Flow) -> None:
    chat = Chat(flow, nlu=FakeNlu([("发票", (("billing", 0.5), ("greet", 0.5)))]))
    chat.run("hi", "1", "发票开错了，金额不对")
    assert chat.buttons == [
        ("1. 是，收费与价格", "complaint_category.guess:1"),
        ("3. 其他类型", "complaint_category.guess:3"),
    ]
    chat.send("2")
    assert chat.screen == "complaint_category.guess"  # there is no 2 here: a failure, asked again
    assert chat.state.failures == 1


def test_a_flow_can_override_engine_messages(nlu: FakeNlu) -> None:
    text = BASE.replace("steps:\n", "messages:\n  stale: {zh: 旧菜单啦, en: Old menu}\nsteps:\n")
    chat = Chat(parse_flow(text, source="demo.yaml", messages=MESSAGES), nlu=nlu)
    chat.send("hi")
    chat.send("", payload="elsewhere:1")
    assert chat.text.startswith("旧菜单啦")
