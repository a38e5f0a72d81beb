"""The conversation-test runner: real engine, failures named by test and step."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialogues.conversation_tests import SuiteInvalid, parse_suite, run_suite
from dialogues.spec import load_flow_file
from tests.dialogues.helpers import MESSAGES

ROOT = Path(__file__).resolve().parents[2]
FLOW = load_flow_file(ROOT / "dialogues" / "flows" / "intake.yaml", messages=MESSAGES)


def run(text: str) -> tuple[int, list[str]]:
    passed, failures = run_suite(FLOW, parse_suite(text, source="t.yaml"))
    return passed, [str(f) for f in failures]


def test_the_shipped_tests_pass() -> None:
    suite = parse_suite((ROOT / "dialogues" / "tests" / "intake.yaml").read_text(encoding="utf-8"))
    passed, failures = run_suite(FLOW, suite)
    assert failures == [] and passed == len(suite.cases) >= 5


def test_a_missing_text_names_the_test_and_the_step() -> None:
    passed, failures = run(
        """
flow: intake
tests:
  - name: wrong expectation
    steps:
      - {say: "1", expect: [请描述]}
      - {say: "烧水壶漏水了好几次", expect: [这句话不会出现]}
"""
    )
    assert passed == 0
    assert failures == [failures[0]] and failures[0].startswith(
        "t.yaml: wrong expectation step 2: expected '这句话不会出现'"
    )


def test_ticket_fields_and_handoff_are_checked_at_the_end() -> None:
    passed, failures = run(
        """
flow: intake
tests:
  - name: suggestion with the wrong kind
    steps: [{say: "3"}, {say: 希望门店周末延长营业时间到晚上十点}, {say: "13800138000"}]
    ticket: {ticket_kind: complaint}
  - name: no handoff happened
    steps: [{say: "1"}]
    handoff: true
  - name: rejects a text that is there
    steps: [{say: "你好", reject: [我要投诉]}]
"""
    )
    assert passed == 0
    assert "ticket ticket_kind: expected 'complaint', got 'suggestion'" in failures[0]
    assert "expected a handoff to a person" in failures[1]
    assert "did not expect '我要投诉'" in failures[2]


@pytest.mark.parametrize(
    "text",
    [
        "tests: []",
        "flow: intake\ntests: []",
        "flow: intake\ntests: [{name: x}]",
        "flow: intake\ntests: [{steps: [{}]}]",
        ": :",
    ],
)
def test_malformed_files_are_refused(text: str) -> None:
    with pytest.raises(SuiteInvalid):
        parse_suite(text)
