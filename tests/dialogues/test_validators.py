"""Answer validators, table-driven; today is Friday 2024-11-22."""

from __future__ import annotations

from datetime import date

import pytest

from dialogues.validators import VALIDATORS, AnswerContext, Invalid, Valid

TODAY = date(2024, 11, 22)
CTX = AnswerContext(today=TODAY)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("今天", "2024-11-22"),
        ("今日", "2024-11-22"),
        ("昨天", "2024-11-21"),
        ("昨天下午三点", "2024-11-21 下午三点"),
        ("前天", "2024-11-20"),
        ("大前天", "2024-11-19"),
        ("3天前", "2024-11-19"),
        ("上周一", "2024-11-11"),
        ("上周日", "2024-11-17"),
        ("上星期三", "2024-11-13"),
        ("上个礼拜五", "2024-11-15"),
        ("周三", "2024-11-20"),
        ("星期六", "2024-11-16"),  # the latest Saturday, not tomorrow
        ("本周一", "2024-11-18"),
        ("2024-11-20", "2024-11-20"),
        ("2024/11/20", "2024-11-20"),
        ("2024年11月20日", "2024-11-20"),
        ("11月20日", "2024-11-20"),
        ("11月20号", "2024-11-20"),
        ("１１月２０日", "2024-11-20"),
        ("12月25日", "2023-12-25"),  # no year and still to come this year: last year
        ("today", "2024-11-22"),
        ("Yesterday", "2024-11-21"),
        ("yesterday evening", "2024-11-21 evening"),
        ("the day before yesterday", "2024-11-20"),
        ("2 days ago", "2024-11-20"),
        ("last Monday", "2024-11-18"),
        ("last friday", "2024-11-15"),
        ("on Wednesday", "2024-11-20"),
        ("Nov 20", "2024-11-20"),
        ("November 20th, 2023", "2023-11-20"),
        ("20 Nov", "2024-11-20"),
    ],
)
def test_dates_that_are_understood(text: str, value: str) -> None:
    assert VALIDATORS["date"](text, CTX) == Valid(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("明天", "invalid_date"),
        ("不记得", "invalid_date"),
        ("sun was hot", "invalid_date"),
        ("2024-02-30", "invalid_date"),
        ("13月1日", "invalid_date"),
        ("2099-01-01", "future_date"),
        ("本周六", "future_date"),
        ("", "invalid_date"),
    ],
)
def test_dates_that_are_not(text: str, reason: str) -> None:
    assert VALIDATORS["date"](text, CTX) == Invalid(reason)


def test_feb_29_without_a_year_falls_back_to_the_last_leap_day() -> None:
    ctx = AnswerContext(today=date(2025, 3, 1))
    assert VALIDATORS["date"]("2月29日", ctx) == Invalid("invalid_date")
    assert VALIDATORS["date"]("2月28日", ctx) == Valid("2025-02-28")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("0086 138 0013 8000", "13800138000"),
        ("86-13800138000", "13800138000"),
        ("（138）00138000", "13800138000"),
        ("手机：13800138000，白天都在", "13800138000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phones_accepted(text: str, value: str) -> None:
    assert VALIDATORS["phone"](text, CTX) == Valid(value)


@pytest.mark.parametrize(
    "text",
    [
        "12800138000",
        "1380013800",
        "138001380001",
        "010-12345678",
        "+123",
        "电话",
        "",
        "13800138000 或 13900139000",
    ],
)
def test_phones_rejected(text: str) -> None:
    assert VALIDATORS["phone"](text, CTX) == Invalid("invalid_phone")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("A20261120001", "A20261120001"),
        ("订单号：SO-2024-0001 谢谢", "SO-2024-0001"),
        ("１２３４５", "12345"),
    ],
)
def test_reference_numbers(text: str, value: str) -> None:
    assert VALIDATORS["reference_number"](text, CTX) == Valid(value)


@pytest.mark.parametrize("text", ["abc", "订单", "A1", "----"])
def test_reference_numbers_rejected(text: str) -> None:
    assert VALIDATORS["reference_number"](text, CTX) == Invalid("invalid_reference")


def test_text_length_and_blank() -> None:
    ctx = AnswerContext(today=TODAY, min_length=4)
    assert VALIDATORS["text"]("  漏水了啊  ", ctx) == Valid("漏水了啊")
    assert VALIDATORS["text"]("漏水", ctx) == Invalid("too_short", (("min", "4"),))
    assert VALIDATORS["text"]("   ", ctx) == Invalid("invalid_text")


def test_choice_by_value_label_or_alias() -> None:
    ctx = AnswerContext(
        today=TODAY, choices=(("store", ("门店", "Store", "线下")), ("online", ("网上", "Online")))
    )
    assert VALIDATORS["choice"]("门店", ctx) == Valid("store")
    assert VALIDATORS["choice"]("ONLINE", ctx) == Valid("online")
    assert VALIDATORS["choice"]("线下", ctx) == Valid("store")
    assert VALIDATORS["choice"]("电话", ctx) == Invalid("invalid_choice")


@pytest.mark.parametrize(
    ("text", "value", "rest"),
    [
        ("13800138000 王女士", "13800138000", "王女士"),
        ("13800138000，我叫李明", "13800138000", "李明"),
        ("+447700900123 my name is Ann Smith", "+447700900123", "Ann Smith"),
        ("13800138000。", "13800138000", None),
    ],
)
def test_a_name_after_the_number_is_the_rest(text: str, value: str, rest: str | None) -> None:
    assert VALIDATORS["phone"](text, CTX) == Valid(value, rest=rest)
