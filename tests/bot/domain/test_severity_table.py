"""The severity rules against sentences written as customers write them, half in English: each
row names exactly the rules that must fire (an empty set: the complaint stays normal).

Choices these rows pin down (bot/domain/severity.py): a threat counts ("再不处理就报警"); a
negated cue does not ("没有人受伤", "I won't sue"); a near miss or a risk of injury does not
("差点摔倒", "someone could get hurt"); a negation before "stop" keeps the cue ("couldn't stop
throwing up")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from bot.domain.severity import MAX_TOTAL, parse_rules

ROOT = Path(__file__).resolve().parents[3]
RULES = parse_rules(yaml.safe_load((ROOT / "bot" / "domain" / "data" / "severity.yaml").read_text("utf-8")))

ZH: list[tuple[str, set[str]]] = [
    # media and social media
    ("再不给我退款，我就发微博曝光你们", {"media"}),
    ("我已经把视频发到抖音上了，好多人在看", {"media"}),
    ("这事我要发小红书让大家避雷", {"media"}),
    ("电视台的记者明天会来采访", {"media"}),
    ("我不会找媒体的，只想换一箱水", set()),
    # regulators and consumer bodies
    ("我已经打了12315", {"regulator"}),
    ("昨天打12345市民热线反映了你们的问题", {"regulator"}),
    ("再不解决我就去消协投诉", {"regulator"}),
    ("已经向市场监管局举报了", {"regulator"}),
    ("保险公司拖着不赔，我准备向金融监管部门反映", {"regulator"}),
    # lawyers, courts, police
    ("我的律师下周会给你们发律师函", {"legal"}),
    ("不赔偿我就去法院起诉你们", {"legal"}),
    ("我不打算起诉，只要你们道歉", set()),
    ("他们上门推销还骗钱，我已经报警了", {"police"}),
    ("派出所的民警已经做了笔录", {"police"}),
    ("再这样我就打110", {"police"}),
    # injury and illness in everyday words
    ("喝了以后肚子疼", {"injury"}),
    ("孩子喝了你们的水上吐下泻", {"injury"}),
    ("吃完你们的外卖拉肚子拉了一晚上", {"injury"}),
    ("热水器漏电，我被电了一下手都麻了，去医院检查了", {"injury"}),
    ("没想到用了你们的面膜脸上起疹子了", {"injury"}),
    ("地太滑，我妈摔伤了腿", {"injury"}),
    ("幸好没有人受伤，但是玻璃门碎了一地", set()),
    ("我差点在台阶上摔倒，你们赶紧修一修", set()),
    ("万一有小孩被烫伤怎么办", set()),
    # money
    ("你们多扣了我两万块", {"money"}),
    ("理财亏了15万元", {"money"}),
    ("多收了我38元运费", set()),
    ("退款¥12,000到现在还没到账", {"money"}),
    # group size
    ("我们小区三十多户都买了这批水", {"group"}),
    ("十几个家长一起来反映", {"group"}),
    ("公司12个人一起订的餐全都有问题", {"group"}),
    ("我们一家三口都吃了", set()),
    ("上百人被同一个业务员骗了", {"group"}),
    # repeat complaints
    ("这是我第三次投诉了，还是没人管", {"repeat"}),
    ("投诉了好几次都没有解决", {"repeat"}),
    ("我之前投诉过一次", set()),
    # several at once, and ordinary complaints
    ("孩子喝了以后住院了，我已经找了律师", {"injury", "legal"}),
    ("二十多个人吃了你们的月饼食物中毒，记者已经知道了", {"group", "injury", "media"}),
    ("快递员态度很差，把包裹扔在门口", set()),
    ("水有点异味，希望换一箱", set()),
    ("送水师傅迟到了两个小时", set()),
    ("订单号 A2024110512345 的发票开错了", set()),
    ("订单号 12345 的货到现在还没发", set()),
    ("订单号：12315，退款还没到", set()),
    ("我的手机号是13811012345", set()),
    ("店员说话不太客气", set()),
    ("你们的健身房空调坏了一个星期", set()),
    ("发票抬头写错了，请重新开", set()),
    ("我不想报警，希望你们私下处理好", set()),
    ("没有人中毒，但是水确实有沉淀", set()),
    ("我没去医院，就是有点担心", set()),
]

EN: list[tuple[str, set[str]]] = [
    # media and social media
    ("I'm going to post this on Weibo if you don't refund me", {"media"}),
    ("My video about your store already has ten thousand views on TikTok", {"media"}),
    ("a reporter from the local paper is writing about this", {"media"}),
    ("I'll put it all online so everyone knows", {"media"}),
    ("I have no intention of going to the press, I just want a replacement", set()),
    ("I'll share this on Xiaohongshu and Douyin tonight", {"media"}),
    # regulators and consumer bodies
    ("I've reported you to trading standards", {"regulator"}),
    ("the consumer council has my complaint now", {"regulator"}),
    ("I'm taking this to the financial ombudsman", {"regulator"}),
    ("I rang 12315 this morning", {"regulator"}),
    ("I'll report this to the authorities", {"regulator"}),
    ("the market regulation bureau will hear about this", {"regulator"}),
    # lawyers, courts, police
    ("my solicitor will be in touch", {"legal"}),
    ("I will see you in court", {"legal"}),
    ("we are suing your company", {"legal"}),
    ("I won't sue, I just want my money back", set()),
    ("I have an issue with my bill", set()),
    ("your driver hit my car and I called the police", {"police"}),
    ("I'm not calling the police yet, please sort it out", set()),
    # injury and illness in everyday words
    ("I got food poisoning from your chicken", {"injury"}),
    ("my son threw up all night after drinking your water", {"injury"}),
    ("we ended up in A&E because of your product", {"injury"}),
    ("my wife couldn't stop throwing up", {"injury"}),
    ("the kettle lid flew off and burned my hand", {"injury"}),
    ("your water made my daughter sick", {"injury"}),
    ("I had to see a doctor after eating there", {"injury"}),
    ("my kid came out in a rash after using your cream", {"injury"}),
    ("I slipped on the wet floor and broke my wrist", {"injury"}),
    ("nobody was hurt but the shelf fell down", set()),
    ("someone could get hurt on that broken step", set()),
    ("I almost slipped on the wet floor", set()),
    ("I'm sick of waiting for a refund", set()),
    ("the toast was burnt and cold", set()),
    # money
    ("you charged me $2,000 for nothing", {"money"}),
    ("I lost 20k yuan because of your adviser", {"money"}),
    ("the refund of 15,000 RMB never arrived", {"money"}),
    ("you overcharged me 40 dollars", set()),
    # group size
    ("a dozen families in our building got the same bad batch", {"group"}),
    ("thirty families have signed this complaint", {"group"}),
    ("fifteen of us got sick after the party", {"group", "injury"}),
    ("over 50 residents are affected", {"group"}),
    ("hundreds of customers were overcharged", {"group"}),
    ("three of us waited an hour", set()),
    # repeat complaints
    ("this is my third complaint about the same thing", {"repeat"}),
    ("I have complained three times and nothing happens", {"repeat"}),
    # ordinary complaints
    ("the courier was two days late", set()),
    ("the cashier was rude to me", set()),
    ("my parcel arrived damaged", set()),
    ("the water tastes a bit odd", set()),
    ("it would be better if you opened earlier", set()),
    ("the food court tables were filthy", set()),
    ("the water pressure regulator you fitted leaks", set()),
    ("I will complain to the regulator", {"regulator"}),
    # reference numbers that share a hotline's digits
    ("Order no. 12345 never arrived and nobody answers", set()),
    ("my order number 12315 was charged twice", set()),
    ("Ticket #12345 from last week is still open", set()),
]


def test_the_table_is_big_enough_and_half_english() -> None:
    assert len(ZH) + len(EN) >= 80
    assert len(EN) >= (len(ZH) + len(EN)) / 2


@pytest.mark.parametrize(("text", "rules"), ZH + EN, ids=[t for t, _ in ZH + EN])
def test_each_sentence_fires_exactly_its_rules_with_a_reason(text: str, rules: set[str]) -> None:
    level, reasons = RULES.assess(text)
    assert {r["rule"] for r in reasons} == rules
    assert level == ("major" if rules else "normal")
    for reason in reasons:
        assert reason["reason"] and reason["reason_en"] and reason["match"]


FILLERS = ["没有", "no one ", "报警", "1", "a dozen ", "万", " ", "hurt my ", "第三次", "12315", "¥1,"]


@pytest.mark.parametrize("filler", FILLERS)
def test_long_input_is_capped_and_read_in_bounded_time(filler: str) -> None:
    text = filler * (200_000 // len(filler))
    started = time.thread_time()
    RULES.assess(text, {"where": text, "product": text})
    assert time.thread_time() - started < 0.5
    assert len(text) > MAX_TOTAL
