"""The keypad (# * 0 and digits), stale buttons and the global commands, at several steps."""

from __future__ import annotations

import pytest

from dialogues.spec import Flow
from dialogues.state import EndConversation, RequestHandoff, ShowProgress
from tests.dialogues.helpers import Chat, FakeNlu, prompt_of

# Messages that bring a fresh conversation to a step (the NLU is confident about 漏水).
TO_STEP: dict[str, list[str]] = {
    "greeting": ["hi"],
    "complaint_description": ["hi", "1"],
    "complaint_when": ["hi", "1", "刚买的就漏水了"],
    "complaint_evidence": ["hi", "1", "刚买的就漏水了", "1", "1", "1", "1"],
    "complaint_outcome": ["hi", "1", "刚买的就漏水了", "1", "1", "1", "1", "2"],
    "complaint_confirm": ["hi", "1", "刚买的就漏水了", "1", "1", "1", "1", "2", "1", "13800138000"],
}


def at(step: str, nlu: FakeNlu, flow: Flow, **kwargs: object) -> Chat:
    chat = Chat(flow, nlu=nlu, **kwargs)  # type: ignore[arg-type]
    chat.run(*TO_STEP[step])
    assert chat.state.step == step
    return chat


@pytest.mark.parametrize("step", list(TO_STEP))
@pytest.mark.parametrize("key", ["#", "＃"])
def test_hash_repeats_the_current_prompt(flow: Flow, nlu: FakeNlu, step: str, key: str) -> None:
    chat = at(step, nlu, flow)
    before = chat.state
    chat.send(key)
    assert chat.last.replies == (prompt_of(chat),)
    assert chat.state == before


@pytest.mark.parametrize(
    ("step", "back_to"),
    [
        ("greeting", "greeting"),  # the first step: * just repeats
        ("complaint_description", "greeting"),
        ("complaint_when", "complaint_description"),  # the confident classify is not a stop
        ("complaint_outcome", "complaint_evidence"),
        ("complaint_confirm", "complaint_phone"),
    ],
)
def test_star_goes_back_one_step(flow: Flow, nlu: FakeNlu, step: str, back_to: str) -> None:
    chat = at(step, nlu, flow)
    chat.send("*")
    assert chat.state.step == back_to
    assert chat.last.replies == (prompt_of(chat),)


def test_star_twice_walks_back_two_steps_and_forward_again(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_outcome", nlu, flow)
    chat.run("*", "*")
    assert chat.state.step == "complaint_staff"
    chat.send("店员小王")
    assert chat.state.step == "complaint_evidence"
    assert chat.slots["staff"] == "店员小王"


@pytest.mark.parametrize("step", list(TO_STEP))
@pytest.mark.parametrize("text", ["0", "０", "人工", "转人工", "human", "/human"])
def test_zero_and_human_ask_for_a_person_anywhere(flow: Flow, nlu: FakeNlu, step: str, text: str) -> None:
    chat = at(step, nlu, flow)
    chat.send(text)
    assert chat.last.effects == (RequestHandoff("customer_request"),)
    assert chat.state.status == "agent"
    assert "人工客服" in chat.text


def test_while_waiting_for_a_person_the_bot_is_quiet(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.send("0")
    for text in ["hello?", "1", "*", "0", "帮助", "English", "进度"]:
        turn = chat.send(text)
        assert turn.replies == ()
        assert turn.effects == ()
        assert chat.state.status == "agent"


def test_show_again_while_waiting_for_a_person_says_what_is_happening(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.send("0")
    for turn in (chat.send("#"), chat.send("1. 跳过", payload="complaint_when:1")):
        (reply,) = turn.replies
        assert reply.text.startswith("好的，正在为您转接人工客服") and not reply.buttons
        assert turn.effects == () and chat.state.status == "agent"


@pytest.mark.parametrize("text", ["重新开始", "/start", "restart"])
def test_restart_returns_a_waiting_conversation_to_the_bot(flow: Flow, nlu: FakeNlu, text: str) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.send("0")
    chat.send(text)
    assert chat.state.status == "bot"
    assert chat.state.step == "greeting"
    assert chat.slots == {}


def test_cancel_ends_a_waiting_conversation(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.send("0")
    chat.send("取消")
    assert chat.last.effects == (EndConversation("cancelled"),)
    assert chat.state.status == "closed"


def test_the_greeting_zero_button_asks_for_a_person(flow: Flow) -> None:
    chat = Chat(flow)
    chat.send("hi")
    chat.press("0")
    assert chat.last.effects == (RequestHandoff("customer_request"),)


def test_a_typed_digit_equals_pressing_the_button(flow: Flow, nlu: FakeNlu) -> None:
    typed = at("complaint_outcome", nlu, flow)
    pressed = at("complaint_outcome", nlu, flow)
    typed.send("3")
    pressed.press("3")
    assert typed.last == pressed.last
    assert typed.slots["desired_outcome"] == "repair"


@pytest.mark.parametrize("payload", ["greeting:1", "complaint_when:1", "nonsense", "greeting:9"])
def test_a_stale_button_is_not_misread(flow: Flow, nlu: FakeNlu, payload: str) -> None:
    chat = at("complaint_outcome", nlu, flow)
    before = chat.state
    chat.send("1. 我要投诉", payload=payload)
    assert chat.state == before
    (reply,) = chat.last.replies
    assert reply.text.startswith("那是之前消息里的按钮")
    assert reply.buttons == prompt_of(chat).buttons


def test_an_old_greeting_button_after_the_end_opens_that_option(flow: Flow) -> None:
    chat = Chat(flow)
    chat.run("hi", "4")
    chat.send("1. 我要投诉", payload="greeting:1")
    assert chat.state.step == "complaint_description"


def test_a_button_of_another_step_at_first_contact_gets_the_greeting(flow: Flow) -> None:
    chat = Chat(flow)
    chat.send("", payload="complaint_confirm:1")
    assert chat.state.step == "greeting"
    assert chat.last.effects == ()
    assert chat.text.startswith("那是之前消息里的按钮")


def test_a_digit_that_is_not_an_option_counts_as_a_failure(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_outcome", nlu, flow)
    chat.send("8")
    assert chat.state.failures == 0  # free text at this menu is the customer's own wish
    assert chat.slots["desired_outcome"] == "8"
    chat = at("greeting", nlu, flow)
    chat.send("8")
    assert chat.state.failures == 1
    assert chat.text.startswith("抱歉，没太明白。请回复下面选项前的数字")


# ------------------------------------------------------------------------ global commands
@pytest.mark.parametrize("step", ["greeting", "complaint_when", "complaint_confirm"])
@pytest.mark.parametrize("text", ["重新开始", "重来", "restart", "/start", "/start@TousuBot"])
def test_restart_anywhere(flow: Flow, nlu: FakeNlu, step: str, text: str) -> None:
    chat = at(step, nlu, flow)
    chat.send(text)
    assert chat.state.step == "greeting"
    assert chat.slots == {}
    assert chat.state.history == ()
    assert chat.last.effects == ()


@pytest.mark.parametrize("step", ["greeting", "complaint_when", "complaint_confirm"])
@pytest.mark.parametrize("text", ["取消", "cancel", "/cancel", "Cancel."])
def test_cancel_anywhere(flow: Flow, nlu: FakeNlu, step: str, text: str) -> None:
    chat = at(step, nlu, flow)
    chat.send(text)
    assert chat.last.effects == (EndConversation("cancelled"),)
    assert chat.state.status == "closed"
    assert chat.text == "已取消本次服务。如需帮助，随时给我们发消息。"


@pytest.mark.parametrize("step", ["greeting", "complaint_when", "complaint_confirm"])
@pytest.mark.parametrize("text", ["帮助", "help", "/help", "?", "？"])
def test_help_anywhere_explains_and_repeats(flow: Flow, nlu: FakeNlu, step: str, text: str) -> None:
    chat = at(step, nlu, flow)
    before = chat.state
    chat.send(text)
    assert chat.state == before
    (reply,) = chat.last.replies
    assert reply.text.startswith("使用说明")
    assert reply.text.endswith(prompt_of(chat).text)
    assert reply.buttons == prompt_of(chat).buttons


@pytest.mark.parametrize("step", ["greeting", "complaint_when", "complaint_confirm"])
@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("进度", None),
        ("查询进度", None),
        ("progress", None),
        ("/status", None),
        ("进度 2411220003", "2411220003"),
        ("查询进度：2411220003", "2411220003"),
        ("/status 2411220003", "2411220003"),
    ],
)
def test_progress_anywhere(flow: Flow, nlu: FakeNlu, step: str, text: str, number: str | None) -> None:
    chat = at(step, nlu, flow)
    before = chat.state
    chat.send(text)
    assert chat.last.effects == (ShowProgress(number),)
    assert chat.state == before  # the manager puts the list before the repeated prompt
    assert chat.last.replies == (prompt_of(chat),)


def test_progress_at_first_contact_then_the_greeting(flow: Flow) -> None:
    chat = Chat(flow)
    chat.send("进度")
    assert chat.last.effects == (ShowProgress(None),)
    assert chat.state.step == "greeting"
    assert chat.last.replies == ()  # the manager's ticket list is the answer, not the menu again


@pytest.mark.parametrize("step", ["greeting", "complaint_when", "complaint_confirm"])
def test_language_switches_both_ways(flow: Flow, nlu: FakeNlu, step: str) -> None:
    chat = at(step, nlu, flow)
    chat.send("English")
    assert chat.state.language == "en"
    assert chat.state.step == step
    assert chat.text.startswith("Switched to English.")
    assert chat.last.replies[-1].text.endswith(prompt_of(chat).text)
    chat.send("中文")
    assert chat.state.language == "zh"
    assert chat.text.startswith("已切换为中文。")
    chat.send("/lang")
    assert chat.state.language == "en"
    chat.send("语言")
    assert chat.state.language == "zh"


def test_the_summary_follows_the_language(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    chat.send("language")
    assert "Type: Product quality" in chat.text
    assert "You would like: Refund" in chat.text
    assert chat.buttons == [("1. Confirm", "complaint_confirm:1"), ("2. Edit", "complaint_confirm:2")]
