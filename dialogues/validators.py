"""Answer validators for ask steps: each turns a customer's text into a slot value or a reason.

They are pure functions of the text and an ``AnswerContext`` (today's local date is passed in, so
"昨天" means the same thing in a test as on the server). A reason is a message key from
``dialogues.messages`` plus its parameters; the engine words it in the customer's language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from dialogues.understanding import Amount, amount_in

SlotValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class AnswerContext:
    today: date
    min_length: int = 1
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """For ``choice``: (value, names the customer may type for it)."""


@dataclass(frozen=True, slots=True)
class Valid:
    value: SlotValue
    rest: str | None = None
    """Words the customer added after the answer ("4 处理很快": the comment), for the step's
    ``rest_slot``."""


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str
    params: tuple[tuple[str, str], ...] = ()


Outcome = Valid | Invalid
Validator = Callable[[str, AnswerContext], Outcome]


def normalize(text: str) -> str:
    """Full-width digits and letters to ASCII (Chinese keyboards type ``１３８``), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def validate_text(text: str, ctx: AnswerContext) -> Outcome:
    value = text.strip()
    if not value:
        return Invalid("invalid_text")
    if len(value) < ctx.min_length:
        return Invalid("too_short", (("min", str(ctx.min_length)),))
    return Valid(value)


_PHONE_NOISE = re.compile(r"[\s\-()（）.]")
_MAINLAND = re.compile(r"(?:\+86|0086|86)?(1[3-9]\d{9})")
_INTERNATIONAL = re.compile(r"\+\d{7,15}")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def validate_phone(text: str, ctx: AnswerContext) -> Outcome:
    """A mainland mobile (stored as 11 digits) or an international number (stored as +digits).

    A sentence holding exactly one mainland mobile ("我的电话是 138...") is accepted too. Words
    after a number that starts the answer ("13800138000 王女士") are the rest: how the customer
    would like to be addressed, for a ``rest_slot``.
    """
    compact = _PHONE_NOISE.sub("", normalize(text))
    match = _MAINLAND.fullmatch(compact)
    if match:
        return Valid(match.group(1))
    if _INTERNATIONAL.fullmatch(compact):
        return Valid(compact)
    leading = _NUMBER_THEN_NAME.fullmatch(normalize(text))
    if leading:
        name = _NAME_LEAD.sub("", leading.group(2)).strip(" ,，、;；.。")
        return Valid(leading.group(1), rest=name[:MAX_NAME] if name else None)
    found = _MOBILE_IN_TEXT.findall(normalize(text).replace(" ", "").replace("-", ""))
    if len(set(found)) == 1:
        return Valid(found[0])
    return Invalid("invalid_phone")


_NUMBER_THEN_NAME = re.compile(r"\s*(1[3-9]\d{9}|\+\d{7,15})(?!\d)[\s,，、;；]*(\D{1,40})", re.S)
_NAME_LEAD = re.compile(r"^(?:我叫|我是|姓名[:：]?|称呼[:：]?|my name is|name[:：]?|i am|i'm)\s*", re.I)
MAX_NAME = 40


def validate_choice(text: str, ctx: AnswerContext) -> Outcome:
    wanted = normalize(text).casefold()
    for value, names in ctx.choices:
        if wanted == value.casefold() or any(wanted == normalize(n).casefold() for n in names):
            return Valid(value)
    return Invalid("invalid_choice")


_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,39}")


def validate_reference(text: str, ctx: AnswerContext) -> Outcome:
    """The first letters-and-digits token with a digit in it ("订单号 A2024..." gives A2024...)."""
    for match in _REFERENCE.finditer(normalize(text)):
        token = match.group(0).strip("-")
        if len(token) >= 4 and any(c.isdigit() for c in token):
            return Valid(token)
    return Invalid("invalid_reference")


# ---------------------------------------------------------------------------- dates
_ZH_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_ZH_WEEKDAY.update({str(i + 1): i for i in range(7)})
_EN_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EN_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAY_RE = "|".join(f"{d[:3]}(?:{d[3:]})?" for d in _EN_WEEKDAYS)
_MONTH_RE = r"(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"

_RELATIVE: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"今天|今日|today"), 0),
    (re.compile(r"昨天|昨日|昨晚|yesterday"), 1),
    (re.compile(r"大前天"), 3),
    (re.compile(r"前天|the day before yesterday"), 2),
)
_ISO = re.compile(r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?")
_ZH_MONTH_DAY = re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?")
_EN_MONTH_DAY = re.compile(rf"{_MONTH_RE}\s*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s*(?P<y>\d{{4}}))?")
_EN_DAY_MONTH = re.compile(rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH_RE}(?:,?\s*(?P<y>\d{{4}}))?")
_DAYS_AGO = re.compile(r"(?P<n>\d{1,3})\s*(?:天前|days?\s+ago)")
_ZH_LAST_WEEK = re.compile(r"上个?(?:周|星期|礼拜)(?P<w>[一二三四五六日天1-7])")
_ZH_THIS_WEEK = re.compile(r"(?:这|本)(?:个)?(?:周|星期|礼拜)(?P<w>[一二三四五六日天1-7])")
_ZH_WEEKDAY_RE = re.compile(r"(?:周|星期|礼拜)(?P<w>[一二三四五六日天1-7])")
_EN_LAST = re.compile(rf"last\s+(?P<wd>{_WEEKDAY_RE})")
_EN_WEEKDAY = re.compile(rf"(?:on\s+)?(?P<wd>{'|'.join(_EN_WEEKDAYS)})")


def _en_weekday(token: str) -> int:
    return next(i for i, name in enumerate(_EN_WEEKDAYS) if name.startswith(token[:3]))


def _recent(today: date, weekday: int, *, strictly_before: bool = False) -> date:
    """The latest date on ``weekday`` not after today (before today if ``strictly_before``)."""
    back = (today.weekday() - weekday) % 7
    if back == 0 and strictly_before:
        back = 7
    return today - timedelta(days=back)


def _make(year: int | None, month: int, day: int, today: date) -> date | None:
    """A calendar date; with no year, the latest such date not after today."""
    try:
        if year is not None:
            return date(year, month, day)
        guess = date(today.year, month, day)
        return guess if guess <= today else date(today.year - 1, month, day)
    except ValueError:
        return None


def parse_date(text: str, today: date) -> tuple[date | None, str]:
    """Read a date at the start of ``text``; returns (date or None, the rest of the text)."""
    original = normalize(text)
    t = original.lower()
    same = len(t) == len(original)

    def rest(m: re.Match[str]) -> str:
        return (original if same else t)[m.end() :]

    for pattern, days in _RELATIVE:
        if m := pattern.match(t):
            return today - timedelta(days=days), rest(m)
    if m := _ISO.match(t):
        return _make(int(m["y"]), int(m["m"]), int(m["d"]), today), rest(m)
    if m := _ZH_MONTH_DAY.match(t):
        return _make(None, int(m["m"]), int(m["d"]), today), rest(m)
    for pattern in (_EN_MONTH_DAY, _EN_DAY_MONTH):
        if m := pattern.match(t):
            year = int(m["y"]) if m["y"] else None
            return _make(year, _EN_MONTHS.index(m["mon"]) + 1, int(m["d"]), today), rest(m)
    if m := _DAYS_AGO.match(t):
        return today - timedelta(days=int(m["n"])), rest(m)
    if m := _ZH_LAST_WEEK.match(t):
        monday = today - timedelta(days=today.weekday() + 7)
        return monday + timedelta(days=_ZH_WEEKDAY[m["w"]]), rest(m)
    if m := _ZH_THIS_WEEK.match(t):
        monday = today - timedelta(days=today.weekday())
        return monday + timedelta(days=_ZH_WEEKDAY[m["w"]]), rest(m)
    if m := _ZH_WEEKDAY_RE.match(t):
        return _recent(today, _ZH_WEEKDAY[m["w"]]), rest(m)
    if m := _EN_LAST.match(t):
        return _recent(today, _en_weekday(m["wd"]), strictly_before=True), rest(m)
    if (m := _EN_WEEKDAY.match(t)) and (m.end() == len(t) or not t[m.end()].isalpha()):
        return _recent(today, _en_weekday(m["wd"])), rest(m)
    return None, t


def validate_date(text: str, ctx: AnswerContext) -> Outcome:
    """A date not after today, stored as ``YYYY-MM-DD``; words after it ("昨天下午三点") are kept
    after the date so nothing the customer said is lost."""
    found, rest = parse_date(text, ctx.today)
    if found is None:
        return Invalid("invalid_date")
    if found > ctx.today:
        return Invalid("future_date")
    rest = rest.strip(" ,，.。")
    return Valid(f"{found.isoformat()} {rest}" if rest else found.isoformat())


# One class for what separates the answer from the rest: two ``\s*`` around optional parts
# would share a run of spaces and backtrack quadratically over it (tests/test_adversarial_text.py).
_SCORE = re.compile(r"([1-5])(?!\d)[\s分.,，。:：]*(.*)", re.S)
_TICKET_NUMBER = re.compile(r"[#＃\s]*(\d{10})(?!\d)[\s:：,，.。]*(.*)", re.S)


def _rest(text: str | None) -> str | None:
    return (text or "").strip() or None


def validate_score(text: str, ctx: AnswerContext) -> Outcome:
    """A satisfaction score 1-5 (stored as the digit), anything after it kept as ``rest``:
    "4 处理很快", "5分，谢谢"."""
    match = _SCORE.fullmatch(normalize(text))
    if match is None:
        return Invalid("invalid_score")
    return Valid(match.group(1), _rest(match.group(2)))


def validate_ticket_number(text: str, ctx: AnswerContext) -> Outcome:
    """A ticket number (ten digits, YYMMDD and the day's sequence) at the start of the text,
    the words after it kept as ``rest``: "2611230001 水壶还是漏水"."""
    match = _TICKET_NUMBER.fullmatch(normalize(text))
    if match is None:
        return Invalid("invalid_ticket_number")
    return Valid(match.group(1), _rest(match.group(2)))


_BARE_AMOUNT = re.compile(r"\s{0,3}(\d{1,9}(?:\.\d{1,2})?)\s{0,3}")


def validate_amount(text: str, ctx: AnswerContext) -> Outcome:
    """A money amount, stored as ¥200 or $35 (``dialogues.understanding.amount_in``); a bare
    number answering the amount question is in yuan."""
    value = normalize(text)
    found = amount_in(value)
    if found is not None:
        return Valid(str(found))
    bare = _BARE_AMOUNT.fullmatch(value[:40])
    if bare is not None:
        return Valid(str(Amount(float(bare.group(1)), "CNY")))
    return Invalid("invalid_amount")


VALIDATORS: Mapping[str, Validator] = {
    "text": validate_text,
    "phone": validate_phone,
    "choice": validate_choice,
    "date": validate_date,
    "reference_number": validate_reference,
    "amount": validate_amount,
    "score": validate_score,
    "ticket_number": validate_ticket_number,
}
"""Validator names a flow may use in ``validator:``."""
