"""A tiny condition language over slots, for branch steps and the attachment rule.

Grammar: ``slot``, ``not slot``, ``slot == 'x'``, ``slot != 2``, ``slot in ['a', 'b']``,
``slot not in [...]``, combined with ``and``/``or`` and parentheses. It is parsed, never
``eval``-ed, so a flow file can do nothing but compare slots, and the validator can list the
slots a condition reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool | None


class ConditionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Truthy:
    slot: str


@dataclass(frozen=True, slots=True)
class Compare:
    slot: str
    op: str  # ==, !=, in, not in
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class AllOf:
    operands: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    operands: tuple[Condition, ...]


Condition = Truthy | Compare | Not | AllOf | AnyOf

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^']*'|\"[^\"]*\")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|[()\[\],])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "none"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ConditionError(f"cannot read {text[pos:].strip()!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "name" and value.lower() in _KEYWORDS:
            kind = "kw"
            value = value.lower()
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        _, got = self.take()
        if got != value:
            raise ConditionError(f"expected {value!r}, found {got or 'the end'!r}")

    def parse(self) -> Condition:
        if not self.tokens:
            raise ConditionError("empty condition")
        cond = self.any_of()
        if self.peek()[0] != "end":
            raise ConditionError(f"unexpected {self.peek()[1]!r}")
        return cond

    def any_of(self) -> Condition:
        parts = [self.all_of()]
        while self.peek() == ("kw", "or"):
            self.take()
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def all_of(self) -> Condition:
        parts = [self.negation()]
        while self.peek() == ("kw", "and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def negation(self) -> Condition:
        if self.peek() == ("kw", "not"):
            self.take()
            return Not(self.negation())
        return self.atom()

    def atom(self) -> Condition:
        kind, value = self.take()
        if value == "(":
            inner = self.any_of()
            self.expect(")")
            return inner
        if kind != "name":
            raise ConditionError(f"expected a slot name, found {value or 'the end'!r}")
        slot = value
        nxt = self.peek()
        if nxt[1] in ("==", "!="):
            self.take()
            return Compare(slot, nxt[1], self.scalar())
        if nxt == ("kw", "in"):
            self.take()
            return Compare(slot, "in", self.listing())
        if (
            nxt == ("kw", "not")
            and self.pos + 1 < len(self.tokens)
            and self.tokens[self.pos + 1]
            == (
                "kw",
                "in",
            )
        ):
            self.pos += 2
            return Compare(slot, "not in", self.listing())
        return Truthy(slot)

    def scalar(self) -> Scalar:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1]
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "kw" and value in ("true", "false"):
            return value == "true"
        if kind == "kw" and value in ("null", "none"):
            return None
        raise ConditionError(f"expected a value, found {value or 'the end'!r}")

    def listing(self) -> tuple[Scalar, ...]:
        self.expect("[")
        items: list[Scalar] = []
        if self.peek()[1] == "]":
            self.take()
            return ()
        while True:
            items.append(self.scalar())
            _, value = self.take()
            if value == "]":
                return tuple(items)
            if value != ",":
                raise ConditionError(f"expected ',' or ']', found {value or 'the end'!r}")


def parse_condition(text: str) -> Condition:
    """Parse a condition; raises ConditionError with a short reason."""
    return _Parser(text).parse()


def condition_slots(cond: Condition) -> frozenset[str]:
    """Every slot the condition reads."""
    if isinstance(cond, Truthy | Compare):
        return frozenset({cond.slot})
    if isinstance(cond, Not):
        return condition_slots(cond.operand)
    return frozenset().union(*(condition_slots(c) for c in cond.operands))


def evaluate(cond: Condition, slots: Mapping[str, Any]) -> bool:
    """Evaluate against the slots; an unset slot reads as None."""
    if isinstance(cond, Truthy):
        return bool(slots.get(cond.slot))
    if isinstance(cond, Compare):
        value = slots.get(cond.slot)
        if cond.op == "==":
            return bool(value == cond.value)
        if cond.op == "!=":
            return bool(value != cond.value)
        members = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        return (value in members) == (cond.op == "in")
    if isinstance(cond, Not):
        return not evaluate(cond.operand, slots)
    if isinstance(cond, AllOf):
        return all(evaluate(c, slots) for c in cond.operands)
    return any(evaluate(c, slots) for c in cond.operands)
