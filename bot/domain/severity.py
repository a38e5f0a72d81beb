"""Severity rules: decide whether a complaint is major (重大) and record why.

They are ticket rules: they run inside the bot on plain text, not in Rasa, so a dead NLU server
never hides a complaint that management must hear about within 12 hours. The rules are data
(``bot/domain/data/severity.yaml``, setting ``nlu.severity_rules``) so an admin can add a keyword
without a release; the caller reads the file and hands its contents to ``parse_rules``.

Negations and hypotheticals are decided on purpose, not left to chance:

- A negated cue does not count: "没有人受伤", "nobody was hurt", "I won't call the police". The
  negation must be close before the cue, in the same clause (``negated``).
- A threat counts: "再不处理就报警", "I will go to the press". DOMAIN.md makes a threatened
  exposure major, so conditionals and futures of media, regulator, legal and police cues count.
- A near miss or a risk does not count for cues marked ``hypothetical: ignore`` (injury): "差点
  摔伤", "someone could get hurt" is a safety complaint, but nobody was harmed yet.

Every pattern here and in the file runs on text capped at ``MAX_TEXT`` characters, and no pattern
nests quantifiers, so a turn's worst case is bounded whatever the customer sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MAJOR = "major"
NORMAL = "normal"

MAX_TEXT = 4000
"""Characters of each text the rules read (the engine's own limit on a message)."""
MAX_TOTAL = 12000
"""Characters of all texts together (description and every other answer)."""

_NUMBER = r"(?<![\d,.])\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,4})?"
"""Starts only where a run of digits starts: from every digit of a long run, ``\\d+`` would
backtrack over the rest of it (quadratic; 5 000 digits took seconds)."""
_CURRENCY_AFTER = r"元|块钱|块|人民币|yuan|rmb|cny|kuai"
_AMOUNT_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(rf"(?:¥|￥|rmb|cny)\s?({_NUMBER})\s?(万|k\b)?", re.IGNORECASE), 1.0),
    (re.compile(rf"({_NUMBER})\s?(万|k)?\s?(?:{_CURRENCY_AFTER})", re.IGNORECASE), 1.0),
    (re.compile(rf"({_NUMBER})\s?(万)(?!人|个人|户|名|位)", re.IGNORECASE), 1.0),
    (re.compile(rf"(?:\$|usd|us\$)\s?({_NUMBER})\s?(k\b)?", re.IGNORECASE), 7.0),
    (re.compile(rf"({_NUMBER})\s?(k)?\s?(?:dollars|usd|bucks)", re.IGNORECASE), 7.0),
    (re.compile(rf"(?:£|gbp)\s?({_NUMBER})\s?(k\b)?", re.IGNORECASE), 9.0),
    (re.compile(rf"({_NUMBER})\s?(k)?\s?(?:pounds|quid|gbp)", re.IGNORECASE), 9.0),
    (re.compile(rf"(?:€|eur)\s?({_NUMBER})\s?(k\b)?", re.IGNORECASE), 8.0),
    (re.compile(rf"({_NUMBER})\s?(k)?\s?(?:euros?|eur)", re.IGNORECASE), 8.0),
)
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}  # fmt: skip
_CN_NUMERAL = "零一二两三四五六七八九十百"
_CN_AMOUNT = re.compile(rf"(?<![{_CN_NUMERAL}])([{_CN_NUMERAL}]{{1,12}})(万|千)(?:多)?(?:块|元)?")
_PEOPLE_ZH = r"个人|人|位|名|户|家|个家庭|个业主|个顾客|个客户|个家长|个学生|个住户"
_PEOPLE_EN = (
    r"people|persons|customers|clients|families|households|residents|neighbou?rs|users|members"
    r"|parents|students|guests|passengers|patients|kids|children|buyers|owners|tenants|victims"
    r"|employees|workers|of us"
)
_GROUP_DIGITS = re.compile(
    rf"(?<!\d)(\d{{1,12}})(?!\d)\+?\s?(?:多)?(?:{_PEOPLE_ZH})|(?<!\d)(\d{{1,12}})(?!\d)\+?\s(?:{_PEOPLE_EN})\b",
    re.IGNORECASE,
)
_GROUP_WORDS = re.compile(
    rf"((?<![{_CN_NUMERAL}])[{_CN_NUMERAL}]{{1,12}}|几十|上百|几百|十几|数十|好几十)(?:多)?(?:{_PEOPLE_ZH})"
)
_EN_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
            "ninety": 90}  # fmt: skip
_EN_VAGUE = {"a dozen": 12, "dozens of": 24, "a couple of dozen": 24, "scores of": 40,
             "hundreds of": 200, "a hundred": 100, "one hundred": 100, "over a hundred": 100,
             "more than a hundred": 100}  # fmt: skip
_EN_NUMBER = (
    "|".join(sorted(_EN_VAGUE, key=len, reverse=True))
    + rf"|(?:{'|'.join(_EN_TENS)})(?:[- ](?:{'|'.join(k for k, v in _EN_UNITS.items() if v < 10)}))?"
    + rf"|{'|'.join(sorted(_EN_UNITS, key=len, reverse=True))}"
)
_GROUP_EN_WORDS = re.compile(
    rf"(?<![a-z])({_EN_NUMBER})\s(?:(?:other|more|different|angry|local)\s)?(?:{_PEOPLE_EN})\b",
    re.IGNORECASE,
)

_CLAUSE_BREAK = re.compile(
    r"[。！？!?；;\n，,.]|\b(?:but|however|and|so|then|because)\b|但是|但|可是|不过|然而|而且|所以|然后|结果"
)
_LATIN_WORD = re.compile(r"[a-z']{1,20}")
_ZH_ADJACENT_NEGATIONS = ("没", "未", "无", "不", "别", "非")
_EN_STOP_WORDS = frozenset({"stop", "stopped", "stopping", "quit"})
"""A negation before "stop" keeps the cue: "couldn't stop throwing up" is still illness."""
_WINDOW = 40
"""Characters before a cue that may hold its negation or hypothetical (then cut at the clause)."""


@dataclass(frozen=True, slots=True)
class Blockers:
    """Words that cancel a cue before it in the same clause (see the module docstring)."""

    negations_zh: tuple[str, ...] = ()
    negations_en: frozenset[str] = frozenset()
    hypotheticals_zh: tuple[str, ...] = ()
    hypotheticals_en: tuple[re.Pattern[str], ...] = ()

    def clause_before(self, folded: str, start: int) -> str:
        return _CLAUSE_BREAK.split(folded[max(0, start - _WINDOW) : start])[-1]

    def negated(self, clause: str) -> bool:
        """A negation word close before the cue: "没有人受伤", "no one was hurt", "won't sue"."""
        if clause.endswith(_ZH_ADJACENT_NEGATIONS):  # 没受伤, 不报警: only right before the cue
            return True
        if any(word in clause[-6:] for word in self.negations_zh):
            return True
        words = _LATIN_WORD.findall(clause)[-6:]
        if words and words[-1] in _EN_STOP_WORDS:
            return False
        return any(w in self.negations_en or w.endswith("n't") for w in words)

    def hypothetical(self, clause: str) -> bool:
        """A near miss or a risk: "差点摔伤", "someone could get hurt"."""
        if any(word in clause[-12:] for word in self.hypotheticals_zh):
            return True
        return any(p.search(clause) for p in self.hypotheticals_en)


@dataclass(frozen=True, slots=True)
class Cue:
    name: str
    reason_zh: str
    reason_en: str
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    counts_hypothetical: bool = True
    """False for harm that must have happened (injury); True where a threat is the cue."""

    def find(self, folded: str, blockers: Blockers) -> str | None:
        """The first occurrence that is neither negated nor (when it matters) hypothetical."""
        for start, found in self._occurrences(folded):
            clause = blockers.clause_before(folded, start)
            if blockers.negated(clause):
                continue
            if not self.counts_hypothetical and blockers.hypothetical(clause):
                continue
            return found
        return None

    def _occurrences(self, folded: str) -> Iterator[tuple[int, str]]:
        for pattern in self.patterns:
            for match in pattern.finditer(folded):
                yield match.start(), match.group(0)


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
    blockers: Blockers = Blockers()

    def assess(self, text: str, fields: Mapping[str, Any] | None = None) -> tuple[str, list[dict[str, str]]]:
        """Return ``("major", reasons)`` when any rule fires, else ``("normal", [])``.

        Each reason names its rule, the reason in both languages and the words that fired it."""
        full = "\n".join(t[:MAX_TEXT] for t in _texts(text, fields or {}))[:MAX_TOTAL]
        folded = _fold(full)
        reasons: list[dict[str, str]] = []
        for cue in self.cues:
            found = cue.find(folded, self.blockers)
            if found is not None:
                reasons.append(_reason(cue.name, cue.reason_zh, cue.reason_en, found))
        amount = largest_amount(folded)
        if amount is not None and amount >= self.money.value:
            reasons.append(_reason("money", self.money.reason_zh, self.money.reason_en, f"{amount:g}"))
        people = largest_group(folded)
        if people is not None and people >= self.group.value:
            reasons.append(_reason("group", self.group.reason_zh, self.group.reason_en, str(people)))
        return (MAJOR if reasons else NORMAL), reasons


def _fold(text: str) -> str:
    """Lower case with positions kept (``casefold`` may lengthen a text, ``lower`` rarely does)."""
    folded = text.lower()
    return folded if len(folded) == len(text) else text


def _reason(rule: str, zh: str, en: str, match: str) -> dict[str, str]:
    return {"rule": rule, "reason": zh, "reason_en": en, "match": match}


def _texts(text: str, fields: Mapping[str, Any]) -> Iterable[str]:
    yield text
    for key, value in fields.items():
        if key in {"description", "phone", "references", "evidence", "category", "category_source",
                   "language", "ticket_kind"}:  # fmt: skip
            continue
        if isinstance(value, str):
            yield value
        elif key == "nlu_entities" and isinstance(value, list):
            yield from (str(e.get("value", "")) for e in value[:50] if isinstance(e, dict))


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


def _english_number(words: str) -> int | None:
    words = " ".join(words.lower().split())
    if words in _EN_VAGUE:
        return _EN_VAGUE[words]
    if words in _EN_UNITS:
        return _EN_UNITS[words]
    head, _, unit = words.replace("-", " ").partition(" ")
    if head in _EN_TENS:
        return _EN_TENS[head] + (_EN_UNITS.get(unit, 0) if unit else 0)
    return None


def largest_amount(text: str) -> float | None:
    """The largest money amount in yuan mentioned in ``text``, or None."""
    text = text[:MAX_TOTAL]
    found: list[float] = []
    for pattern, rate in _AMOUNT_PATTERNS:
        for match in pattern.finditer(text):
            value = float(match.group(1).replace(",", ""))
            scale = (match.group(2) or "").lower()
            value *= 10_000 if scale == "万" else 1_000 if scale == "k" else 1
            found.append(value * rate)
    for match in _CN_AMOUNT.finditer(text):
        number = _chinese_number(match.group(1))
        if number is not None:
            found.append(number * (10_000 if match.group(2) == "万" else 1_000))
    return max(found) if found else None


def largest_group(text: str) -> int | None:
    """The largest head count mentioned (``12个人``, ``十几个人``, ``30 of us``, ``a dozen
    families``), or None."""
    text = text[:MAX_TOTAL]
    found: list[int] = []
    for match in _GROUP_DIGITS.finditer(text):
        digits = match.group(1) or match.group(2)
        if len(digits) <= 6:
            found.append(int(digits))
    vague = {"十几": 10, "几十": 20, "数十": 20, "好几十": 30, "上百": 100, "几百": 200}
    for match in _GROUP_WORDS.finditer(text):
        word = match.group(1)
        number = vague.get(word) if word in vague else _chinese_number(word)
        if number is not None:
            found.append(number)
    for match in _GROUP_EN_WORDS.finditer(text):
        number = _english_number(match.group(1))
        if number is not None:
            found.append(number)
    return max(found) if found else None


def _keyword_pattern(keywords: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation of literal keywords; Latin ones only as whole words ("sue" not in "issue")."""
    parts = []
    for keyword in sorted({k.lower() for k in keywords if k}, key=len, reverse=True):
        literal = re.escape(keyword)
        parts.append(rf"(?<![a-z0-9]){literal}(?![a-z0-9])" if keyword.isascii() else literal)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _word(words: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z]){re.escape(words)}(?![a-z])")


def _languages(raw: Any, key: str) -> tuple[list[str], list[str]]:
    section = (raw or {}).get(key) or {}
    found: dict[str, list[str]] = {}
    for language in ("zh", "en"):
        words = section.get(language) or ()
        if any(isinstance(w, bool) for w in words):  # YAML reads a bare no/yes as a boolean
            raise ValueError(f'{key}.{language}: quote yes/no words, e.g. "no"')
        found[language] = [str(w).lower() for w in words]
    return found["zh"], found["en"]


def parse_rules(raw: Any) -> SeverityRules:
    """The rules from the file's parsed contents; ``ValueError`` says what is wrong with them."""
    try:
        cues = []
        for name, spec in ((raw or {}).get("cues") or {}).items():
            raw_keywords = spec.get("keywords") or ()
            if any(isinstance(k, bool) for k in raw_keywords):
                raise ValueError(f'cue {name}: quote yes/no keywords, e.g. "no"')
            keywords = tuple(str(k).lower() for k in raw_keywords)
            literal = _keyword_pattern(keywords)
            patterns = tuple(re.compile(str(p), re.IGNORECASE) for p in spec.get("patterns") or ())
            hypothetical = str(spec.get("hypothetical", "count"))
            if hypothetical not in ("count", "ignore"):
                raise ValueError(f"cue {name}: hypothetical must be count or ignore, not {hypothetical!r}")
            cues.append(
                Cue(
                    name=str(name),
                    reason_zh=str(spec["reason"]["zh"]),
                    reason_en=str(spec["reason"]["en"]),
                    keywords=keywords,
                    patterns=((literal,) if literal else ()) + patterns,
                    counts_hypothetical=hypothetical == "count",
                )
            )
        negations_zh, negations_en = _languages(raw, "negations")
        hypotheticals_zh, hypotheticals_en = _languages(raw, "hypotheticals")
        blockers = Blockers(
            negations_zh=tuple(negations_zh),
            negations_en=frozenset(negations_en),
            hypotheticals_zh=tuple(hypotheticals_zh),
            hypotheticals_en=tuple(_word(w) for w in hypotheticals_en),
        )
        money, group = raw["money"], raw["group"]
        return SeverityRules(
            cues=tuple(cues),
            money=Threshold(float(money["threshold"]), money["reason"]["zh"], money["reason"]["en"]),
            group=Threshold(float(group["threshold"]), group["reason"]["zh"], group["reason"]["en"]),
            blockers=blockers,
        )
    except (AttributeError, KeyError, TypeError, ValueError, re.error) as exc:
        raise ValueError(f"{exc.__class__.__name__}: {exc}") from exc
