"""Loading conversation test files and running them against flows: shared by ``tousu flows
test`` and the console, which refuses to publish a flow version that fails them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.settings import Settings
from dialogues.conversation_tests import Failure, Suite, parse_suite, run_suite
from dialogues.model import Flow
from dialogues.options import EngineOptions


def engine_options(settings: Settings) -> EngineOptions:
    return EngineOptions(
        max_text_length=settings.dialogue.max_text_length,
        max_failures=settings.dialogue.max_failures,
        confidence_threshold=settings.nlu.confidence_threshold,
        timezone=settings.general.timezone,
    )


def load_suites(path: Path) -> list[Suite]:
    files = [path] if path.is_file() else sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [parse_suite(f.read_text(encoding="utf-8"), source=str(f)) for f in files]


def run_suites(
    flows: Mapping[str, Flow], suites: list[Suite], options: EngineOptions, *, only: str | None = None
) -> tuple[int, list[Failure]]:
    """Run the suites (those of flow ``only`` when given); a suite naming an unknown flow fails."""
    passed = 0
    failures: list[Failure] = []
    for suite in suites:
        if only is not None and suite.flow != only:
            continue
        flow = flows.get(suite.flow)
        if flow is None:
            failures.append(Failure(suite.source, "(file)", None, f"no flow named {suite.flow!r}"))
            continue
        ok, found = run_suite(flow, suite, options=options)
        passed += ok
        failures.extend(found)
    return passed, failures
