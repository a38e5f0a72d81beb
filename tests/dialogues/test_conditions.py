from __future__ import annotations

import pytest

from dialogues.conditions import ConditionError, condition_slots, evaluate, parse_condition

SLOTS = {"kind": "complaint", "count": 3, "vip": True, "note": None, "empty": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind == 'complaint'", True),
        ('kind == "complaint"', True),
        ("kind != 'complaint'", False),
        ("kind in ['complaint', 'suggestion']", True),
        ("kind not in ['complaint']", False),
        ("count == 3", True),
        ("vip", True),
        ("not vip", False),
        ("note", False),
        ("missing", False),
        ("missing == null", True),
        ("empty or vip and count == 3", True),
        ("(empty or vip) and not (count == 4)", True),
        ("vip == true and note == none", True),
        ("kind in []", False),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert evaluate(parse_condition(text), SLOTS) is expected


def test_slots_read() -> None:
    assert condition_slots(parse_condition("a and (b == 1 or not c) and d in [1]")) == {"a", "b", "c", "d"}


@pytest.mark.parametrize(
    "text", ["", "kind ==", "kind = 'x'", "(kind", "kind in 'x'", "__import__('os')", "a b"]
)
def test_bad_conditions_are_refused(text: str) -> None:
    with pytest.raises(ConditionError):
        parse_condition(text)
