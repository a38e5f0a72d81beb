"""What a complaint's description already says, read without the NLU server: the order number,
the amount, the place, the product, the member of staff and what the customer wants done
("订单号 12345 的水壶漏水，花了 ¥200，我要退款" answers three questions before they are asked).

Pure functions of the text, used by the engine's ``understand`` step when Rasa gave no entity of
a kind (it is down, not up yet, or its lookup tables missed it). Every pattern has bounded
quantifiers and no nested repetition, only the first ``MAX_CHARS`` characters are read and at
most ``MAX_TRIES`` candidates of a kind are looked at, so a hostile text costs little
(tests/test_adversarial_text.py). The product and outcome words are also Rasa's lookup tables
(``nlu/data/entities.yml``); a test keeps the two lists the same.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

MAX_CHARS = 500
"""Only the start of a long description is read (the facts are told early; time stays bounded)."""
MAX_TRIES = 20


class EntityKind(StrEnum):
    """What the ``understand`` step can find; ``date`` is read by ``dialogues.prefill``."""

    DATE = "date"
    PLACE = "place"
    PRODUCT = "product"
    STAFF = "staff"
    ORDER_NUMBER = "order_number"
    AMOUNT = "amount"
    OUTCOME = "outcome"


class Outcome(StrEnum):
    """The desired outcomes the intake's menu offers (its ``desired_outcome`` codes)."""

    REFUND = "refund"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    APOLOGY = "apology"
    COMPENSATION = "compensation"


RASA_ENTITIES: Mapping[str, EntityKind] = MappingProxyType(
    {
        "place": EntityKind.PLACE,
        "product": EntityKind.PRODUCT,
        "staff": EntityKind.STAFF,
        "order_number": EntityKind.ORDER_NUMBER,
        "amount": EntityKind.AMOUNT,
        "desired_outcome": EntityKind.OUTCOME,
    }
)
"""Rasa's entity names (nlu/data/entities.yml) and the kind each one is."""


def _words(*parts: str) -> tuple[str, ...]:
    """Word lists written as ``"a|b|c"`` strings (many short words, few lines)."""
    return tuple(w for part in parts for w in part.split("|") if w)


def _fold(text: str) -> str:
    """Full-width to ASCII (NFKC) where it keeps the length, so positions stay the text's."""
    folded = unicodedata.normalize("NFKC", text)
    return folded if len(folded) == len(text) else text


# ---------------------------------------------------------------------------- order numbers
_ORDER_WORDS = r"订单编号|订单号码|订单号|订单|单号|(?i:order\s?(?:number|no\.?|id|#)|order)"
_ORDER_AFTER_WORD = re.compile(
    rf"(?:{_ORDER_WORDS})\s{{0,3}}(?:[:：#是为]|is\b)?\s{{0,3}}#?([A-Za-z0-9][A-Za-z0-9-]{{3,31}})(?![A-Za-z0-9])"
)
_ORDER_BARE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,4})-?(\d{6,20})(?![A-Za-z0-9])")
_NOT_ORDER_PREFIXES = frozenset({"rmb", "cny", "usd", "us", "hk", "hkd", "no", "tel", "ph"})
_PHONE = re.compile(r"\+?(?:86)?1[3-9]\d{9}")


def order_number_in(text: str) -> str | None:
    """An order number: the token after 订单号/order number (a digit in it, 4-32 characters),
    else letters followed by 6+ digits ("JD2024112000123"); never a mobile number."""
    head = _fold(text[:MAX_CHARS])
    for tries, match in enumerate(_ORDER_AFTER_WORD.finditer(head)):
        if tries >= MAX_TRIES:
            break
        token = match.group(1).strip("-")
        if any(c.isdigit() for c in token) and not _PHONE.fullmatch(token) and len(token) >= 4:
            return token
    for tries, match in enumerate(_ORDER_BARE.finditer(head)):
        if tries >= MAX_TRIES:
            break
        if match.group(1).lower() not in _NOT_ORDER_PREFIXES:
            return match.group(0)
    return None


# ---------------------------------------------------------------------------- amounts
_KUAI = "块(?!儿|[蛋面肉糖饼布板石砖地])"
"""块 as money, not as a piece (一块蛋糕) or together (一块儿)."""
_NUMBER = r"\d{1,9}(?:,\d{3}){0,3}(?:\.\d{1,2})?"
_YUAN_SIGNS = r"¥|￥|(?i:rmb|cny)"
_DOLLAR_SIGNS = r"(?i:usd|us\$)|\$"
_AMOUNT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?:{_YUAN_SIGNS})\s{{0,2}}({_NUMBER})(万)?"), "CNY"),
    (re.compile(rf"(?:{_DOLLAR_SIGNS})\s{{0,2}}({_NUMBER})"), "USD"),
    (re.compile(rf"(?<![\d.,])({_NUMBER})\s{{0,2}}(万元|万块|元|块钱|{_KUAI}|(?i:rmb|yuan|cny)\b)"), "CNY"),
    (re.compile(rf"(?<![\d.,])({_NUMBER})\s{{0,2}}(美元|美金|(?i:dollars?|usd|bucks)\b)"), "USD"),
)
_CN_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_AMOUNT = re.compile(
    rf"([零〇一二两三四五六七八九十百千万]{{1,12}})(元|块钱|(?<=[十百千万]){_KUAI}|美元|美金)"
)


def chinese_number(word: str) -> int | None:
    """一 .. 九千九百九十九万九千九百九十九 (两百, 三千五, 一万二 included), or None."""
    if not word or len(word) > 12:
        return None
    total, section, digit = 0, 0, None
    last_unit, after_zero = 1, False
    for char in word:
        if char in _CN_DIGIT:
            digit = _CN_DIGIT[char]
            after_zero = after_zero or digit == 0
        elif char in _CN_UNIT:
            last_unit = _CN_UNIT[char]
            section += (1 if digit is None else digit) * last_unit
            digit, after_zero = None, False
        elif char == "万":
            section += digit or 0
            total += (section or 1) * 10_000
            section, digit, last_unit, after_zero = 0, None, 10_000, False
        else:
            return None
    if digit is not None:
        # "三千五" is 3500 and "一万二" 12000: a digit after a unit counts one place below it
        # ("三百零五" is 305).
        section += digit * (last_unit // 10 if last_unit >= 100 and not after_zero else 1)
    return total + section


@dataclass(frozen=True, slots=True)
class Amount:
    value: float
    currency: str  # "CNY" or "USD"

    def __str__(self) -> str:
        sign = "¥" if self.currency == "CNY" else "$"
        number = f"{self.value:,.0f}" if self.value == int(self.value) else f"{self.value:,.2f}"
        return sign + number


def amount_in(text: str) -> Amount | None:
    """The first money amount with its currency: ¥200, 200元, RMB 1,200, $35, 35 dollars, 两百块,
    2万元. A bare number (a phone number, a count) is no amount."""
    head = _fold(text[:MAX_CHARS])
    found: list[tuple[int, Amount]] = []
    for pattern, currency in _AMOUNT_PATTERNS:
        for tries, match in enumerate(pattern.finditer(head)):
            if tries >= MAX_TRIES:
                break
            value = float(match.group(1).replace(",", ""))
            scale = (match.group(2) if match.lastindex and match.lastindex >= 2 else None) or ""
            if scale.startswith("万"):
                value *= 10_000
            found.append((match.start(), Amount(value, currency)))
            break
    for tries, match in enumerate(_CN_AMOUNT.finditer(head)):
        if tries >= MAX_TRIES:
            break
        number = chinese_number(match.group(1))
        if number is not None:
            currency = "USD" if match.group(2) in ("美元", "美金") else "CNY"
            found.append((match.start(), Amount(float(number), currency)))
            break
    return min(found, key=lambda p: p[0])[1] if found else None


# ---------------------------------------------------------------------------- outcomes
OUTCOME_WORDS: Mapping[Outcome, tuple[str, ...]] = MappingProxyType(
    {
        Outcome.REFUND: _words("退款|退钱|退费|退货|把钱退|退我钱|refund|money back|reimburse"),
        Outcome.EXCHANGE: _words(
            "换货|换一个|换个新的|换新|更换|调换|replacement|replace it|exchange|a new one"
        ),
        Outcome.REPAIR: _words("维修|修好|修理|上门修|repair|fix it|fixed"),
        Outcome.APOLOGY: _words("道歉|赔礼|apology|apologise|apologize|say sorry"),
        Outcome.COMPENSATION: _words("赔偿|补偿|赔钱|赔付|compensation|compensate|damages"),
    }
)
"""Words for each desired outcome in both languages (Rasa's ``desired_outcome`` lookup too)."""
_OUTCOME_RE = re.compile(
    "|".join(
        (re.escape(w) if not w.isascii() else rf"\b{re.escape(w)}\b")
        for w in sorted((w for ws in OUTCOME_WORDS.values() for w in ws), key=len, reverse=True)
    ),
    re.IGNORECASE,
)
_OUTCOME_OF = {w.lower(): o for o, ws in OUTCOME_WORDS.items() for w in ws}
_WANT_ZH = _words("要|希望|想|请|给我|必须|申请|能否|能不能|麻烦|应该|需要|求|给个|立即|马上|尽快|赶紧|只能")
_WANT_EN = _words(
    "want|would like|'d like|expect|demand|request|asking for|ask for|need|please|give me|should|"
    "insist on|looking for|i'd accept|hoping for"
)
_NEGATION = re.compile(
    r"不|别|没|无需|免|说|答应|承诺|(?i:\bnot\b|n't\b|\bno\b|\bnever\b|\bwithout\b|\bpromised\b|\bsaid\b|\btold\b)"
)
"""A denied wish ("不要退款") or one somebody else spoke of ("他说给我补偿", "they promised a
repair") is not taken for the customer's: the outcome question asks them instead."""
_INTRINSIC = frozenset({"把钱退", "退我钱", "money back"})
"""Words that say the wish on their own ("把钱退给我", "I want my money back" needs no 要)."""
_CLAUSE_END = re.compile(r"[，。；！？,.;!?\n]")


def outcome_in(text: str) -> Outcome | None:
    """What the customer wants done: an outcome word that a wish leads to in the same clause
    ("我要退款", "希望赔偿", "I want a refund"), not one that is denied ("不要退款", "I don't
    want an apology") or merely told ("退款一直没到账", "they promised a repair")."""
    head = _fold(text[:MAX_CHARS])
    for tries, match in enumerate(_OUTCOME_RE.finditer(head)):
        if tries >= MAX_TRIES:
            break
        word = match.group(0).lower()
        clause = _CLAUSE_END.split(head[max(0, match.start() - 24) : match.start()])[-1].lower()
        if _NEGATION.search(clause) is not None:
            continue
        wants = word in _INTRINSIC or any(w in clause for w in (_WANT_EN if word.isascii() else _WANT_ZH))
        if wants:
            return _OUTCOME_OF[word]
    return None


# ---------------------------------------------------------------------------- staff
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_ZH_ROLES = (
    "快递员|快递小哥|配送员|送水工|送水员|送货员|店员|收银员|客服|服务员|司机|销售|导购|保安|维修工|维修员|安装工"
    "|工作人员|业务员|店长|经理|主管|师傅"
)
_STAFF_NUMBER = re.compile(
    r"(?:工号|员工号|员工编号|编号|(?i:staff\s?(?:number|no\.?|id|#)|employee\s?(?:number|no\.?|id|#)|badge\s?(?:number|no\.?)?))"
    r"\s{0,3}(?:[:：#是为]|is\b)?\s{0,3}#?([A-Za-z]{0,3}\d{2,8})(?![A-Za-z0-9])"
)
_ZH_NAMED = re.compile(rf"(?:叫|名叫|姓名是)([{_SURNAMES}][\u4e00-\u9fff]{{1,2}}?)(?:的|，|,|。|\s|$)")
_ZH_ROLE_NAME = re.compile(rf"(?:{_ZH_ROLES})((?:小|老)[{_SURNAMES}]|[{_SURNAMES}](?:师傅|经理|店长|主管))")
_ZH_SURNAME_ROLE = re.compile(
    rf"(?:姓([{_SURNAMES}])的(?:{_ZH_ROLES}))|((?:小|老)?[{_SURNAMES}](?:师傅|经理|店长|主管))"
)
_EN_ROLES = (
    r"driver|courier|delivery\s(?:man|guy|driver)|cashier|waiter|waitress|technician|engineer|manager|agent"
    r"|staff\smember|employee|salesman|saleswoman|sales\sassistant|clerk|guard|installer|repairman|rep"
)
_EN_NAMED = re.compile(
    rf"(?i:\b(?:{_EN_ROLES}))(?:\s(?i:called|named|by\sthe\sname\sof)|,)?\s([A-Z][a-z]{{1,15}}(?:\s[A-Z][a-z]{{1,15}})?)\b"
)
_EN_NOT_NAMES = frozenset(_words("I|The|He|She|They|It|We|You|This|That|And|But|Was|Who|When|Then|On|At|In"))


def staff_in(text: str) -> str | None:
    """A member of staff the customer can point to: a staff number (工号 A1001, staff number
    4521), or a name with their role (店员小李, 王师傅, 一个叫李明的客服, the driver called Tom),
    in the customer's words. A role alone ("快递员态度很差") identifies nobody."""
    head = _fold(text[:MAX_CHARS])
    number = _STAFF_NUMBER.search(head)
    if number is not None:
        return number.group(0).strip()
    named = _ZH_ROLE_NAME.search(head)
    if named is not None:
        return named.group(0)
    called = _ZH_NAMED.search(head)
    if called is not None:
        return called.group(1)
    match = _ZH_SURNAME_ROLE.search(head)
    if match is not None:
        return match.group(0)
    for tries, match in enumerate(_EN_NAMED.finditer(head)):
        if tries >= MAX_TRIES:
            break
        name = match.group(1)
        if name.split()[0] not in _EN_NOT_NAMES:
            return match.group(0).strip(" ,")
    return None


# ---------------------------------------------------------------------------- places
_ZH_PLACE_SUFFIXES = "|".join(
    _words(
        "旗舰店|专卖店|便利店|营业厅|营业部|服务中心|服务站|自提点",
        "门店|分店|超市|网点|商场|专柜|柜台|广场|仓库|店",
    )
)
_ZH_PLACE = re.compile(rf"(?:在|到|去|于|从)([^\s，。,.!?！？；;在到去于从]{{1,14}}(?:{_ZH_PLACE_SUFFIXES}))")
_ZH_PLACE_PREFIXES = _words("你们的|你们|贵公司|贵|这家|那家|一家|这个|那个|我们|附近的|附近")
_ZH_ONLINE = re.compile(
    r"网上|网店|官网|官方网站|(?i:app)|小程序|公众号|微信商城|淘宝|天猫|京东|拼多多|美团|饿了么|抖音小店"
)
_EN_PLACE = re.compile(
    r"(?i:\b(?:at|in|from|outside)\s(?:the\s|your\s|our\s)?)"
    r"([A-Za-z0-9][A-Za-z0-9'&-]{0,20}(?:\s[A-Za-z0-9'&-]{1,20}){0,3}?)\s"
    r"(?i:(store|shop|branch|outlet|mall|supermarket|office|station|warehouse|centre|center|pickup\spoint))\b"
)
_EN_ONLINE = re.compile(
    r"(?i:\b(?:online|on\syour\swebsite|on\sthe\swebsite|(?:in|on|through)\s(?:the|your)\sapp)\b)"
)
_EN_NOT_PLACE = frozenset({"the", "your", "our", "a", "this", "that", "my", "their", "same", "local"})


def place_in(text: str) -> str | None:
    """Where it happened: a named shop or branch (在万达广场店, at the Nanjing Road store), else an
    online channel (网上, 官网, APP, 京东, online, in your app). "在你们店" names no shop."""
    head = _fold(text[:MAX_CHARS])
    for tries, match in enumerate(_ZH_PLACE.finditer(head)):
        if tries >= MAX_TRIES:
            break
        place = match.group(1)
        for prefix in _ZH_PLACE_PREFIXES:
            if place.startswith(prefix):
                place = place[len(prefix) :]
                break
        if _named_place(place):
            return place
    for tries, match in enumerate(_EN_PLACE.finditer(head)):
        if tries >= MAX_TRIES:
            break
        name = match.group(1)
        if name.split()[0].lower() not in _EN_NOT_PLACE:
            return f"{name} {match.group(2)}"
    online = _ZH_ONLINE.search(head) or _EN_ONLINE.search(head)
    if online is not None:
        return online.group(0).removeprefix("on ").removeprefix("in ").removeprefix("through ")
    return None


def _named_place(place: str) -> bool:
    """More than a bare suffix: "万达广场店" yes, "店", "门店" or "超市" alone no."""
    bare = re.fullmatch(rf"(?:门|分|小|大)?(?:{_ZH_PLACE_SUFFIXES})(?:里|内)?", place)
    return bare is None and len(place) >= 3


# ---------------------------------------------------------------------------- products
PRODUCT_WORDS: tuple[str, ...] = _words(
    "电热水壶|电水壶|热水壶|保温杯|桶装水|矿泉水|纯净水|饮水机|净水器|滤芯|水桶|水票|电饭煲|空气炸锅|"
    "微波炉|冰箱|洗衣机|空调|热水器|电视|笔记本电脑|电脑|平板|手机|充电宝|充电器|耳机|音箱|手表|"
    "路由器|打印机|吸尘器|扫地机器人|电风扇|台灯|牛奶|酸奶|奶粉|面包|蛋糕|饼干|零食|大米|食用油|水果|"
    "饮料|咖啡|茶叶|保健品|外卖|衣服|鞋子|纸巾|洗衣液|洗发水|化妆品|玩具|家具|床垫|沙发|会员卡|宽带|"
    "电热毯|烤箱|榨汁机|豆浆机|剃须刀|电动牙刷|自行车|电动车|轮胎|electric kettle|kettle|"
    "water dispenser|water cooler|water filter|filter cartridge|bottled water|mineral water|"
    "water bottle|thermos|rice cooker|air fryer|microwave|fridge|refrigerator|washing machine|"
    "air conditioner|water heater|tv|television|laptop|tablet|phone|power bank|charger|headphones|"
    "earphones|speaker|watch|router|printer|vacuum cleaner|fan|milk|yogurt|baby formula|bread|cake|"
    "biscuits|snacks|rice|cooking oil|fruit|coffee|tea|supplements|shoes|detergent|shampoo|toy|sofa|"
    "mattress|membership card|broadband|oven|blender|shaver|toothbrush|bike|e-bike|tyre|tire"
)
"""The products a customer names most (Rasa's ``product`` lookup too); longer names first win."""
_PRODUCT_RE = re.compile(
    "|".join(
        (re.escape(w) if not w.isascii() else rf"\b{re.escape(w)}s?\b")
        for w in sorted(PRODUCT_WORDS, key=len, reverse=True)
    ),
    re.IGNORECASE,
)


def product_in(text: str) -> str | None:
    """The first product the description names, as it is written there."""
    head = _fold(text[:MAX_CHARS])
    for tries, match in enumerate(_PRODUCT_RE.finditer(head)):
        if tries >= MAX_TRIES:
            break
        if not _names_a_number(head[match.end() : match.end() + 8]):
            return match.group(0)
    return None


def _names_a_number(after: str) -> bool:
    """手机号, 手机13800138000, phone number: the word names a number, not a product."""
    return after[:1].isdigit() or after.lower().lstrip().startswith(("号", "number", "no.", "#"))


# ---------------------------------------------------------------------------- all of it
FINDERS: Mapping[EntityKind, Callable[[str], object | None]] = MappingProxyType(
    {
        EntityKind.PLACE: place_in,
        EntityKind.PRODUCT: product_in,
        EntityKind.STAFF: staff_in,
        EntityKind.ORDER_NUMBER: order_number_in,
        EntityKind.AMOUNT: amount_in,
        EntityKind.OUTCOME: outcome_in,
    }
)


def slot_value(kind: EntityKind, raw: str) -> str | None:
    """A found text as the slot keeps it: an amount as ¥200/$35, an outcome as its code, an order
    or staff number as found; None when the text is not one (a Rasa entity is read again here,
    so both sources give the same values)."""
    finder = FINDERS.get(kind)
    if finder is None:
        return None
    if kind in (EntityKind.AMOUNT, EntityKind.OUTCOME):
        wish = raw if kind is EntityKind.AMOUNT else f"要{raw}" if not raw.isascii() else f"want {raw}"
        found = finder(wish)
        return str(found) if found is not None else None
    if kind is EntityKind.PLACE:
        return place_in(f"在{raw}") or place_in(f"at the {raw}") or None
    value = raw.strip()
    return value[:60] or None


def read_entity(kind: EntityKind, text: str, value: str, start: int | None, end: int | None) -> str | None:
    """A Rasa entity of ``kind`` as a slot value, judged in its place in ``text`` when Rasa gave
    the offsets: an outcome word only when the customer wishes it (the same rule as without
    Rasa), a product word only when it names no number (手机号)."""
    if start is None or end is None or not 0 <= start < end <= len(text):
        return slot_value(kind, value)
    if kind is EntityKind.OUTCOME:
        found = outcome_in(text[max(0, start - 24) : end])
        return str(found) if found is not None else None
    if kind is EntityKind.PRODUCT and _names_a_number(text[end : end + 8]):
        return None
    return slot_value(kind, text[start:end])


def understand(text: str, kinds: Iterable[EntityKind]) -> dict[EntityKind, str]:
    """Each kind found in ``text``, as ``slot_value`` gives it."""
    out: dict[EntityKind, str] = {}
    for kind in kinds:
        finder = FINDERS.get(kind)
        found = finder(text) if finder is not None else None
        if found is not None:
            out[kind] = str(found)
    return out
