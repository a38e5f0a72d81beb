"""Semantic checks of a structurally valid flow: targets, keys, validators, texts and the graph.

Each check adds to one list so an admin sees every problem at once. The slot check is a
must-set data-flow analysis over the step graph: a slot read at a step (placeholder or
condition) must be set on every path from the start, and the error shows one path that misses it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dialogues.conditions import condition_slots
from dialogues.messages import MESSAGE_FIELDS, field_problems
from dialogues.model import (
    ANY_CATEGORY,
    TURN_SCOPED,
    AnyStep,
    AskStep,
    BranchStep,
    ClassifyStep,
    CollectStep,
    ConfirmStep,
    CreateTicketStep,
    Flow,
    MenuStep,
)
from dialogues.placeholders import placeholders
from dialogues.validators import VALIDATORS
from nlu.types import CONVERSATION_INTENTS

Path = tuple[str | int, ...]
Adder = Callable[[str, str], None]
RESERVED_KEYS = ("#", "*", "0")
_KEY = re.compile(r"[1-9][0-9]?")


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding; ``path`` is inside the step (or from the top of the file when step is None)."""

    step: str | None
    path: Path
    message: str


def field_path(field: str) -> Path:
    """``options[2].goto`` -> ("options", 2, "goto"), the shape of the YAML line index."""
    out: list[str | int] = []
    for part in field.split("."):
        name, *indexes = part.split("[")
        out.append(name)
        out.extend(int(i.rstrip("]")) for i in indexes)
    return tuple(out)


def check_flow(
    flow: Flow,
    *,
    broken: frozenset[str] = frozenset(),
    extra_written: frozenset[str] = frozenset(),
    extra_targets: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Every problem in ``flow``.

    Steps in ``broken`` failed to parse: they count as existing, the slots and targets read from
    their raw YAML come in ``extra_written`` and ``extra_targets``. While a step is broken, only
    true orphans (steps nothing points to) are reported as unreachable; while a target is
    unknown, not even those (the typo may have meant one). The path checks wait for a clean
    graph: on a broken one they would report consequences of the same mistake.
    """
    problems: list[Problem] = []
    known = {s.id for s in flow.steps} | broken
    written = _written_slots(flow) | extra_written
    if flow.start not in known:
        problems.append(Problem(None, ("start",), f"unknown step '{flow.start}'"))
    for step in flow.steps:
        problems.extend(_check_step(flow, step, known, written))
    problems.extend(_check_messages(flow))
    if flow.attachments is not None and (cond := flow.attachments.condition()) is not None:
        for slot in sorted(condition_slots(cond) - written):
            problems.append(Problem(None, ("attachments", "when"), f"unknown slot '{slot}'"))
    dangling = (
        flow.start not in known
        or any(e.target not in known for s in flow.steps for e in s.edges())
        or not extra_targets <= known
    )
    if not broken and not dangling:
        problems.extend(_check_graph(flow, written))
    elif not dangling:
        problems.extend(_orphans(flow, broken, extra_targets))
    return problems


def _orphans(flow: Flow, broken: frozenset[str], extra_targets: frozenset[str]) -> list[Problem]:
    pointed = {e.target for s in flow.steps for e in s.edges() if e.target != s.id} | extra_targets
    return [
        Problem(step_id, (), f"unreachable from the start step '{flow.start}'")
        for step_id in [*(s.id for s in flow.steps), *sorted(broken)]
        if step_id != flow.start and step_id not in pointed
    ]


def _written_slots(flow: Flow) -> frozenset[str]:
    out: set[str] = set(TURN_SCOPED)
    for step in flow.steps:
        out |= step.writes()
    if flow.attachments is not None:
        out.add(flow.attachments.slot)
    return frozenset(out)


def _uses(step: AnyStep) -> Iterable[tuple[str, str]]:
    """(field, slot) for every slot the step reads."""
    for field, text in step.texts():
        for lang in ("zh", "en"):
            for name in sorted(placeholders(getattr(text, lang))):
                yield f"{field}.{lang}", name
    for field, slots in step.reads():
        for name in sorted(slots):
            yield field, name
    if isinstance(step, ClassifyStep):
        yield "source", step.source


def _check_step(flow: Flow, step: AnyStep, known: set[str], written: frozenset[str]) -> list[Problem]:
    out: list[Problem] = []

    def add(field: str, message: str) -> None:
        out.append(Problem(step.id, field_path(field) if field else (), message))

    for edge in step.edges():
        if edge.target not in known:
            add(edge.field, f"unknown step '{edge.target}'")
    for field, name in _uses(step):
        if name not in written:
            add(field, f"unknown slot '{name}' (no step sets it)")
    if isinstance(step, MenuStep):
        _check_menu(step, add, known_intents(flow))
    elif isinstance(step, AskStep):
        if step.validator not in VALIDATORS:
            add("validator", f"unknown validator '{step.validator}' (known: {', '.join(VALIDATORS)})")
        if step.validator == "choice" and not step.choices:
            add("choices", "validator 'choice' needs choices")
        if step.choices and step.validator not in ("choice", "score"):
            add("choices", "choices are only used with validator 'choice' (or 'score', as buttons)")
        if step.rest_slot is not None and step.validator not in ("score", "ticket_number", "phone"):
            add("rest_slot", "rest_slot is only filled by validators 'score', 'ticket_number' and 'phone'")
        seen: set[str] = set()
        for i, choice in enumerate(step.choices):
            if choice.value in seen:
                add(f"choices[{i}].value", f"duplicate choice '{choice.value}'")
            seen.add(choice.value)
    elif isinstance(step, ClassifyStep) and not flow.categories:
        add("kind", "a classify step needs the flow's categories")
    elif isinstance(step, ConfirmStep):
        for i, entry in enumerate(step.edit):
            if not flow.has_step(entry.step):
                continue
            target = flow.step(entry.step)
            if not isinstance(target, AskStep | MenuStep | ClassifyStep | CollectStep):
                add(f"edit[{i}].step", f"step '{entry.step}' does not ask the customer anything")
            elif entry.slot not in target.writes():
                add(f"edit[{i}].slot", f"step '{entry.step}' does not set slot '{entry.slot}'")
    elif isinstance(step, BranchStep) and not step.cases:
        add("cases", "a branch needs at least one case")
    return out


def known_intents(flow: Flow) -> frozenset[str]:
    """What a menu option's ``intents`` may name: the flow's own categories (``category`` for
    any of them) and the NLU's conversation intents."""
    return frozenset({ANY_CATEGORY, *(c.code for c in flow.categories), *CONVERSATION_INTENTS})


def _check_menu(step: MenuStep, add: Adder, intents_known: frozenset[str]) -> None:
    if not step.options:
        add("options", "a menu needs at least one option")
    keys: dict[str, int] = {}
    intents: dict[str, int] = {}
    for i, opt in enumerate(step.options):
        if opt.key in RESERVED_KEYS:
            add(
                f"options[{i}].key",
                f"key '{opt.key}' clashes with a reserved key (# repeats, * goes back, 0 is a person)",
            )
        elif not _KEY.fullmatch(opt.key):
            add(f"options[{i}].key", f"key '{opt.key}' must be a number from 1 to 99")
        if opt.key in keys:
            add(f"options[{i}].key", f"duplicate key '{opt.key}' (also options[{keys[opt.key]}])")
        keys.setdefault(opt.key, i)
        for intent in opt.intents:
            if intent not in intents_known:
                add(f"options[{i}].intents", f"unknown intent '{intent}'")
            elif intent in intents:
                add(f"options[{i}].intents", f"intent '{intent}' also picks options[{intents[intent]}]")
            intents.setdefault(intent, i)
        if opt.text_goto is not None and opt.text_slot is None:
            add(f"options[{i}].text_goto", "text_goto needs text_slot")
        if opt.text_slot is not None and not opt.intents:
            add(f"options[{i}].text_slot", "text_slot is only used when intents pick the option")
        if opt.intents and step.free_text is not None:
            add(f"options[{i}].intents", "intents are never read on a menu with free_text")


def _check_messages(flow: Flow) -> list[Problem]:
    out: list[Problem] = []
    for key, text in flow.messages:
        if key not in MESSAGE_FIELDS:
            out.append(Problem(None, ("messages", key), f"unknown message '{key}'"))
            continue
        for lang in ("zh", "en"):
            found = field_problems(key, getattr(text, lang))
            out.extend(Problem(None, ("messages", key, lang), problem) for problem in found)
    return out


# ------------------------------------------------------------------------------ graph
def _check_graph(flow: Flow, written: frozenset[str]) -> list[Problem]:
    out: list[Problem] = []
    reachable = _reachable(flow)
    for step in flow.steps:
        if step.id not in reachable:
            out.append(Problem(step.id, (), f"unreachable from the start step '{flow.start}'"))
    out.extend(_check_loops(flow))
    must = _must_set(flow)
    for step in flow.steps:
        if step.id not in must:
            continue
        available = must[step.id]
        if isinstance(step, CreateTicketStep):
            available = available | TURN_SCOPED
        if step.INPUT:
            available = available - TURN_SCOPED
        for field, name in _uses(step):
            if name in available or name not in written:
                continue
            if name in TURN_SCOPED:
                message = (
                    f"'{{{name}}}' is only filled in the create_ticket step's own text and the "
                    "steps that follow it before the customer is asked anything"
                )
            else:
                path = " → ".join(_witness(flow, step.id, name))
                message = f"slot '{name}' may be used before it is set (path: {path})"
            out.append(Problem(step.id, field_path(field), message))
    return out


def _targets(flow: Flow, step: AnyStep) -> list[str]:
    return [e.target for e in step.edges() if flow.has_step(e.target)]


def _reachable(flow: Flow) -> set[str]:
    seen = {flow.start}
    queue = deque([flow.start])
    while queue:
        for target in _targets(flow, flow.step(queue.popleft())):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _passes_through(step: AnyStep) -> bool:
    """Whether a turn can run through the step without waiting (a confident classify does)."""
    return not step.INPUT or isinstance(step, ClassifyStep)


def _check_loops(flow: Flow) -> list[Problem]:
    """A cycle of steps that never wait for the customer would spin forever in one turn."""
    out: list[Problem] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    reported: set[frozenset[str]] = set()

    def visit(step_id: str, stack: list[str]) -> None:
        state[step_id] = 1
        stack.append(step_id)
        for target in _targets(flow, flow.step(step_id)):
            if not _passes_through(flow.step(target)):
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    loop = " → ".join([*cycle, target])
                    out.append(Problem(target, (), f"loop without a question to the customer: {loop}"))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[step_id] = 2

    for step in flow.steps:
        if _passes_through(step) and step.id not in state:
            visit(step.id, [])
    return out


def _must_set(flow: Flow) -> dict[str, frozenset[str]]:
    """For each reachable step, the slots set on every path from the start to it."""
    must: dict[str, frozenset[str]] = {flow.start: frozenset()}
    queue = deque([flow.start])
    while queue:
        step = flow.step(queue.popleft())
        for edge in step.edges():
            if not flow.has_step(edge.target):
                continue
            out = must[step.id] | edge.sets
            if step.INPUT:
                out = out - TURN_SCOPED
            if edge.target == flow.start:
                continue
            before = must.get(edge.target)
            after = out if before is None else before & out
            if after != before:
                must[edge.target] = after
                queue.append(edge.target)
    return must


def _witness(flow: Flow, goal: str, slot: str) -> list[str]:
    """A shortest path from the start to ``goal`` on which ``slot`` is never set."""
    parent: dict[str, str | None] = {flow.start: None}
    queue = deque([flow.start])
    while queue:
        current = queue.popleft()
        if current == goal:
            break
        for edge in flow.step(current).edges():
            if slot in edge.sets or not flow.has_step(edge.target) or edge.target in parent:
                continue
            parent[edge.target] = current
            queue.append(edge.target)
    path: list[str] = []
    node: str | None = goal if goal in parent else None
    while node is not None:
        path.append(node)
        node = parent[node]
    return list(reversed(path)) or [goal]
