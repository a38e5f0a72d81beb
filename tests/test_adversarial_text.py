"""Every regex and parser that reads customer text, fed 5 000-character strings built to make a
backtracking engine go quadratic or worse (runs of spaces, digits, punctuation, Chinese
numerals and repeated keywords after a command word). Each call must finish within 50 ms of CPU:
one slow pattern on the event loop stops every channel, and ``recover()`` would replay the
message at each start-up. CPU time of this thread is measured, so a busy machine cannot fail it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.domain.privacy import mask_phones
from bot.domain.queue_rules import QueueRules
from bot.domain.routing import StaffMember, named_staff
from bot.domain.severity import largest_amount, largest_group
from bot.services.ticket_intake import extract_references, load_severity
from dialogues import engine, inputs
from dialogues.model import MenuStep
from dialogues.reading import option_by_prefix
from dialogues.types import ConversationKey, InboundMessage
from dialogues.understanding import FINDERS, EntityKind, read_entity
from dialogues.validators import VALIDATORS, AnswerContext, parse_date
from tests.dialogues.helpers import NOW, intake

LENGTH = 5_000
BUDGET_S = 0.050
ROOT = Path(__file__).resolve().parents[1]

_HEADS = ("", "status", "进度", "/status", "appeal", "申诉", "¥", "RMB", "$", "jan", "1", "+86", "#",
          "no.", "3分")  # fmt: skip
_FILLERS = (" ", "  \t", "1", "１", "1,", "1.", ",", "-", ".", ":", "：", "一", "十", "a", "a1", "1 ", " 1",
            "万", "status ", "进度", "appeal ", "#", "no.", "\n", "😀", "1-")  # fmt: skip
_TAILS = ("", "x", "!", "元", "人", "个人")


def adversarial() -> Iterator[str]:
    for head in _HEADS:
        for filler in _FILLERS:
            body = (filler * (LENGTH // len(filler) + 1))[: LENGTH - len(head) - 2]
            for tail in _TAILS:
                yield head + body + tail


def _checks() -> dict[str, Callable[[str], object]]:
    ctx = AnswerContext(today=date(2024, 11, 22), choices=(("a", ("选项一", "first")),))
    severity = load_severity(ROOT / "bot" / "domain" / "data" / "severity.yaml")
    rules = QueueRules(angry_words=("投诉你们", "垃圾", "scam"))
    staff = [StaffMember(username="li.ming", name="李明", departments=("ops",), employee_no="A1001")]
    flow = intake()
    start = engine.new_state(flow, version=1, language="zh")
    greeting = flow.step(flow.start)
    assert isinstance(greeting, MenuStep)
    checks: dict[str, Callable[[str], object]] = {
        "clean": inputs.clean,
        "fold": inputs.fold,
        "as_key": inputs.as_key,
        "parse_command": inputs.parse_command,
        "ticket_number_in": inputs.ticket_number_in,
        "matches_label": lambda t: inputs.matches_label(t, ("投诉", "Complaint")),
        "parse_date": lambda t: parse_date(t, ctx.today),
        "severity": lambda t: severity(t, {}),
        "largest_amount": largest_amount,
        "largest_group": largest_group,
        "queue_rules": rules.angry,
        "named_staff": lambda t: named_staff([t], staff),
        "references": extract_references,
        "mask_phones": mask_phones,
        "option_by_prefix": lambda t: option_by_prefix(greeting, t),
        "engine_step": lambda t: engine.step(flow, start, _inbound(t), None, NOW),
        "read_outcome_entity": lambda t: read_entity(
            EntityKind.OUTCOME, t, "退款", len(t) // 2, len(t) // 2 + 2
        ),
    }
    for kind, finder in FINDERS.items():
        checks[f"understand_{kind}"] = finder
    for name, validator in VALIDATORS.items():
        checks[f"validate_{name}"] = lambda t, v=validator: v(t, ctx)  # type: ignore[misc]
    return checks


def _inbound(text: str) -> InboundMessage:
    return InboundMessage(key=ConversationKey("web", "u"), text=text, message_id="m1", received_at=NOW)


CHECKS = _checks()


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_customer_text_is_read_in_bounded_time(name: str) -> None:
    check = CHECKS[name]
    slowest = (0.0, "")
    for text in adversarial():
        started = time.thread_time()
        check(text)
        spent = time.thread_time() - started
        slowest = max(slowest, (spent, text))
    spent, text = slowest
    assert spent < BUDGET_S, f"{name} took {spent * 1000:.0f} ms on {text[:24]!r}... ({len(text)} chars)"


def test_the_adversarial_strings_are_long_and_varied() -> None:
    texts = list(adversarial())
    assert len(texts) == len(_HEADS) * len(_FILLERS) * len(_TAILS)
    assert all(LENGTH - 2 <= len(t) <= LENGTH + 2 for t in texts)
    assert "status" + " " * 100 in "".join(texts[:2000])
