"""Severity rules over plain text: the cues of DOMAIN.md mark a complaint major with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.domain.severity import largest_amount, largest_group, parse_rules

ROOT = Path(__file__).resolve().parents[3]
RULES = parse_rules(yaml.safe_load((ROOT / "bot" / "domain" / "data" / "severity.yaml").read_text("utf-8")))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("再不处理我就找记者曝光你们", "media"),
        ("I'll post this on social media tonight", "media"),
        ("我已经打了12315投诉", "regulator"),
        ("已向消费者协会反映", "regulator"),
        ("我的律师会联系你们", "legal"),
        ("we will sue you", "legal"),
        ("我已经报警了", "police"),
        ("I called 110 already", "police"),
        ("孩子喝完拉肚子住院了", "injury"),
        ("got food poisoning from your salad", "injury"),
        ("被多扣了2万元", "money"),
        ("损失了三万块", "money"),
        ("charged me $2,000", "money"),
        ("我们小区12户都一样", "group"),
        ("二十多人一起来投诉", "group"),
        ("15 of us bought it", "group"),
    ],
)
def test_each_cue_makes_the_complaint_major_and_says_why(text: str, rule: str) -> None:
    level, reasons = RULES.assess(text)
    assert level == "major"
    assert rule in {r["rule"] for r in reasons}
    reason = next(r for r in reasons if r["rule"] == rule)
    assert reason["reason"] and reason["reason_en"] and reason["match"]


@pytest.mark.parametrize(
    "text",
    [
        "水有点异味，希望换一箱",
        "the courier was late by two days",
        "多收了50元",
        "我的手机号是13811012345",  # contains 110 inside a phone number
        "订单号 A2024110512345",
        "我们3个人一起吃的饭",
        "",
    ],
)
def test_ordinary_complaints_stay_normal(text: str) -> None:
    assert RULES.assess(text) == ("normal", [])


def test_other_fields_count_but_the_phone_does_not() -> None:
    level, reasons = RULES.assess("水有异味", {"desired_outcome": "不赔偿就起诉", "phone": "110"})
    assert level == "major" and [r["rule"] for r in reasons] == ["legal"]
    assert RULES.assess("水有异味", {"phone": "110"})[0] == "normal"


def test_amounts_and_groups_are_read_in_both_languages() -> None:
    assert largest_amount("退了¥300又扣了1.5万") == 15000
    assert largest_amount("about 40 dollars") == 280
    assert largest_amount("没有金额") is None
    assert largest_group("十几个人") == 10
    assert largest_group("30 customers and 2 people") == 30


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"cues": {"media": {"keywords": ["x"]}}}, "'reason'"),  # no reason, no thresholds
        ({"cues": {}, "money": {"threshold": "lots"}, "group": {"threshold": 10}}, "'lots'"),
        ({"cues": {"x": {"reason": {"zh": "x", "en": "x"}, "patterns": ["("]}}}, "missing \\)"),
        ({"cues": {}, "negations": {"en": [False]}, "money": {}, "group": {}}, "quote yes/no"),
        ({"cues": {"x": {"reason": {"zh": "x", "en": "x"}, "keywords": [True]}}}, "quote yes/no"),
        ({"cues": {"x": {"reason": {"zh": "x", "en": "x"}, "hypothetical": "maybe"}}}, "count or ignore"),
        (None, "NoneType"),
        (["not", "a", "mapping"], "'list'"),
    ],
)
def test_malformed_rules_are_a_value_error_saying_what_is_wrong(raw: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_rules(raw)
