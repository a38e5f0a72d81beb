"""Rasa's regex and lookup-table entity extraction, run once per pattern over a whole batch.

Rasa's ``RegexEntityExtractor`` calls ``re.finditer`` for every pattern on every message; with
~20 patterns that was a third of the server's time for a batch of 50 texts. Here the batch's
texts are joined with NUL between them and each pattern runs once over the joined text; every
match is mapped back to its text by offset.

That gives exactly Rasa's matches only for a pattern that cannot match NUL and has no anchors
other than word boundaries: then no match can span two texts, and a NUL next to a text looks to
every part of the pattern (lookarounds included) like the end of the string does. Any other
pattern runs text by text as in Rasa. Entities come out in Rasa's order (pattern by pattern,
then by position) with the same fields.
"""

from __future__ import annotations

import bisect
import re
import sys
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

if sys.version_info >= (3, 11):  # noqa: UP036 - Rasa's virtualenv runs Python 3.10
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
else:
    import sre_constants as sre
    import sre_parse

SEPARATOR = "\x00"
_SAFE_ANCHORS = {sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY, sre.AT_UNI_BOUNDARY, sre.AT_UNI_NON_BOUNDARY}
_NOT_CATEGORIES = {
    sre.CATEGORY_NOT_DIGIT,
    sre.CATEGORY_NOT_SPACE,
    sre.CATEGORY_NOT_WORD,
    sre.CATEGORY_NOT_LINEBREAK,
    sre.CATEGORY_UNI_NOT_DIGIT,
    sre.CATEGORY_UNI_NOT_SPACE,
    sre.CATEGORY_UNI_NOT_WORD,
    sre.CATEGORY_UNI_NOT_LINEBREAK,
}


def joinable(pattern: str, flags: int = 0) -> bool:
    """True when no part of ``pattern`` can match NUL and its only anchors are word boundaries."""
    try:
        return _safe(list(sre_parse.parse(pattern, flags)))
    except (re.error, TypeError, ValueError):
        return False


def _safe(items: list[tuple[Any, Any]]) -> bool:
    for op, arg in items:
        if op is sre.LITERAL:
            if arg == 0:
                return False
        elif op is sre.IN:
            if not _safe_set(arg):
                return False
        elif op is sre.AT:
            if arg not in _SAFE_ANCHORS:
                return False
        elif op is sre.SUBPATTERN:
            if not _safe(list(arg[-1])):
                return False
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) or op.name == "POSSESSIVE_REPEAT":
            if not _safe(list(arg[2])):
                return False
        elif op is sre.BRANCH:
            if not all(_safe(list(branch)) for branch in arg[1]):
                return False
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            if not _safe(list(arg[-1])):
                return False
        elif op.name == "ATOMIC_GROUP":
            if not _safe(list(arg)):
                return False
        elif op is sre.GROUPREF:  # repeats what a group matched, which was checked itself
            continue
        else:  # ANY, NOT_LITERAL, conditionals and anything newer: not proven safe
            return False
    return True


def _safe_set(members: list[tuple[Any, Any]]) -> bool:
    for op, arg in members:
        if op is sre.NEGATE:
            return False
        if op is sre.LITERAL and arg == 0:
            return False
        if op is sre.RANGE and arg[0] == 0:
            return False
        if op is sre.CATEGORY and arg in _NOT_CATEGORIES:
            return False
        if op not in (sre.LITERAL, sre.RANGE, sre.CATEGORY):
            return False
    return True


_CATEGORY_ESCAPES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_UNI_DIGIT: r"\d",
    sre.CATEGORY_UNI_SPACE: r"\s",
    sre.CATEGORY_UNI_WORD: r"\w",
}


def with_first_chars(pattern: str, flags: int = 0) -> str:
    """``pattern`` behind a lookahead for the characters a match can start with, where that
    helps; else ``pattern`` as it is. The lookahead consumes nothing and only refuses positions
    where no match can start, so the matches are the same.

    Why: Python's engine skips quickly to possible starts only when it can see them, and it
    cannot when the pattern opens with a lookbehind or, under IGNORECASE, with a letter; Rasa's
    lookup tables are such alternations, and they were most of the extraction time (one table
    216 us of 1.4 ms for 50 texts, 74 us with the lookahead). Where the engine already sees the
    start (digits, Chinese) or the start is a letter range, the lookahead only costs, so it is
    left off (measured per pattern: bench/RESULTS.md, "NLU")."""
    try:
        parsed = sre_parse.parse(pattern, flags)
        items = list(parsed)
        firsts = _firsts(items)
        inline = sre_parse.parse(pattern).state.flags != sre_parse.parse("").state.flags
    except (re.error, TypeError, ValueError):
        return pattern
    if inline or not firsts or any(kind == "range" for kind, _ in firsts):
        return pattern  # inline global flags, e.g. (?i), must stay at the very start
    opens_blind = items[0][0] in (sre.ASSERT, sre.ASSERT_NOT)
    cased = bool(flags & re.IGNORECASE) and any(
        kind == "literal" and value.lower() != value.upper() for kind, value in firsts
    )
    if not (opens_blind or cased):
        return pattern
    members = "".join(sorted(re.escape(v) if k == "literal" else v for k, v in firsts))
    return f"(?=[{members}])(?:{pattern})"


def _firsts(items: list[tuple[Any, Any]]) -> set[tuple[str, str]] | None:
    """("literal", char), ("category", escape) or ("range", "a-z") for every character a match
    of ``items`` can start with; None when unknown or when it can match without consuming."""
    for op, arg in items:
        if op in (sre.ASSERT, sre.ASSERT_NOT) or (op is sre.AT and arg in _SAFE_ANCHORS):
            continue  # consumes nothing: the first character comes from what follows
        if op is sre.LITERAL:
            return {("literal", chr(arg))}
        if op is sre.IN:
            members: set[tuple[str, str]] = set()
            for member, value in arg:
                if member is sre.LITERAL:
                    members.add(("literal", chr(value)))
                elif member is sre.RANGE:
                    members.add(("range", f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}"))
                elif member is sre.CATEGORY and value in _CATEGORY_ESCAPES:
                    members.add(("category", _CATEGORY_ESCAPES[value]))
                else:
                    return None
            return members
        if op is sre.SUBPATTERN:
            return _firsts(list(arg[-1]))
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:
            return _firsts(list(arg[2])) if arg[0] >= 1 else None
        if op is sre.BRANCH:
            union: set[tuple[str, str]] = set()
            for branch in arg[1]:
                found = _firsts(list(branch))
                if found is None:
                    return None
                union |= found
            return union
        return None
    return None  # nothing consumed: an empty match is possible


def find_entities(
    patterns: list[tuple[str, re.Pattern[str], bool]], texts: list[str]
) -> list[list[dict[str, Any]]]:
    """Each text's matches in Rasa's order; ``patterns`` are (entity, compiled, joinable)."""
    found: list[list[dict[str, Any]]] = [[] for _ in texts]
    starts: list[int] = []
    offset = 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 1
    joined = SEPARATOR.join(texts)
    for name, compiled, can_join in patterns:
        if not can_join:
            for index, text in enumerate(texts):
                found[index].extend(_entity(name, m.start(), m.end(), text) for m in compiled.finditer(text))
            continue
        for match in compiled.finditer(joined):
            index = bisect.bisect_right(starts, match.start()) - 1
            base = starts[index]
            found[index].append(_entity(name, match.start() - base, match.end() - base, texts[index]))
    return found


def _entity(name: str, start: int, end: int, text: str) -> dict[str, Any]:
    return {"entity": name, "start": start, "end": end, "value": text[start:end]}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class BatchRegexEntityExtractor(RegexEntityExtractor):
    """``RegexEntityExtractor`` (same training, same stored patterns) scoring batches at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiled: list[tuple[str, re.Pattern[str], bool]] = []
        self._compiled_from: Any = None

    def _patterns(self) -> list[tuple[str, re.Pattern[str], bool]]:
        if self._compiled_from is not self.patterns:  # first use, or trained since
            self._compiled_from = self.patterns
            flags = 0 if self.case_sensitive else re.IGNORECASE
            self._compiled = [
                (
                    p["name"],
                    re.compile(with_first_chars(p["pattern"], flags), flags),
                    joinable(p["pattern"], flags),
                )
                for p in self.patterns
            ]
        return self._compiled

    def process(self, messages: list[Message]) -> list[Message]:
        if not self.patterns:
            return super().process(messages)
        texts = [message.get(TEXT) or "" for message in messages]
        for message, entities in zip(messages, find_entities(self._patterns(), texts), strict=True):
            message.set(
                ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(entities), add_to_output=True
            )
        return messages
