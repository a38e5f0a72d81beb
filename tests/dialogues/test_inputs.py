from __future__ import annotations

import pytest

from dialogues import inputs
from dialogues.inputs import Command, as_key, clean, fold, parse_command, ticket_number_in


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("重新开始", Command("restart")),
        ("/START", Command("restart")),
        ("/start@tousu_bot", Command("restart")),
        ("取消！", Command("cancel")),
        ("？", Command("help")),
        ("查询进度", Command("progress")),
        ("进度 2411220001", Command("progress", "2411220001")),
        ("progress: a2411220001", Command("progress", "A2411220001")),
        ("０", Command("human")),
        ("转人工", Command("human")),
        ("English", Command("language", "en")),
        ("中文", Command("language", "zh")),
        ("/lang", Command("language")),
        # natural phrases, both languages
        ("English please", Command("language", "en")),
        ("English, please!", Command("language", "en")),
        ("请说英文", Command("language", "en")),
        ("说中文", Command("language", "zh")),
        ("Chinese please", Command("language", "zh")),
        ("talk to a person", Command("human")),
        ("找人工", Command("human")),
        ("Start again", Command("restart")),
        ("check my ticket", Command("progress")),
        ("我的工单", Command("progress")),
        ("How does this work?", Command("help")),
        ("我想取消订单", None),
        ("1", None),
        ("进度条坏了", None),
    ],
)
def test_parse_command(text: str, command: Command | None) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "key"),
    [("1", "1"), ("１", "1"), ("1.", "1"), (" 2、", "2"), ("＃", "#"), ("*", "*"), ("12", "12"),
     ("123", None), ("1a", None), ("", None)],
)  # fmt: skip
def test_as_key(text: str, key: str | None) -> None:
    assert as_key(text) == key


LONG = "投诉 ＡＢＣ１２３ Order " * 8  # longer than the texts fold remembers
LONG_FOLDED = ("投诉 abc123 order " * 8).strip()


@pytest.mark.parametrize(
    ("text", "folded"),
    [("ＨＥＬＬＯ！", "hello"), ("Straße.", "strasse"), ("YES", "yes"), ("。", "。"), ("ﬁne", "fine"),
     (LONG, LONG_FOLDED), (LONG + "！", LONG_FOLDED)],
)  # fmt: skip
def test_fold_is_the_same_for_short_remembered_and_long_texts(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold(text) == folded  # the remembered answer for short ones


def test_clean_keeps_newlines_tabs_and_emoji_but_not_controls() -> None:
    assert clean(" a\x00b\x1b\u200bc\r\nd\te 👨‍👩‍👧\ufeff ") == "abc\nd\te 👨‍👩‍👧"


def test_ticket_number_in_free_text() -> None:
    assert ticket_number_in("我的单子 2411220007 怎么样了") == "2411220007"
    assert ticket_number_in("怎么样了") is None


@pytest.mark.parametrize(
    ("text", "nothing"),
    [
        ("没有", True),
        ("完成", True),
        ("没有照片", True),
        ("我没有任何证据。", True),
        ("手上没有收据了", True),
        ("No photos", True),
        ("I don't have any", True),
        ("nothing to send", True),
        ("I have no receipts", True),
        ("有照片", False),
        ("照片我等下发", False),
        ("no, I have photos", False),
        ("没有照片" * 20, False),  # long text is never scanned
    ],
)
def test_an_evidence_answer_that_says_there_is_nothing(text: str, nothing: bool) -> None:
    assert inputs.nothing_to_send(text) is nothing


@pytest.mark.parametrize(
    ("text", "confirms"),
    [
        ("确认", True),
        ("确认提交", True),
        ("没问题，提交吧", True),
        ("Yes, submit it", True),
        ("looks good. go ahead", True),
        ("不对", False),
        ("没问题，但是电话错了", False),
        ("yes but the date is wrong", False),
        ("", False),
    ],
)
def test_a_summary_is_confirmed_in_words(text: str, confirms: bool) -> None:
    assert inputs.is_confirmation(text) is confirms
