"""What a description already says (issue 21 item 4), read without the NLU server: one row per
sentence, every kind the row does not name must come out empty (a phone number is no order
number and no amount, a role is no named person, a told outcome is no wish)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from dialogues.understanding import (
    MAX_CHARS,
    OUTCOME_WORDS,
    PRODUCT_WORDS,
    RASA_ENTITIES,
    EntityKind,
    amount_in,
    chinese_number,
    slot_value,
    understand,
)

P, PR, S, N, A, W = (
    EntityKind.PLACE,
    EntityKind.PRODUCT,
    EntityKind.STAFF,
    EntityKind.ORDER_NUMBER,
    EntityKind.AMOUNT,
    EntityKind.OUTCOME,
)
KINDS = (P, PR, S, N, A, W)
ROOT = Path(__file__).resolve().parents[2]

TABLE: list[tuple[str, dict[EntityKind, str]]] = [
    # ---------------------------------------------------------------- Chinese
    (
        "订单号 12345 的电热水壶漏水，花了 ¥200，我要退款",
        {PR: "电热水壶", N: "12345", A: "¥200", W: "refund"},
    ),
    (
        "昨天在万达广场店买的桶装水有沉淀，店员小李态度很差，希望道歉",
        {P: "万达广场店", PR: "桶装水", S: "店员小李", W: "apology"},
    ),
    ("工号A1001的客服挂我电话，要求赔偿两百块", {S: "工号A1001", A: "¥200", W: "compensation"}),
    ("我的手机号是13800138000，送来的水有异味", {}),
    ("快递员态度很差还把包裹扔在门口", {}),
    ("退款一直没到账，都一个星期了", {}),
    ("不要退款，我要换货", {W: "exchange"}),
    ("我不需要道歉，只要赔偿", {W: "compensation"}),
    ("在你们店买的东西坏了", {}),
    ("一个叫李明的客服骗我说能退", {S: "李明"}),
    ("维修的王师傅迟到了三个小时", {S: "王师傅"}),
    ("花了二十块钱买了一块蛋糕", {A: "¥20", PR: "蛋糕"}),
    ("订单编号：JD2024112000123，冰箱不制冷，麻烦上门修理", {N: "JD2024112000123", PR: "冰箱", W: "repair"}),
    ("在京东旗舰店下单的空气炸锅冒烟了，一共花了三千五百元", {P: "京东旗舰店", PR: "空气炸锅", A: "¥3,500"}),
    ("网上买的充电宝充不进电，请给我换一个", {P: "网上", PR: "充电宝", W: "exchange"}),
    ("多收了我 RMB 58.5，希望把钱退给我", {A: "¥58.50", W: "refund"}),
    ("请联系我 13912345678，订单 A20241120001 还没发货", {N: "A20241120001"}),
    ("送水员小王每次都迟到", {S: "送水员小王"}),
    ("我要投诉，你们太过分了", {}),
    ("他说给我补偿，结果什么都没有", {}),
    ("我家 3 个人喝了都拉肚子，要求赔偿 2万元", {A: "¥20,000", W: "compensation"}),
    ("在朝阳大悦城店被保安推搡", {P: "朝阳大悦城店"}),
    # ---------------------------------------------------------------- English
    (
        "I ordered a kettle, order number JD2024112000123, paid $35 and I want a refund",
        {PR: "kettle", N: "JD2024112000123", A: "$35", W: "refund"},
    ),
    (
        "The driver called Tom was rude at the Nanjing Road store",
        {S: "driver called Tom", P: "Nanjing Road store"},
    ),
    ("I don't want an apology, I want compensation", {W: "compensation"}),
    ("bought it online for 199.5 yuan, please repair it", {P: "online", A: "¥199.50", W: "repair"}),
    ("staff number 4521 shouted at me", {S: "staff number 4521"}),
    ("my phone number is +86 139 1234 5678 and I was charged twice", {}),
    ("call me on 13800138000", {}),
    ("they promised a repair but nobody came", {}),
    ("the courier was rude", {}),
    (
        "I paid RMB 1,200 for the washing machine at the Pudong branch",
        {P: "Pudong branch", PR: "washing machine", A: "¥1,200"},
    ),
    ("order #88812345 never arrived, I would like my money back", {N: "88812345", W: "refund"}),
    ("The rice cooker stopped working after 3 days, please replace it", {PR: "rice cooker", W: "exchange"}),
    ("I need a replacement for the broken charger", {PR: "charger", W: "exchange"}),
    ("The milk was sour. Order ID: MK-20241119-77", {PR: "milk", N: "MK-20241119-77"}),
    ("I was overcharged 12 dollars in your app", {A: "$12", P: "app"}),
    ("a cashier named Lily ignored me at the Xujiahui store", {S: "cashier named Lily", P: "Xujiahui store"}),
    ("3 of us waited 2 hours at the shop", {}),
    ("your refund policy is unclear", {}),
    ("I demand an apology from the manager", {W: "apology"}),
    ("I have called 5 times, ticket 2611230001 is still open", {}),
    (
        "the employee id A778 refused to help, I expect compensation of $50",
        {S: "employee id A778", A: "$50", W: "compensation"},
    ),
    ("The water dispenser leaks, I want it fixed", {PR: "water dispenser", W: "repair"}),
]


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t[:32] for t, _ in TABLE])
def test_what_a_description_says(text: str, expected: dict[EntityKind, str]) -> None:
    assert understand(text, KINDS) == expected


def test_the_table_is_large_and_half_english() -> None:
    english = [t for t, _ in TABLE if t.isascii()]
    assert len(TABLE) >= 40 and len(english) >= len(TABLE) // 2 - 1
    assert sum(1 for _, e in TABLE if not e) >= 10  # negatives: sentences that say none of it


@pytest.mark.parametrize(
    ("word", "value"),
    [("两百", 200), ("三千五", 3500), ("三千五百", 3500), ("一百五", 150), ("十五", 15), ("一万二", 12000),
     ("三百零五", 305), ("二十", 20), ("五", 5), ("三块", None)],
)  # fmt: skip
def test_chinese_numerals(word: str, value: int | None) -> None:
    assert chinese_number(word) == value


def test_a_rasa_entity_is_read_as_the_extractor_would() -> None:
    assert slot_value(EntityKind.AMOUNT, "200元") == "¥200"
    assert slot_value(EntityKind.OUTCOME, "退钱") == "refund"
    assert slot_value(EntityKind.OUTCOME, "money back") == "refund"
    assert slot_value(EntityKind.AMOUNT, "13800138000") is None
    assert slot_value(EntityKind.PRODUCT, " 净水器 ") == "净水器"


def test_only_the_start_of_a_long_text_is_read() -> None:
    assert amount_in("水" * MAX_CHARS + "¥200") is None
    started = time.thread_time()
    understand("订单号" * 3000 + "¥" * 3000 + "在" * 3000, KINDS)
    assert time.thread_time() - started < 0.05


def test_rasa_knows_every_word_the_bot_reads_without_it() -> None:
    """nlu/data/entities.yml's lookup tables hold the bot's own lists (they may hold more)."""
    data = yaml.safe_load((ROOT / "nlu" / "data" / "entities.yml").read_text(encoding="utf-8"))
    lookups = {
        b["lookup"]: {line.removeprefix("- ").strip() for line in b["examples"].splitlines() if line.strip()}
        for b in data["nlu"]
        if "lookup" in b
    }
    assert set(PRODUCT_WORDS) <= lookups["product"]
    assert {w for words in OUTCOME_WORDS.values() for w in words} <= lookups["desired_outcome"]
    assert set(RASA_ENTITIES) <= {b.get("regex") or b.get("lookup") for b in data["nlu"]}
