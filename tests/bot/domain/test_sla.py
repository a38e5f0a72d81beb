"""SLA deadlines by kind and severity on the China working calendar; expected moments by hand."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.calendar import load_calendar
from bot.domain.sla import SlaPolicy

SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).resolve().parents[3] / "bot/domain/data/calendar_cn.yaml"
CN = load_calendar(DATA, "Asia/Shanghai")
POLICY = SlaPolicy.from_mapping({})
START = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)  # a Friday morning


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_a_general_complaint_gets_acknowledge_solution_and_close() -> None:
    found = {d.name: d for d in POLICY.deadlines("complaint", "normal", START, CN)}
    assert list(found) == ["acknowledge", "propose_solution", "close"]
    assert found["acknowledge"].due == local(2026, 11, 21, 10, 0)  # hours count over the weekend
    assert found["acknowledge"].warn_at == local(2026, 11, 21, 5, 12)  # 80% of 24 h
    assert found["propose_solution"].due == local(2026, 11, 22, 10, 0)
    assert found["close"].due == local(2026, 12, 4, 18, 0)  # the 10th working day after Friday
    # 80% of the 87 working hours from Friday 10:00 to 4 Dec 18:00 is 69.6 h: Wed 2 Dec, 16:36
    assert found["close"].warn_at == local(2026, 12, 2, 16, 36)


def test_a_major_complaint_adds_the_management_clocks_soonest_first() -> None:
    found = POLICY.deadlines("complaint", "major", START, CN)
    assert [d.name for d in found] == [
        "report_to_management",
        "acknowledge",
        "propose_solution",
        "first_investigation",
        "plan",
        "close",
    ]
    by_name = {d.name: d.due for d in found}
    assert by_name["report_to_management"] == local(2026, 11, 20, 22, 0)
    assert by_name["first_investigation"] == local(2026, 11, 24, 18, 0)
    assert by_name["plan"] == local(2026, 12, 1, 18, 0)


def test_a_consultation_only_needs_a_reply_in_two_working_days() -> None:
    [reply] = POLICY.deadlines("consultation", "normal", START, CN)
    assert reply.name == "reply" and reply.due == local(2026, 11, 24, 18, 0)


def test_the_callback_comes_72_hours_after_resolution() -> None:
    callback = POLICY.callback_deadline(START, CN)
    assert callback.due == local(2026, 11, 23, 10, 0)


def test_a_rule_can_be_overridden_and_mistakes_are_refused() -> None:
    longer = SlaPolicy.from_mapping({"close": {"amount": 15}})
    close = next(d for d in longer.deadlines("complaint", "normal", START, CN) if d.name == "close")
    assert close.due == local(2026, 12, 11, 18, 0)
    with pytest.raises(ValueError, match="unknown SLA rule"):
        SlaPolicy.from_mapping({"closing": {"amount": 3}})
    with pytest.raises(ValueError, match="amount"):
        SlaPolicy.from_mapping({"close": {"amount": 0}})
    with pytest.raises(ValueError, match="share"):
        SlaPolicy.from_mapping({}, warn_share=1.5)


@pytest.mark.parametrize("kind", ["consultation", "suggestion"])
def test_a_question_or_idea_never_gets_the_major_complaint_clocks(kind: str) -> None:
    names = [d.name for d in POLICY.deadlines(kind, "major", START, CN)]
    assert names == [d.name for d in POLICY.deadlines(kind, "normal", START, CN)]
    assert "report_to_management" not in names
