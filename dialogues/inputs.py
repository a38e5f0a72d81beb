"""Reading what the customer typed: cleaning, keypad keys, global commands and answer words.

Everything here is a constant table or a pure function, shared by ``step`` and ``wants_nlu`` so
the two always agree on what a message means.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dialogues.types import Language

# C0/C1 controls except tab and newline, zero-width space, bidi overrides and the BOM. ZWJ and
# variation selectors stay: emoji sequences need them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TRAILING = "。.!！~～、,，)）"
_KEY = re.compile(r"[0-9]{1,2}|#|\*")
_BOT_SUFFIX = re.compile(r"^(/[a-z_]+)@\w+")


def clean(text: str) -> str:
    """Drop control characters, unify newlines and trim; the text the engine interprets."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def fold(text: str) -> str:
    """A comparison form: full-width to ASCII, case-folded, trailing punctuation dropped.

    A turn folds the same message and the same menu labels several times, so short texts are
    remembered (keys, labels, answer words); long free text is folded afresh."""
    return _fold_short(text) if len(text) <= _REMEMBERED_LENGTH else _fold(text)


_REMEMBERED_LENGTH = 64


def _fold(text: str) -> str:
    normalized = text if text.isascii() else unicodedata.normalize("NFKC", text)  # ASCII is NFKC
    folded = normalized.strip().casefold()
    stripped = folded.rstrip(_TRAILING).strip()
    return stripped or folded


_fold_short = functools.lru_cache(maxsize=2048)(_fold)


def as_key(text: str) -> str | None:
    """The keypad key a message stands for ("1", "１", "1." -> "1"; "#", "*"), else None."""
    folded = fold(text)
    return folded if _KEY.fullmatch(folded) else None


@dataclass(frozen=True, slots=True)
class Command:
    kind: str  # restart, cancel, help, progress, human, language
    value: str | None = None  # progress: a ticket number; language: zh, en or None (toggle)


_COMMAND_WORDS: tuple[tuple[Command, str], ...] = (
    (Command("restart"), "重新开始|重来|从头开始|从头来|restart|/start|/restart|start over|start again"),
    (Command("cancel"), "取消|取消投诉|取消服务|cancel|/cancel"),
    (Command("help"), "帮助|help|/help|?|怎么用|怎么操作|how does this work|how does this work?"),
    (
        Command("progress"),
        "进度|查询进度|查进度|工单进度|查一下进度|我的工单|progress|/status|/progress|status"
        "|check my ticket|my ticket|ticket status|check progress",
    ),
    (
        Command("human"),
        "人工|转人工|人工客服|人工服务|找人工|我要人工|找客服|真人|找真人|human|/human|agent|/agent|0"
        "|a person|talk to a person|speak to a person|talk to someone|speak to someone|talk to a human"
        "|a real person|real person",
    ),
    (Command("language"), "语言|language|/lang|/language|切换语言"),
    (
        Command("language", "en"),
        "english|/english|英文|英语|english please|english, please|in english|speak english"
        "|switch to english|说英文|说英语|用英文|用英语|请用英文|请说英文|英文服务",
    ),
    (
        Command("language", "zh"),
        "中文|chinese|/chinese|汉语|简体中文|说中文|请说中文|讲中文|用中文|请用中文|中文服务"
        "|chinese please|chinese, please|in chinese|speak chinese|switch to chinese",
    ),
)
"""Each command's whole-message forms, ``|``-separated: the menu words, the slash commands and
the phrases customers write ("English please", "说中文", "talk to a person")."""
COMMANDS: Mapping[str, Command] = MappingProxyType(
    {word: command for command, words in _COMMAND_WORDS for word in words.split("|")}
)
"""Whole messages that are commands, in their folded form."""

_PROGRESS_WITH_NUMBER = re.compile(
    r"(?:进度|查询进度|查进度|工单进度|查询工单|progress|/status|/progress|status)"
    r"\s*(?:[:：]\s*)?(?:(?:工单号?|no\.?|#)\s*)?(?P<number>[a-z]{0,4}\d{6,20})"
)
"""Each ``\\s*`` is followed by a required token, so no two of them compete for the same spaces
(three adjacent ``\\s*`` made "status" + 800 spaces take seconds)."""

COMMAND_LENGTH = 64
"""A command is a short message; longer text is never scanned for one."""


def parse_command(text: str) -> Command | None:
    """A global command (any step, zh, en and slash forms), or None."""
    if len(text) > COMMAND_LENGTH:
        return None
    folded = fold(text)
    if folded.startswith("/"):  # "/start@tousu_bot" -> "/start"
        folded = _BOT_SUFFIX.sub(r"\1", folded)
    found = COMMANDS.get(folded)
    if found is not None:
        return found
    if match := _PROGRESS_WITH_NUMBER.fullmatch(folded):
        return Command("progress", match.group("number").upper())
    return None


def ticket_number_in(text: str) -> str | None:
    """A ticket number quoted in free text (used when the NLU says query_status)."""
    match = re.search(r"(?<![0-9A-Za-z])([A-Za-z]{0,4}\d{6,20})(?![0-9A-Za-z])", fold(text))
    return match.group(1).upper() if match else None


YES_WORDS = frozenset(
    {"是", "是的", "对", "对的", "没错", "好", "好的", "确认", "确定", "可以", "yes", "y", "yep", "ok",
     "okay", "confirm", "correct", "sure", "right"}
)  # fmt: skip
NO_WORDS = frozenset({"不是", "不对", "否", "不", "错", "no", "n", "nope", "wrong", "not really"})
CONFIRM_WORDS = YES_WORDS | frozenset(
    {"没问题", "没有问题", "都对", "都没问题", "对了", "提交", "提交吧", "确认提交", "可以提交", "就这样",
     "就这样吧", "没错的", "准确", "submit", "submit it", "send it", "go ahead", "looks good", "all good",
     "all correct", "that's right", "that's correct", "yes please", "correct"}
)  # fmt: skip
"""What confirms a summary: a yes, or a few of these joined ("没问题，提交吧", "yes, submit it")."""
_CLAUSES = re.compile(r"\s*[,，、;；.。!！]\s*|\s+(?:and|then)\s+")
EDIT_WORDS = frozenset({"修改", "更改", "改", "改一下", "edit", "change", "modify"})
DONE_WORDS = frozenset({"完成", "好了", "发完了", "没有了", "就这些", "done", "finished", "that's all"})
SKIP_WORDS = frozenset(
    {"跳过", "略过", "不填", "无", "没有", "不清楚", "不记得", "不记得了", "忘了", "不知道", "skip",
     "none", "n/a", "pass", "no", "don't know", "not sure"}
)  # fmt: skip


def is_word(text: str, words: frozenset[str]) -> bool:
    return fold(text) in words


def is_confirmation(text: str) -> bool:
    """Whether a short answer confirms a summary: every clause of it is a confirming word."""
    if len(text) > NOTHING_LENGTH:
        return False
    clauses = [c for c in _CLAUSES.split(fold(text)) if c]
    return bool(clauses) and all(c in CONFIRM_WORDS for c in clauses)


_EVIDENCE_ZH = "(?:照片|图片|相片|证据|凭证|收据|截图|文件|发票|小票)"
_EVIDENCE_EN = r"(?:photos?|pictures?|images?|receipts?|evidence|screenshots?|files?|proof)"
_NOTHING_TO_SEND = re.compile(
    rf"(?:我)?(?:手上|手里|这边)?(?:没有|没|无|暂无|不需要|不用)(?:什么|任何)?{_EVIDENCE_ZH}?(?:了|呢|哦)?"
    rf"|(?:i )?(?:have |'ve got |got )?(?:no|none|nothing)(?: {_EVIDENCE_EN})?(?: to send)?"
    rf"|i (?:don't|do not|didn't|did not) (?:have|keep|take) (?:any(?:thing)?|one)(?: {_EVIDENCE_EN})?"
)
NOTHING_LENGTH = 40


def nothing_to_send(text: str) -> bool:
    """Whether the answer to an evidence question says there is nothing ("没有照片", "no photos",
    "I don't have any"), beside the bare skip and done words. Short texts only."""
    if len(text) > NOTHING_LENGTH:
        return False
    folded = fold(text)
    return folded in DONE_WORDS or folded in SKIP_WORDS or _NOTHING_TO_SEND.fullmatch(folded) is not None


def matches_label(text: str, labels: Iterable[str]) -> bool:
    """Whether the customer typed one of the labels (any language, case and width folded)."""
    wanted = fold(text)
    return any(wanted == fold(label) for label in labels)


def other_language(language: Language) -> Language:
    return "en" if language == "zh" else "zh"


_BARE_ZH = sorted(
    {"你好", "您好", "请问", "麻烦", "请", "帮我", "帮", "我", "本人", "想要", "想", "要", "需要", "希望",
     "有", "一件", "一个", "个", "件", "事情", "事", "一下", "你们", "公司", "向", "对", "的", "服务", "了",
     "吗", "怎么", "弄", "办理", "提交", "登记", "投诉", "咨询", "问题", "问", "建议", "意见", "提", "反映",
     "举报", "情况", "点"},
    key=len,
    reverse=True,
)  # fmt: skip
_BARE_EN = frozenset(
    {"i", "i'd", "i'm", "i've", "want", "would", "like", "to", "make", "a", "an", "file", "lodge", "raise",
     "put", "in", "have", "got", "please", "hello", "hi", "hey", "can", "could", "how", "do", "need", "wish",
     "register", "for", "me", "submit", "report", "something", "problem", "question", "ask", "give",
     "complaint", "complain", "suggestion", "suggest", "idea", "feedback", "there", "just", "quick", "one",
     "some", "you", "your", "company", "about", "with", "is", "it", "possible"}
)  # fmt: skip
_PUNCT_OR_SPACE = re.compile(r"[\s\W_]+")
BARE_LENGTH = 40


def is_bare_request(text: str) -> bool:
    """Whether the text only announces a request ("我想投诉一下", "I have a question") without
    saying what it is about: then it picks the path but is not kept as the answer to its first
    question, which is asked instead."""
    if len(text) > BARE_LENGTH:
        return False
    rest = fold(text)
    words = re.findall(r"[a-z']+", rest)
    if any(w not in _BARE_EN for w in words):
        return False
    rest = re.sub(r"[a-z']+", "", rest)
    for word in _BARE_ZH:
        rest = rest.replace(word, "")
    return not _PUNCT_OR_SPACE.sub("", rest)
