"""Odd inbound messages: empty, huge, control characters, emoji, SQL-looking text, attachments,
stickers and platform events, plus what ``wants_nlu`` asks for in each case."""

from __future__ import annotations

import pytest

from dialogues import engine
from dialogues.engine import EngineOptions
from dialogues.spec import Flow
from dialogues.state import ConversationState
from dialogues.types import Attachment, ConversationKey, InboundMessage
from tests.dialogues.helpers import NOW, Chat, FakeNlu, prompt_of
from tests.dialogues.test_engine_keys import at

PHOTO = Attachment("photo", "tg:AgAD-1", mime="image/jpeg", size=52_000)


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\x00\x07", "\u200b"])
def test_an_empty_message_is_explained_and_the_prompt_repeated(flow: Flow, nlu: FakeNlu, text: str) -> None:
    chat = at("complaint_when", nlu, flow)
    before = chat.state
    chat.send(text)
    assert chat.state == before
    (reply,) = chat.last.replies
    assert reply.text == "您发送的消息是空的，请输入文字内容。\n\n" + prompt_of(chat).text
    assert chat.nlu_texts[-1] != text


def test_an_empty_first_message_gets_the_greeting(flow: Flow) -> None:
    chat = Chat(flow)
    chat.send("")
    assert chat.state.step == "greeting"
    assert "空的" not in chat.text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_20000_character_message_is_refused_with_the_limit(flow: Flow, nlu: FakeNlu, language: str) -> None:
    chat = at("complaint_description", nlu, flow)
    if language == "en":
        chat.send("English")
    before = chat.state
    chat.send("投" * 20_000)
    assert chat.state == before
    assert "4000" in chat.text
    assert chat.text.endswith(prompt_of(chat).text)
    assert "投" * 20 not in "".join(chat.nlu_texts[-1:])


def test_the_length_limit_is_an_option_and_counts_characters(flow: Flow, nlu: FakeNlu) -> None:
    options = EngineOptions(max_text_length=10)
    chat = Chat(flow, nlu=nlu, options=options)
    chat.run("hi", "1")
    chat.send("漏" * 11)
    assert "10" in chat.text
    assert chat.state.step == "complaint_description"
    chat.send("漏" * 10)
    assert chat.state.step != "complaint_description"


def test_control_characters_are_dropped_before_reading(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.send("hi")
    chat.send("1\x00")
    assert chat.state.step == "complaint_description"
    chat.send("热水壶\x1b[31m漏水\u202e了\r\n第二行")
    assert chat.slots["description"] == "热水壶[31m漏水了\n第二行"


def test_emoji_are_kept_as_text(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_description", nlu, flow)
    text = "热水壶漏水😡😡，全家👨‍👩‍👧都被烫到了🙏🏻"
    chat.send(text)
    assert chat.slots["description"] == text
    assert chat.nlu_texts[-1] == text


@pytest.mark.parametrize(
    "text", ["'; DROP TABLE tickets; --", "1 OR 1=1", "Robert'); DELETE FROM customers;--", "{ticket_number}"]
)
def test_sql_and_markup_looking_text_is_only_text(flow: Flow, nlu: FakeNlu, text: str) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.run("1", text)
    assert chat.state.step == "complaint_product"
    assert chat.slots["where"] == text


def test_braces_in_customer_text_do_not_break_the_summary(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_description", nlu, flow)
    chat.send("热水壶漏水 {description} {0} }{")
    chat.run("1", "1", "1", "1", "2", "1", "13800138000")
    assert "经过：热水壶漏水 {description} {0} }{" in chat.text


def test_an_attachment_at_the_greeting_is_not_taken(flow: Flow) -> None:
    chat = Chat(flow)
    chat.send("hi")
    chat.send(attachments=(PHOTO,), kind="photo")
    assert chat.text.startswith("图片和文件只能在登记投诉时接收。")
    assert chat.text.endswith(prompt_of(chat).text)
    assert "evidence" not in chat.slots


def test_an_attachment_as_first_message_gets_the_greeting(flow: Flow) -> None:
    chat = Chat(flow)
    chat.send(attachments=(PHOTO,), kind="photo")
    assert chat.state.step == "greeting"
    assert chat.text.startswith("图片和文件只能在登记投诉时接收。")


def test_a_photo_with_a_caption_is_evidence_and_an_answer(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_description", nlu, flow)
    chat.send("热水壶漏水了，看图", attachments=(PHOTO, PHOTO), kind="photo")
    assert chat.last.replies[0].text == "收到 2 个附件（目前共 2 个），会附在您的投诉里。"
    assert chat.state.step == "complaint_when"
    assert chat.slots["description"] == "热水壶漏水了，看图"
    assert len(chat.slots["evidence"]) == 2  # type: ignore[arg-type]


def test_attachments_outside_a_complaint_are_refused(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.run("hi", "2")
    chat.send(attachments=(PHOTO,), kind="photo")
    assert chat.text.startswith("图片和文件只能在登记投诉时接收。")
    assert "evidence" not in chat.slots


@pytest.mark.parametrize("kind", ["unsupported"])
def test_a_sticker_is_explained_politely(flow: Flow, nlu: FakeNlu, kind: str) -> None:
    chat = at("complaint_when", nlu, flow)
    before = chat.state
    chat.send("", kind=kind)
    assert chat.state == before
    assert chat.text.startswith("抱歉，暂时无法识别这类消息")
    assert chat.text.endswith(prompt_of(chat).text)


def test_a_file_over_the_size_limit_is_explained_and_loses_nothing(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_when", nlu, flow)
    before = chat.state
    chat.send("", kind="too_large")
    assert chat.state == before
    assert chat.text.startswith("抱歉，这个文件太大")
    assert chat.text.endswith(prompt_of(chat).text)


def test_a_platform_event_greets_a_newcomer_and_is_otherwise_silent(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.send("subscribe", kind="event")
    assert chat.state.step == "greeting"
    chat.send("1")
    turn = chat.send("subscribe", kind="event")
    assert turn.replies == ()
    assert chat.state.step == "complaint_description"


def test_full_width_keys_work(flow: Flow) -> None:
    chat = Chat(flow)
    chat.run("hi", "３")
    assert chat.state.step == "suggestion_text"


def test_a_menu_label_typed_picks_it(flow: Flow) -> None:
    chat = Chat(flow)
    chat.run("hi", "咨询问题")
    assert chat.state.step == "consultation_question"
    chat = Chat(flow, language="en")
    chat.run("hi", "ask a question")
    assert chat.state.step == "consultation_question"


def test_the_engine_is_deterministic_and_leaves_its_input_alone(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    state = chat.state
    frozen = state.to_json()
    inbound = InboundMessage(ConversationKey("t", "u"), "2", "m1", NOW)
    first = engine.step(flow, state, inbound, None, NOW)
    second = engine.step(flow, state, inbound, None, NOW)
    assert first == second
    assert state.to_json() == frozen


# ------------------------------------------------------------------------ wants_nlu
def _wants(flow: Flow, state: ConversationState, text: str, **kw: object) -> str | None:
    inbound = InboundMessage(ConversationKey("t", "u"), text, "m", NOW, **kw)  # type: ignore[arg-type]
    return engine.wants_nlu(flow, state, inbound)


@pytest.mark.parametrize(
    ("step", "text", "wanted"),
    [
        (None, "我要投诉快递员", "我要投诉快递员"),
        (None, "  我要投诉\x00快递员 ", "我要投诉快递员"),
        (None, "1", None),
        (None, "我要投诉", None),  # the label of option 1
        (None, "重新开始", None),
        ("greeting", "快递员很凶", "快递员很凶"),
        ("greeting", "2", None),
        ("greeting", "咨询问题", None),
        ("greeting", "#", None),
        ("greeting", "", None),
        ("greeting", "人工", None),
        ("complaint_description", "热水壶漏水了", "热水壶漏水了"),
        ("complaint_description", "*", None),
        ("complaint_when", "昨天", None),
        ("complaint_outcome", "我想要退钱", None),  # free text is the answer there
        ("complaint_confirm", "1", None),
    ],
)
def test_wants_nlu(flow: Flow, nlu: FakeNlu, step: str | None, text: str, wanted: str | None) -> None:
    state = Chat(flow).state if step is None else at(step, nlu, flow).state
    assert _wants(flow, state, text) == wanted


def test_wants_nlu_is_none_for_buttons_long_text_agents_and_sub_questions(flow: Flow, nlu: FakeNlu) -> None:
    state = at("greeting", nlu, flow).state
    assert _wants(flow, state, "快递员很凶", payload="greeting:1") is None
    assert _wants(flow, state, "快" * 4001) is None
    assert _wants(flow, state.evolve(status="agent"), "快递员很凶") is None
    guess = at("complaint_description", nlu, flow)
    guess.send("店员态度很差，还冲我发火")
    assert guess.screen == "complaint_category.guess"
    assert _wants(flow, guess.state, "服务态度") is None
