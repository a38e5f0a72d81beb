"""Scripted conversations that check a flow: what the customer says, what the replies must (or
must not) contain, and the ticket fields expected at the end. They run on the real engine, so a
flow edit that breaks a conversation is caught before it goes live.

File format (YAML)::

    flow: intake                 # the flow the tests exercise
    tests:
      - name: a product complaint
        language: zh             # optional, default zh
        phone_on_file: "139..."  # optional profile
        steps:
          - say: "1"
            expect: [请描述]     # each must appear in the turn's replies (buttons included)
            reject: [人工]       # none may appear
          - say: 烧水壶漏水
            nlu: {intent: product_quality, confidence: 0.95}   # optional: what the NLU would say
        ticket: {ticket_kind: complaint, category: product_quality}
        handoff: false           # optional: whether the conversation ends with a person
      - name: a survey score     # a flow the desk enters (survey, proposal): start at its first
        slots: {ticket: 7}       #   step with these slots, as when the desk asked its question
        steps: [{say: 4 处理很快}]
        desk: {kind: survey, ticket: 7, score: 4, comment: 处理很快}   # the answer for the desk
                                 #   (desk: none: no answer, the message goes to the main flow)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import yaml

from dialogues import engine
from dialogues.model import Flow
from dialogues.options import EngineOptions
from dialogues.state import CreateTicket, DeskAnswer
from dialogues.types import ConversationKey, InboundMessage, Language
from nlu.types import IntentScore, NluResult

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class SuiteInvalid(ValueError):
    """The test file itself is malformed."""


@dataclass(frozen=True, slots=True)
class Step:
    say: str
    expect: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    payload: str | None = None
    nlu: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    language: str = "zh"
    profile: dict[str, str] = field(default_factory=dict)
    ticket: dict[str, Any] | None = None
    handoff: bool | None = None
    slots: dict[str, Any] | None = None
    desk: dict[str, Any] | Literal["none"] | None = None


@dataclass(frozen=True, slots=True)
class Suite:
    flow: str
    cases: tuple[Case, ...]
    source: str = "<tests>"


@dataclass(frozen=True, slots=True)
class Failure:
    source: str
    case: str
    step: int | None  # 1-based; None for an end-of-conversation check
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.source, "test": self.case, "step": self.step, "message": self.message}

    def __str__(self) -> str:
        where = f" step {self.step}" if self.step is not None else ""
        return f"{self.source}: {self.case}{where}: {self.message}"


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int | float):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v) for v in value)
    raise SuiteInvalid(f"{where}: expected a text or a list of texts")


def parse_suite(text: str, *, source: str = "<tests>") -> Suite:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteInvalid(f"{source}: not YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("flow"), str):
        raise SuiteInvalid(f"{source}: needs 'flow: NAME' and 'tests: [...]'")
    raw_cases = data.get("tests")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise SuiteInvalid(f"{source}: 'tests' must be a non-empty list")
    cases: list[Case] = []
    for i, raw in enumerate(raw_cases):
        where = f"{source}: tests[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
            raise SuiteInvalid(f"{where}: needs 'name' and 'steps'")
        steps: list[Step] = []
        for j, raw_step in enumerate(raw["steps"]):
            at = f"{where}.steps[{j}]"
            if not isinstance(raw_step, dict) or ("say" not in raw_step and "payload" not in raw_step):
                raise SuiteInvalid(f"{at}: needs 'say' (or 'payload')")
            nlu = raw_step.get("nlu")
            if nlu is not None and not (isinstance(nlu, dict) and isinstance(nlu.get("intent"), str)):
                raise SuiteInvalid(f"{at}.nlu: needs 'intent' (and optionally 'confidence')")
            steps.append(
                Step(
                    say=str(raw_step.get("say", "")),
                    expect=_strings(raw_step.get("expect"), f"{at}.expect"),
                    reject=_strings(raw_step.get("reject"), f"{at}.reject"),
                    payload=str(raw_step["payload"]) if raw_step.get("payload") is not None else None,
                    nlu=nlu,
                )
            )
        ticket = raw.get("ticket")
        if ticket is not None and not isinstance(ticket, dict):
            raise SuiteInvalid(f"{where}.ticket: expected a mapping of field: value")
        language = str(raw.get("language", "zh"))
        if language not in ("zh", "en"):
            raise SuiteInvalid(f"{where}.language: zh or en")
        profile = {"phone_on_file": str(raw["phone_on_file"])} if raw.get("phone_on_file") else {}
        handoff = raw.get("handoff")
        slots = raw.get("slots")
        if slots is not None and not isinstance(slots, dict):
            raise SuiteInvalid(f"{where}.slots: expected a mapping of slot: value")
        desk = raw.get("desk")
        if desk is not None and desk != "none" and not isinstance(desk, dict):
            raise SuiteInvalid(f"{where}.desk: expected a mapping of field: value, or none")
        cases.append(
            Case(
                name=str(raw.get("name") or f"test {i + 1}"),
                steps=tuple(steps),
                language=language,
                profile=profile,
                ticket=ticket,
                handoff=bool(handoff) if handoff is not None else None,
                slots=slots,
                desk=desk,
            )
        )
    return Suite(flow=data["flow"], cases=tuple(cases), source=source)


def _nlu(text: str, raw: dict[str, Any] | None) -> NluResult | None:
    if raw is None:
        return None
    score = IntentScore(str(raw["intent"]), float(raw.get("confidence", 0.95)))
    return NluResult(text=text, intent=score, ranking=(score,))


def run_case(flow: Flow, case: Case, *, source: str, options: EngineOptions | None = None) -> list[Failure]:
    opts = options or EngineOptions()
    language: Language = "en" if case.language == "en" else "zh"
    if case.slots is not None:
        state = engine.enter(flow, version=0, language=language, slots=case.slots)
    else:
        state = engine.new_state(flow, version=0, language=language)
    if case.profile:
        state = state.evolve(profile=case.profile)
    key = ConversationKey("test", case.name)
    failures: list[Failure] = []
    ticket: dict[str, Any] | None = None
    desk: DeskAnswer | None = None
    for number, step in enumerate(case.steps, start=1):
        inbound = InboundMessage(key, step.say, f"{number}", NOW, payload=step.payload)
        turn = engine.step(flow, state, inbound, _nlu(step.say, step.nlu), NOW, options=opts)
        state = turn.state
        shown = "\n".join([r.text for r in turn.replies] + [b.label for r in turn.replies for b in r.buttons])
        for wanted in step.expect:
            if wanted not in shown:
                message = f"expected {wanted!r} in: {shown[:300]!r}"
                failures.append(Failure(source, case.name, number, message))
        for unwanted in step.reject:
            if unwanted in shown:
                failures.append(Failure(source, case.name, number, f"did not expect {unwanted!r}"))
        for effect in turn.effects:
            if isinstance(effect, CreateTicket):
                ticket = {"ticket_kind": effect.kind, **dict(effect.fields)}
            elif isinstance(effect, DeskAnswer):
                desk = effect
    failures.extend(_desk_failures(case, desk, source))
    if case.ticket is not None:
        if ticket is None:
            failures.append(Failure(source, case.name, None, "no ticket was created"))
        else:
            for name, value in case.ticket.items():
                got = ticket.get(name)
                if str(got) != str(value):
                    message = f"ticket {name}: expected {value!r}, got {got!r}"
                    failures.append(Failure(source, case.name, None, message))
    if case.handoff is not None and (state.status == "agent") != case.handoff:
        message = "expected a handoff to a person" if case.handoff else "unexpected handoff"
        failures.append(Failure(source, case.name, None, message))
    return failures


def _desk_failures(case: Case, desk: DeskAnswer | None, source: str) -> list[Failure]:
    if case.desk is None:
        return []
    if isinstance(case.desk, str):  # none
        return [] if desk is None else [Failure(source, case.name, None, f"unexpected answer {desk}")]
    if desk is None:
        return [Failure(source, case.name, None, "no answer for the desk")]
    out: list[Failure] = []
    for name, value in case.desk.items():
        got = getattr(desk, name, None)
        if str(got) != str(value):
            out.append(Failure(source, case.name, None, f"desk {name}: expected {value!r}, got {got!r}"))
    return out


def run_suite(flow: Flow, suite: Suite, *, options: EngineOptions | None = None) -> tuple[int, list[Failure]]:
    """(cases passed, failures) of the suite against ``flow``."""
    failures: list[Failure] = []
    passed = 0
    for case in suite.cases:
        found = run_case(flow, case, source=suite.source, options=options)
        failures.extend(found)
        passed += not found
    return passed, failures
