"""Screens kept per flow: the same prompts and keys as freshly built ones, and nothing of the
customer's own kept (the phone number on file, the NLU's guesses)."""

from __future__ import annotations

import pytest

from dialogues import screens
from dialogues.spec import Flow
from dialogues.types import Language
from tests.dialogues.helpers import Chat, FakeNlu, intake

WALK = ["hi", "1", "刚买的就漏水了", "1", "1", "1", "1", "2", "1", "13800138000", "2", "1"]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_kept_screens_equal_freshly_built_ones(flow: Flow, nlu: FakeNlu, language: Language) -> None:
    chat = Chat(flow, nlu=nlu, language=language, profile={"phone_on_file": "13900139000"})
    seen: set[tuple[str, str | None]] = set()
    for text in WALK:
        chat.send(text)
        state = chat.state
        for _ in range(2):  # the second time from what the first one kept
            fresh = intake()  # nothing kept yet
            assert screens.prompt(flow, state) == screens.prompt(fresh, state)
            assert screens.keys(flow, state) == screens.keys(fresh, state)
        seen.add((state.step, screens.screen_of(state)))
    assert len(seen) >= 8  # the walk went through most of the intake


def test_the_phone_on_file_is_shown_but_never_kept(nlu: FakeNlu) -> None:
    flow = intake()
    prompts = []
    for phone in ("13800138000", "13900139000"):
        chat = Chat(flow, nlu=nlu, profile={"phone_on_file": phone})
        chat.run(*WALK[: WALK.index("13800138000")])
        assert chat.state.step == "complaint_phone"
        prompts.append(screens.prompt(flow, chat.state))
    assert "138****8000" in prompts[0].buttons[0].label
    assert "139****9000" in prompts[1].buttons[0].label
    kept = repr(flow.screen_memo())
    assert "****" not in kept and "8000" not in kept and "9000" not in kept
    assert flow.screen_memo()  # other screens were kept


def test_the_nlu_guesses_are_never_kept(nlu: FakeNlu) -> None:
    flow = intake()
    chat = Chat(flow, nlu=nlu)
    chat.run("hi", "1", "店员态度很差，还冲我发火")  # not sure: 服务态度 or 员工违规
    assert screens.screen_of(chat.state) == "guess"
    assert "服务态度" in screens.prompt(flow, chat.state).buttons[0].label
    assert not any(screen == "guess" for _step, screen, _lang in flow.screen_memo())


@pytest.mark.parametrize(
    ("answer", "shown", "hidden"), [("1", "138****8000", "13800138000"), ("13912345678", "13912345678", "")]
)
def test_the_summary_shows_the_number_on_file_masked_as_its_button_did(
    nlu: FakeNlu, answer: str, shown: str, hidden: str
) -> None:
    chat = Chat(intake(), nlu=nlu, profile={"phone_on_file": "13800138000"})
    chat.run(*WALK[: WALK.index("13800138000")], answer)
    assert chat.state.step == "complaint_confirm"
    assert f"联系电话：{shown}" in chat.text  # a number typed just now is shown to be checked
    if hidden:
        assert hidden not in chat.text
