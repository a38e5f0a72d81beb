"""A request announced before it is told ("我想投诉一下", "I have a question") picks its path
but is not kept as the description: the bot asks what happened instead (issue 21)."""

from __future__ import annotations

import pytest

from dialogues.inputs import is_bare_request
from dialogues.model import Flow
from tests.dialogues.helpers import Chat, FakeNlu


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("我想投诉一下", True),
        ("你好，我要投诉", True),
        ("我要投诉你们的服务", True),
        ("我想咨询一下", True),
        ("我想提个建议", True),
        ("I want to make a complaint", True),
        ("hello, I have a complaint to make", True),
        ("I have a question", True),
        ("我要投诉你们的门店", False),  # names what it is about
        ("请问几点开门", False),
        ("建议你们开晚一点", False),
        ("I want to complain about the courier", False),
        ("投诉" * 30, False),  # long text is never "bare"
    ],
)
def test_bare_requests_are_told_from_ones_that_say_something(text: str, bare: bool) -> None:
    assert is_bare_request(text) is bare


def test_a_bare_complaint_asks_what_happened(flow: Flow) -> None:
    chat = Chat(flow, nlu=FakeNlu([("投诉", (("complain", 0.9),))]))
    chat.send("你好")
    chat.send("我想投诉一下")
    assert chat.state.step == "complaint_description"
    assert chat.slots["ticket_kind"] == "complaint" and "description" not in chat.slots


def test_a_bare_question_asks_for_the_question(flow: Flow) -> None:
    chat = Chat(flow, nlu=FakeNlu([("咨询", (("consult", 0.9),))]))
    chat.send("你好")
    chat.send("我想咨询一下")
    assert chat.state.step == "consultation_question" and "description" not in chat.slots


def test_a_told_complaint_is_still_kept_as_the_description(flow: Flow) -> None:
    chat = Chat(flow, nlu=FakeNlu([("门店", (("complain", 0.5), ("service_attitude", 0.4)))]))
    chat.send("你好")
    chat.send("我要投诉你们的门店")
    assert chat.slots["description"] == "我要投诉你们的门店"
