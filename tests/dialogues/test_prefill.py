"""What the customer already said (issue 21 item 4): a date in the description answers the date
question, so the bot does not ask "这件事发生在什么时候？" after "昨天…"; the confirmation shows the
date and the customer can change it."""

from __future__ import annotations

import time
from datetime import date

import pytest

from dialogues.model import Flow
from dialogues.prefill import date_in
from tests.dialogues.helpers import Chat, FakeNlu

TODAY = date(2024, 11, 22)  # a Friday, the helpers' NOW in Shanghai


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("昨天买的水今天打开有异味", "2024-11-21"),
        ("我上周三买的电热水壶就漏水了", "2024-11-13"),
        ("11月20日送来的水有沉淀", "2024-11-20"),
        ("前天下午快递员把包裹扔在门口", "2024-11-20"),
        ("the parcel was due on Nov 18 and never came", "2024-11-18"),
        ("yesterday your driver was rude to me", "2024-11-21"),
        ("last Wednesday the courier threw it over the fence", "2024-11-20"),
        ("3 days ago I was charged twice", "2024-11-19"),
        ("用了两天就坏了", None),
        ("订单号 A20241120001 的水有问题", None),
        ("我的手机号是13800138000", None),
        ("明天再不处理我就投诉", None),
        ("may I ask why the bill is so high", None),
        ("", None),
    ],
)
def test_a_date_is_found_in_free_text(text: str, found: str | None) -> None:
    assert date_in(text, TODAY) == found


def test_a_long_text_is_searched_only_at_its_start() -> None:
    assert date_in("水" * 600 + "昨天", TODAY) is None
    assert date_in("周" * 5000, TODAY) is None


def _rules() -> FakeNlu:
    return FakeNlu([("漏水", (("product_quality", 0.93),)), ("leaks", (("product_quality", 0.91),))])


def test_a_dated_description_skips_the_date_question_and_the_summary_shows_it(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules())
    chat.run("1", "昨天买的电热水壶今天就漏水了")
    assert chat.slots["when"] == "2024-11-21"
    assert chat.state.step == "complaint_where" and "什么时候" not in chat.text
    chat.run("门店", "电热水壶", "无", "2", "1", "13800138000")
    assert chat.state.step == "complaint_confirm" and "2024-11-21" in chat.text


def test_the_date_can_still_be_changed_from_the_confirmation(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules())
    chat.run("1", "昨天买的电热水壶今天就漏水了", "门店", "电热水壶", "无", "2", "1", "13800138000")
    chat.send("修改")
    chat.send("时间")
    assert chat.state.step == "complaint_when"
    chat.send("前天")
    assert chat.slots["when"] == "2024-11-20" and chat.state.step == "complaint_confirm"


def test_in_english_and_at_the_greeting_too(flow: Flow) -> None:
    chat = Chat(flow, language="en", nlu=_rules())
    chat.send("hello")
    chat.send("the kettle I bought on Nov 18 leaks everywhere")
    assert chat.slots["description"] == "the kettle I bought on Nov 18 leaks everywhere"
    assert chat.slots["when"] == "2024-11-18" and chat.state.step == "complaint_where"


def test_an_undated_description_is_asked_as_before(flow: Flow) -> None:
    chat = Chat(flow, nlu=_rules())
    chat.run("1", "电热水壶用了两天就漏水了")
    assert "when" not in chat.slots and chat.state.step == "complaint_when"


@pytest.mark.parametrize("filler", ["上周", "1月", "1 ", "last ", "nov 1", "周一", "昨"])
def test_dates_are_searched_in_bounded_time(filler: str) -> None:
    started = time.thread_time()
    date_in(filler * (20_000 // len(filler)), TODAY)
    assert time.thread_time() - started < 0.05
