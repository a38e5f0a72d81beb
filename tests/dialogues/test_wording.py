"""Replies a person would write: a question whose options are listed under it (as buttons, or as
numbered lines on WeChat) does not spell the same keys out again in its text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialogues.spec import Flow, load_flow_file
from tests.dialogues.helpers import MESSAGES, Chat, FakeNlu
from tests.dialogues.test_engine_keys import at

SPELLED_KEYS = re.compile(r"回复\s*\d|reply\s+\d|\d\s*[:：]?\s*(?:接受|accept)", re.IGNORECASE)
PROPOSAL = Path(__file__).resolve().parents[2] / "dialogues" / "flows" / "proposal.yaml"


def _prompt(chat: Chat) -> tuple[str, tuple[str, ...]]:
    reply = chat.last.replies[-1]
    return reply.text, tuple(b.label for b in reply.buttons)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_evidence_question_and_the_failure_offer_leave_the_keys_to_their_buttons(
    flow: Flow, nlu: FakeNlu, language: str
) -> None:
    chat = at("complaint_evidence", nlu, flow)
    if language == "en":
        chat.send("/english")
    chat.send("#")
    text, buttons = _prompt(chat)
    assert buttons and not SPELLED_KEYS.search(text), text
    chat.send("照片晚点再说吧，我先想想")  # not an answer, three times: the offer of a person
    chat.send("照片晚点再说吧，我先想想")
    chat.send("照片晚点再说吧，我先想想")
    text, buttons = _prompt(chat)
    assert chat.screen == "complaint_evidence.failed"
    assert len(buttons) == 2 and not SPELLED_KEYS.search(text), text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_proposal_question_leaves_the_keys_to_its_buttons(language: str) -> None:
    chat = Chat(load_flow_file(PROPOSAL, messages=MESSAGES), language=language)  # type: ignore[arg-type]
    chat.send("#")
    text, buttons = _prompt(chat)
    assert len(buttons) == 2 and not SPELLED_KEYS.search(text), text
