"""Answers that are checked (validators, re-asks, the failure offer), the low-confidence
category question, and editing from the summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialogues.engine import EngineOptions
from dialogues.spec import Flow
from dialogues.state import CreateTicket, RequestHandoff
from tests.dialogues.helpers import Chat, FakeNlu, prompt_of
from tests.dialogues.test_engine_keys import at


@pytest.mark.parametrize(
    ("answer", "reason", "stored"),
    [
        ("12345", "手机号格式不正确", None),
        ("010-12345678", "手机号格式不正确", None),
        ("138 0013 8000", None, "13800138000"),
        ("+86 138-0013-8000", None, "13800138000"),
        ("我的电话是13800138000", None, "13800138000"),
        ("１３８００１３８０００", None, "13800138000"),
        ("+852 6123 4567", None, "+85261234567"),
    ],
)
def test_the_phone_is_validated(
    flow: Flow, nlu: FakeNlu, answer: str, reason: str | None, stored: str | None
) -> None:
    chat = at("complaint_outcome", nlu, flow)
    chat.send("1")
    chat.send(answer)
    if reason is None:
        assert chat.state.step == "complaint_confirm"
        assert chat.slots["phone"] == stored
    else:
        assert chat.state.step == "complaint_phone"
        assert chat.text.startswith(reason)
        assert chat.text.endswith(prompt_of(chat).text)
        assert chat.state.failures == 1


@pytest.mark.parametrize(
    ("answer", "stored"),
    [
        ("今天", "2024-11-22"),
        ("昨天", "2024-11-21"),
        ("前天", "2024-11-20"),
        ("上周三", "2024-11-13"),
        ("2024-11-02", "2024-11-02"),
        ("11月20日", "2024-11-20"),
        ("12月25日", "2023-12-25"),
        ("today", "2024-11-22"),
        ("Yesterday", "2024-11-21"),
        ("跳过", None),
        ("1", None),
    ],
)
def test_the_date_is_read_in_local_time(flow: Flow, nlu: FakeNlu, answer: str, stored: str | None) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.send(answer)
    assert chat.state.step == "complaint_where"
    assert chat.slots["when"] == stored


def test_today_is_the_local_day_not_the_utc_one(flow: Flow, nlu: FakeNlu) -> None:
    late_utc = datetime(2024, 11, 21, 20, 30, tzinfo=UTC)  # 04:30 on the 22nd in Shanghai
    chat = Chat(flow, nlu=nlu, now=late_utc)
    chat.run("hi", "1", "刚买的就漏水了", "今天")
    assert chat.slots["when"] == "2024-11-22"
    london = Chat(flow, nlu=nlu, now=late_utc, options=EngineOptions(timezone="Europe/London"))
    london.run("hi", "1", "刚买的就漏水了", "今天")
    assert london.slots["when"] == "2024-11-21"


@pytest.mark.parametrize(("answer", "reason"), [("明天", "没能识别"), ("2099-01-01", "日期不能晚于今天")])
def test_a_bad_date_is_asked_again_with_the_reason(
    flow: Flow, nlu: FakeNlu, answer: str, reason: str
) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.send(answer)
    assert chat.state.step == "complaint_when"
    assert chat.text.startswith(reason)


def test_a_too_short_description_is_asked_again(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_description", nlu, flow)
    chat.send("差")
    assert chat.state.step == "complaint_description"
    assert chat.text.startswith("请再多描述一些（至少 4 个字）")


# ------------------------------------------------------------------------ repeated failure
def test_three_failures_offer_a_person_or_another_try(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_outcome", nlu, flow)
    chat.send("1")
    chat.run("abc", "def")
    assert chat.state.failures == 2
    chat.send("ghi")
    assert chat.text == "抱歉，我还是没弄明白。要再试一次，还是请人工客服来帮您？"
    assert chat.buttons == [
        ("1. 再试一次", "complaint_phone.failed:1"),
        ("0. 人工客服", "complaint_phone.failed:0"),
    ]
    chat.send("1")
    assert chat.state.failures == 0
    assert chat.last.replies == (prompt_of(chat),)
    assert chat.screen == "complaint_phone"


def test_zero_after_repeated_failure_hands_over_with_that_reason(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("greeting", nlu, flow)
    chat.run("x", "y", "z")
    assert chat.screen == "greeting.failed"
    chat.press("0")
    assert chat.last.effects == (RequestHandoff("repeated_failure"),)
    assert chat.state.status == "agent"


def test_a_good_answer_at_the_failure_offer_is_accepted(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.run("x", "y", "z")
    assert chat.screen == "complaint_when.failed"
    chat.send("昨天")
    assert chat.state.step == "complaint_where"
    assert chat.slots["when"] == "2024-11-21"


@pytest.mark.parametrize(
    ("step", "typed", "then"),
    [
        ("complaint_confirm", "确认提交", "ticket"),  # the button's words, typed out
        ("complaint_confirm", "没问题，提交吧", "ticket"),
        ("complaint_confirm", "修改", "complaint_confirm.edit"),
        ("complaint_evidence", "完成", "complaint_outcome"),
        ("complaint_evidence", "没有照片", "complaint_outcome"),
        ("complaint_evidence", "照片等下发", "complaint_evidence"),  # not an answer: asked again
    ],
)
def test_a_button_or_an_answer_in_words_where_no_key_was_typed(
    flow: Flow, nlu: FakeNlu, step: str, typed: str, then: str
) -> None:
    chat = at(step, nlu, flow)
    chat.send(typed)
    if then == "ticket":
        assert isinstance(chat.last.effects[0], CreateTicket)
    else:
        assert chat.screen == then


def test_try_again_typed_at_the_failure_offer_asks_again(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_when", nlu, flow)
    chat.run("x", "y", "z")
    assert chat.screen == "complaint_when.failed"
    chat.send("再试一次")
    assert chat.screen == "complaint_when" and chat.state.failures == 0


def test_max_failures_is_an_option(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu, options=EngineOptions(max_failures=1))
    chat.run("hi", "nonsense")
    assert chat.screen == "greeting.failed"


# ------------------------------------------------------------------------ classification
def test_low_confidence_asks_about_the_best_guess(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_description", nlu, flow)
    chat.send("店员态度很差，还冲我发火")
    assert chat.text == "您反映的问题是否属于「服务态度」？"
    assert chat.buttons == [
        ("1. 是，服务态度", "complaint_category.guess:1"),
        ("2. 不是，是「员工违规」", "complaint_category.guess:2"),
        ("3. 其他类型", "complaint_category.guess:3"),
    ]


@pytest.mark.parametrize(
    ("answers", "category", "source", "confidence"),
    [
        (["1"], "service_attitude", "confirmed", 0.42),
        (["是"], "service_attitude", "confirmed", 0.42),
        (["2"], "staff_misconduct", "confirmed", 0.31),
        (["3", "3"], "delivery", "menu", None),
        (["不是", "员工违规"], "staff_misconduct", "menu", 0.31),
        (["3", "Billing and prices"], "billing", "menu", None),
    ],
)
def test_answering_the_category_question(
    flow: Flow,
    nlu: FakeNlu,
    answers: list[str],
    category: str,
    source: str,
    confidence: float | None,
) -> None:
    chat = at("complaint_description", nlu, flow)
    chat.send("店员态度很差，还冲我发火")
    chat.run(*answers)
    assert chat.state.step == "complaint_when"
    assert (chat.slots["category"], chat.slots["category_source"]) == (category, source)
    assert chat.slots["nlu_confidence"] == confidence


def test_with_the_nlu_down_the_category_menu_comes_at_once(flow: Flow) -> None:
    chat = Chat(flow, nlu=FakeNlu(down=True))
    chat.run("hi", "1", "刚买的就漏水了")
    assert chat.screen == "complaint_category.categories"
    assert chat.text == "请选择最符合您问题的类型："
    assert [label for label, _ in chat.buttons] == [
        "1. 产品质量", "2. 服务态度", "3. 物流配送", "4. 收费与价格", "5. 售后服务",
        "6. 员工违规", "7. 设施环境", "8. 隐私泄露", "9. 安全与人身伤害",
    ]  # fmt: skip
    chat.send("9")
    assert chat.slots["category"] == "safety"
    assert chat.slots["category_source"] == "menu"


def test_an_nlu_that_knows_no_category_leads_to_the_menu(flow: Flow) -> None:
    chat = Chat(flow, nlu=FakeNlu([("热水壶", (("greet", 0.9),))]))
    chat.run("hi", "1", "刚买的就漏水了")
    assert chat.screen == "complaint_category.categories"


def test_the_confidence_threshold_is_an_option(flow: Flow, nlu: FakeNlu) -> None:
    chat = Chat(flow, nlu=nlu, options=EngineOptions(confidence_threshold=0.95))
    chat.run("hi", "1", "刚买的就漏水了")
    assert chat.screen == "complaint_category.guess"


def test_star_from_the_category_question_goes_back_to_the_description(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_description", nlu, flow)
    chat.send("店员态度很差，还冲我发火")
    chat.send("*")
    assert chat.screen == "complaint_description"


# ------------------------------------------------------------------------ nlu intents at menus
def test_intents_at_a_menu_act_like_commands(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("greeting", nlu, flow)
    chat.send("帮我找个人")
    assert chat.last.effects == (RequestHandoff("customer_request"),)
    chat = at("greeting", nlu, flow)
    chat.send("我的单子 2411220007 怎么样了")
    assert chat.last.effects[0].number == "2411220007"  # type: ignore[union-attr]
    chat = at("greeting", nlu, flow)
    chat.send("算了我不想弄了")
    assert chat.state.status == "closed"


# ------------------------------------------------------------------------ editing
def test_edit_one_field_and_return_to_the_summary(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    chat.send("2")
    assert chat.text == "请选择要修改的内容："
    assert chat.buttons[3] == ("4. 地点", "complaint_confirm.edit:4")
    chat.send("4")
    assert chat.state.step == "complaint_where"
    chat.send("上海徐家汇店")
    assert chat.state.step == "complaint_confirm"
    assert "地点：上海徐家汇店" in chat.text
    assert chat.state.pending is None
    chat.send("1")
    ticket = chat.last.effects[0]
    assert isinstance(ticket, CreateTicket)
    assert ticket.fields["where"] == "上海徐家汇店"


def test_edit_the_wish_through_the_other_option(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    chat.run("2", "诉求")
    assert chat.state.step == "complaint_outcome"
    chat.send("6")
    assert chat.state.step == "complaint_outcome_other"  # still the same field
    chat.send("希望上门检测")
    assert chat.state.step == "complaint_confirm"
    assert "诉求：希望上门检测" in chat.text


def test_edit_the_category_shows_the_menu(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    chat.run("修改", "2")
    assert chat.screen == "complaint_category.categories"
    chat.send("5")
    assert chat.state.step == "complaint_confirm"
    assert "问题类型：售后服务" in chat.text
    assert chat.slots["category_source"] == "menu"


def test_edit_the_description_does_not_ask_the_nlu_again(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    asked = len(chat.nlu_texts)
    chat.run("2", "1", "热水壶漏水，而且插头发烫")
    assert chat.state.step == "complaint_confirm"
    assert len(chat.nlu_texts) == asked
    assert chat.slots["category"] == "product_quality"


def test_star_on_the_edit_menu_and_in_an_edit_returns_to_the_summary(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    chat.run("2", "*")
    assert chat.screen == "complaint_confirm"
    chat.run("2", "9", "*")
    assert chat.screen == "complaint_confirm"
    chat.send("1")
    assert isinstance(chat.last.effects[0], CreateTicket)


def test_a_confirm_button_pressed_on_the_edit_menu_is_stale(flow: Flow, nlu: FakeNlu) -> None:
    chat = at("complaint_confirm", nlu, flow)
    chat.send("2")
    chat.send("1. 确认提交", payload="complaint_confirm:1")
    assert chat.screen == "complaint_confirm.edit"
    assert chat.last.effects == ()
    assert chat.text.startswith("那是之前消息里的按钮")
