"""Severity rules: decide whether a complaint is major (重大) and record why.

They are ticket rules: they run inside the bot on plain text, not in Rasa, so a dead NLU server
never hides a complaint that management must hear about within 12 hours. The rules are data
(``bot/domain/data/severity.yaml``, setting ``nlu.severity_rules``) so an admin can add a keyword
without a release; the caller reads the file and hands its contents to ``parse_rules``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAJOR = "major"
NORMAL = "normal"

_NUMBER = r"(?<![\d,.])\d+(?:,\d{3})*(?:\.\d+)?"
"""Starts only where a run of digits starts: from every digit of a long run, ``\\d+`` would
backtrack over the rest of it (quadratic; 5 000 digits took seconds)."""
_AMOUNT_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(rf"(?:¥|￥|RMB|CNY)\s?({_NUMBER})\s?(万)?", re.IGNORECASE), 1.0),
    (re.compile(rf"({_NUMBER})\s?(万)?\s?(?:元|块钱|块|人民币|yuan|rmb|cny)", re.IGNORECASE), 1.0),
    (re.compile(rf"({_NUMBER})\s?(万)(?!人)", re.IGNORECASE), 1.0),
    (re.compile(rf"(?:\$|USD|US\$)\s?({_NUMBER})()", re.IGNORECASE), 7.0),
    (re.compile(rf"({_NUMBER})()\s?(?:dollars|usd|bucks)", re.IGNORECASE), 7.0),
)
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMERAL = "一二两三四五六七八九十百"
_CN_AMOUNT = re.compile(rf"(?<![{_CN_NUMERAL}])([{_CN_NUMERAL}]{{1,12}})(万|千)(?:多)?(?:块|元)?")
_GROUP_DIGITS = re.compile(
    r"(?<!\d)(\d{1,12})(?!\d)\s?(?:多)?"
    r"(?:个人|人|位|名|户|家|people|persons|customers|families|residents|of us)",
    re.IGNORECASE,
)
_GROUP_WORDS = re.compile(
    rf"((?<![{_CN_NUMERAL}])[{_CN_NUMERAL}]{{1,12}}|几十|上百|几百|十几)(?:多)?(?:个人|人|位|名|户|家)"
)


@dataclass(frozen=True, slots=True)
class Cue:
    name: str
    reason_zh: str
    reason_en: str
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    def find(self, text: str, folded: str) -> str | None:
        for keyword in self.keywords:
            if keyword in folded:
                return keyword
        for pattern in self.patterns:
            match = pattern.search(text)
            if match:
                return match.group(0)
        return None


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class SeverityRules:
    cues: tuple[Cue, ...]
    money: Threshold
    group: Threshold

    def assess(self, text: str, fields: Mapping[str, Any] | None = None) -> tuple[str, list[dict[str, str]]]:
        """Return ``("major", reasons)`` when any rule fires, else ``("normal", [])``."""
        full = "\n".join(_texts(text, fields or {}))
        folded = full.casefold()
        reasons: list[dict[str, str]] = []
        for cue in self.cues:
            found = cue.find(full, folded)
            if found is not None:
                reasons.append(_reason(cue.name, cue.reason_zh, cue.reason_en, found))
        amount = largest_amount(full)
        if amount is not None and amount >= self.money.value:
            reasons.append(_reason("money", self.money.reason_zh, self.money.reason_en, f"{amount:g}"))
        people = largest_group(full)
        if people is not None and people >= self.group.value:
            reasons.append(_reason("group", self.group.reason_zh, self.group.reason_en, str(people)))
        return (MAJOR if reasons else NORMAL), reasons


def _reason(rule: str, zh: str, en: str, match: str) -> dict[str, str]:
    return {"rule": rule, "reason": zh, "reason_en": en, "match": match}


def _texts(text: str, fields: Mapping[str, Any]) -> Iterable[str]:
    yield text
    for key, value in fields.items():
        if key in {"description", "phone", "references", "evidence"}:
            continue
        if isinstance(value, str):
            yield value
        elif key == "nlu_entities" and isinstance(value, list):
            yield from (str(e.get("value", "")) for e in value if isinstance(e, dict))


def _chinese_number(word: str) -> int | None:
    """Small Chinese numerals (一 .. 九百九十九); enough for amounts and head counts in a chat."""
    if not word:
        return None
    total, current = 0, 0
    for char in word:
        if char in _CN_DIGITS:
            current = _CN_DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def largest_amount(text: str) -> float | None:
    """The largest money amount in yuan mentioned in ``text``, or None."""
    found: list[float] = []
    for pattern, rate in _AMOUNT_PATTERNS:
        for match in pattern.finditer(text):
            value = float(match.group(1).replace(",", ""))
            if match.group(2) == "万":
                value *= 10_000
            found.append(value * rate)
    for match in _CN_AMOUNT.finditer(text):
        number = _chinese_number(match.group(1))
        if number is not None:
            found.append(number * (10_000 if match.group(2) == "万" else 1_000))
    return max(found) if found else None


def largest_group(text: str) -> int | None:
    """The largest head count mentioned (``12个人``, ``十几个人``, ``30 of us``), or None."""
    found: list[int] = [int(m.group(1)) for m in _GROUP_DIGITS.finditer(text) if len(m.group(1)) <= 6]
    for match in _GROUP_WORDS.finditer(text):
        word = match.group(1)
        if word in {"几十", "上百", "几百", "十几"}:
            found.append({"十几": 10, "几十": 20, "上百": 100, "几百": 200}[word])
        else:
            number = _chinese_number(word)
            if number is not None:
                found.append(number)
    return max(found) if found else None


def parse_rules(raw: Any) -> SeverityRules:
    """The rules from the file's parsed contents; ``ValueError`` says what is wrong with them."""
    try:
        cues = tuple(
            Cue(
                name=str(name),
                reason_zh=str(spec["reason"]["zh"]),
                reason_en=str(spec["reason"]["en"]),
                keywords=tuple(str(k).casefold() for k in spec.get("keywords") or ()),
                patterns=tuple(re.compile(str(p), re.IGNORECASE) for p in spec.get("patterns") or ()),
            )
            for name, spec in ((raw or {}).get("cues") or {}).items()
        )
        money, group = raw["money"], raw["group"]
        return SeverityRules(
            cues=cues,
            money=Threshold(float(money["threshold"]), money["reason"]["zh"], money["reason"]["en"]),
            group=Threshold(float(group["threshold"]), group["reason"]["zh"], group["reason"]["en"]),
        )
    except (AttributeError, KeyError, TypeError, ValueError, re.error) as exc:
        raise ValueError(f"{exc.__class__.__name__}: {exc}") from exc
