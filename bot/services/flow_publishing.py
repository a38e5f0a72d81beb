"""Reviewing a flow draft before it goes live: validation with line numbers, the conversation
tests of that flow run against the draft, and a diff against the live version. The console
publishes only a draft whose review is clean."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from bot.services.flow_tests import engine_options, load_suites, run_suites
from bot.settings import Settings
from dialogues.conversation_tests import Failure, SuiteInvalid
from dialogues.model import Flow
from dialogues.spec import EngineMessages, FlowError, parse_flow, validate_flow


@dataclass
class DraftReview:
    name: str
    text: str
    flow: Flow | None = None
    errors: list[FlowError] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    passed: int = 0
    diff: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.flow is not None and not self.errors and not self.failures


def review(
    settings: Settings, *, name: str, text: str, live_text: str | None, messages: EngineMessages
) -> DraftReview:
    """Everything an admin needs to decide; nothing is stored. The draft speaks ``messages``
    (the engine's words) where it overrides none."""
    result = DraftReview(name=name, text=text)
    source = f"{name} (draft)"
    result.errors = validate_flow(text, source=source)
    if not result.errors:
        flow = parse_flow(text, source=source, messages=messages)
        if flow.name != name:
            result.errors.append(FlowError(source, None, "name", f"the flow's name must stay {name!r}"))
        else:
            result.flow = flow
    if result.flow is not None:
        tests_dir = settings.path(settings.dialogue.tests_dir)
        try:
            suites = load_suites(tests_dir) if tests_dir.exists() else []
            result.passed, result.failures = run_suites(
                {name: result.flow}, suites, engine_options(settings), only=name
            )
        except SuiteInvalid as exc:
            result.failures = [Failure(str(tests_dir), "(file)", None, str(exc))]
    result.diff = diff_lines(live_text or "", text)
    return result


def diff_lines(before: str, after: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) with kind add, del, hunk or same, for display."""
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(
        before.splitlines(), after.splitlines(), "live", "draft", lineterm="", n=2
    ):
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out
