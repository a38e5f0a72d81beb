"""The category question answered in words (issue 21): on a channel without buttons a customer
who never types a digit writes a sentence there; the NLU reads it like the description."""

from __future__ import annotations

from dialogues import engine
from dialogues.model import Flow
from dialogues.types import ConversationKey, InboundMessage
from tests.dialogues.helpers import NOW, Chat, FakeNlu


def _categories(flow: Flow, nlu: FakeNlu) -> Chat:
    """At the full category list: the description said nothing the NLU could place."""
    chat = Chat(flow, nlu=nlu)
    chat.run("1", "东西有问题，很不满意")
    assert chat.screen == "complaint_category.categories"
    return chat


def _wants(chat: Chat, text: str) -> str | None:
    return engine.wants_nlu(chat.flow, chat.state, InboundMessage(ConversationKey("t", "u"), text, "m", NOW))


def test_a_sentence_at_the_category_list_goes_to_the_nlu_but_keys_and_labels_do_not(
    flow: Flow, nlu: FakeNlu
) -> None:
    chat = _categories(flow, nlu)
    assert _wants(chat, "快递员把箱子摔坏了") == "快递员把箱子摔坏了"
    assert _wants(chat, "物流配送") is None
    assert _wants(chat, "Delivery") is None
    assert _wants(chat, "3") is None


def test_a_sure_category_in_words_is_taken_and_the_intake_goes_on(flow: Flow, nlu: FakeNlu) -> None:
    chat = _categories(flow, nlu)
    chat.send("快递员把箱子摔坏了")
    assert chat.slots["category"] == "delivery" and chat.slots["category_source"] == "nlu"
    assert chat.state.step == "complaint_when"


def test_an_unsure_one_is_asked_back_and_yes_takes_it(flow: Flow, nlu: FakeNlu) -> None:
    chat = _categories(flow, nlu)
    chat.send("他们的态度让人受不了")  # service_attitude 0.42, staff_misconduct 0.31
    assert chat.screen == "complaint_category.guess"
    assert "服务态度" in chat.text
    assert _wants(chat, "是") is None
    chat.send("是")
    assert chat.slots["category"] == "service_attitude" and chat.slots["category_source"] == "confirmed"
    assert chat.state.step == "complaint_when"


def test_a_sentence_at_a_wrong_guess_is_read_again(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu)
    chat.run("1", "店员态度很差，还冲我发火")
    assert chat.screen == "complaint_category.guess"
    assert _wants(chat, "不是，是热水壶漏水") == "不是，是热水壶漏水"
    chat.send("不是，是热水壶漏水")
    assert chat.slots["category"] == "product_quality" and chat.state.step == "complaint_when"


def test_words_that_are_no_category_fail_as_before(flow: Flow, nlu: FakeNlu) -> None:
    chat = _categories(flow, nlu)
    chat.send("随便吧")
    assert chat.screen == "complaint_category.categories"
    assert chat.state.failures == 1
    down = _categories(flow, FakeNlu(down=True))
    down.send("快递员把箱子摔坏了")
    assert down.state.failures == 1 and "category" not in down.slots
