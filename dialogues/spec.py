"""Flow files: parse, validate (every error, with its line), load one file or a folder.

The format (the schema is ``dialogues.model``, re-exported here)::

    name: intake                      # the flow's name; conversations store it with a version
    start: greeting                   # the first step
    categories: {delivery: {zh: 物流配送, en: Delivery, sub: {late: {zh: ..., en: ...}}}, ...}
                                      # for classify steps; `sub` holds the finer levels (4 at most)
    attachments: {slot: evidence, when: "ticket_kind == 'complaint'"}  # where photos go
    messages: {stale: {zh: ..., en: ...}}   # optional overrides of the engine's messages
    steps:
      greeting:                       # the step id (lowercase, digits, _; the button payload prefix)
        kind: menu                    # say menu ask classify collect confirm understand branch
        text: {zh: ..., en: ...}      #   create_ticket progress desk_answer handoff end
        options:
          - {key: 1, label: {zh: ..., en: ...}, goto: step, set: {slot: value}}

Every customer text is ``{zh, en}``; ``{slot}`` placeholders show slot values. Validation runs
in three layers so one mistake does not hide the others: YAML syntax, then each top-level section
and each step on its own (pydantic), then the semantic checks of ``dialogues.checks``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from dialogues.checks import Problem, check_flow
from dialogues.messages import EngineMessages
from dialogues.model import (
    STEP_KINDS,
    AnyStep,
    AskStep,
    AttachmentRule,
    BranchStep,
    Category,
    ClassifyStep,
    CollectStep,
    ConfirmStep,
    CreateTicketStep,
    DeskAnswerStep,
    EndStep,
    Flow,
    HandoffStep,
    MenuStep,
    ProgressStep,
    SayStep,
    Step,
    Text,
    UnderstandStep,
)
from dialogues.yamlnodes import Located, YamlProblem, load_located

__all__ = [
    "AnyStep",
    "AskStep",
    "BranchStep",
    "ClassifyStep",
    "CollectStep",
    "ConfirmStep",
    "CreateTicketStep",
    "DeskAnswerStep",
    "EndStep",
    "EngineMessages",
    "Flow",
    "FlowError",
    "FlowInvalid",
    "HandoffStep",
    "MenuStep",
    "ProgressStep",
    "SayStep",
    "Text",
    "UnderstandStep",
    "check_path",
    "load_flow_file",
    "load_flows_dir",
    "parse_flow",
    "validate_flow",
]

MAX_FLOW_BYTES = 1_000_000
_TOP_KEYS = ("name", "description", "start", "steps", "categories", "messages", "attachments")
_STEP = TypeAdapter[AnyStep](Step)
_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"


@dataclass(frozen=True, slots=True)
class FlowError:
    """One problem in a flow file: ``file:line: step.field: message``."""

    file: str
    step: str | None
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = ".".join(p for p in (self.step, self.field) if p) or "(flow)"
        line = f"{self.line}:" if self.line is not None else ""
        return f"{self.file}:{line} {where}: {self.message}"


class FlowInvalid(ValueError):
    """Raised by parse_flow and the loaders; ``errors`` lists every problem."""

    def __init__(self, errors: list[FlowError]) -> None:
        self.errors = tuple(errors)
        shown = "\n".join(str(e) for e in self.errors[:20])
        more = f"\n... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(f"{len(self.errors)} error(s) in flow:\n{shown}{more}")


def validate_flow(text: str, *, source: str = "<flow>") -> list[FlowError]:
    """Every error in the flow text; empty when it is valid."""
    return _build(text, source, None)[1]


def parse_flow(text: str, *, source: str, messages: EngineMessages) -> Flow:
    """The validated Flow, speaking ``messages`` where the flow overrides none; raises
    FlowInvalid listing every error."""
    flow, errors = _build(text, source, messages)
    if errors or flow is None:
        raise FlowInvalid(errors)
    return flow


def load_flow_file(path: Path | str, *, messages: EngineMessages) -> Flow:
    path = Path(path)
    return parse_flow(path.read_text(encoding="utf-8"), source=str(path), messages=messages)


def flow_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def load_flows_dir(folder: Path | str, *, messages: EngineMessages) -> dict[str, Flow]:
    """All flows in a folder by name; raises FlowInvalid if any file (or a duplicate name) is bad."""
    flows: dict[str, Flow] = {}
    errors: list[FlowError] = []
    for path in flow_files(Path(folder)):
        try:
            flow = load_flow_file(path, messages=messages)
        except FlowInvalid as exc:
            errors.extend(exc.errors)
            continue
        if flow.name in flows:
            errors.append(_duplicate_name(path, flow.name, flows[flow.name].source))
        flows[flow.name] = flow
    if errors:
        raise FlowInvalid(errors)
    return flows


def check_path(path: Path) -> tuple[list[FlowError], int]:
    """Validate a file, or every flow file in a folder; returns (errors, files checked)."""
    files = flow_files(path) if path.is_dir() else [path]
    errors: list[FlowError] = []
    names: dict[str, str] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(FlowError(str(file), None, "", f"cannot read: {exc}"))
            continue
        flow, found = _build(text, str(file), None)
        errors.extend(found)
        if flow is not None:
            if flow.name in names:
                errors.append(_duplicate_name(file, flow.name, names[flow.name]))
            names.setdefault(flow.name, str(file))
    return errors, len(files)


def _duplicate_name(path: Path, name: str, other: str) -> FlowError:
    return FlowError(str(path), None, "name", f"flow name '{name}' is also used by {other}", 1)


# ---------------------------------------------------------------------------- building
def _build(text: str, source: str, messages: EngineMessages | None) -> tuple[Flow | None, list[FlowError]]:
    """Parse and check; the Flow is None when a structural error prevents building it (and
    speaks no engine message without ``messages``: only checked, never run)."""
    if len(text.encode("utf-8")) > MAX_FLOW_BYTES:
        return None, [FlowError(source, None, "", f"file is larger than {MAX_FLOW_BYTES} bytes")]
    try:
        located = load_located(text)
    except YamlProblem as exc:
        return None, [FlowError(source, None, "", f"YAML syntax: {exc.message}", exc.line)]
    errors = _Errors(source, located)
    for path, line in located.duplicates:
        errors.add_at(path, "key written twice (the first one would be ignored)", line=line)
    data = located.data
    if not isinstance(data, dict):
        errors.add_at((), "a flow file must be a mapping with name, start and steps")
        return None, errors.items
    for key in data:
        if key not in _TOP_KEYS:
            errors.add_at((key,), f"unknown section '{key}' (known: {', '.join(_TOP_KEYS)})")
    name = _required_str(data, "name", errors)
    start = _required_str(data, "start", errors)
    if name is not None and not _matches(name, _NAME_PATTERN):
        errors.add_at(("name",), "a flow name uses lowercase letters, digits, - and _")
    steps, broken = _parse_steps(data.get("steps"), errors)
    categories = _parse_categories(data.get("categories"), errors)
    overrides = _parse_messages(data.get("messages"), errors)
    attachments = _parse_model(AttachmentRule, data.get("attachments"), ("attachments",), errors)
    if name is None or start is None or steps is None or categories is None or overrides is None:
        return None, errors.items
    if data.get("attachments") is not None and attachments is None:
        return None, errors.items
    flow = Flow.model_validate(
        {
            "name": name,
            "source": source,
            "text": text,
            "start": start,
            "steps": tuple(steps),
            "categories": tuple(categories),
            "messages": tuple(overrides),
            "attachments": attachments if isinstance(attachments, AttachmentRule) else None,
        },
        context={"messages": messages},
    )
    known = {s.id for s in steps} | set(broken)
    raw_targets = [(step_id, *found) for step_id in broken for found in _raw_targets(data["steps"][step_id])]
    problems = check_flow(
        flow,
        broken=frozenset(broken),
        extra_written=frozenset(slot for step_id in broken for slot in _raw_slots(data["steps"][step_id])),
        extra_targets=frozenset(target for _, _, target in raw_targets),
    )
    for step_id, path, target in raw_targets:
        if target not in known:
            errors.add_at(("steps", step_id, *path), f"unknown step '{target}'")
    for problem in problems:
        errors.problem(problem)
    return (None if broken else flow), sorted(errors.items, key=_reading_order)


def _reading_order(error: FlowError) -> tuple[int, int]:
    return (0 if error.line is None else 1, error.line or 0)


def _raw_slots(body: Any) -> list[str]:
    """Slots a step that failed to parse would have set, so they are not called unknown."""
    if not isinstance(body, dict):
        return []
    found = [body[k] for k in ("slot",) if isinstance(body.get(k), str)]
    if body.get("kind") == "classify":
        slot = body.get("slot") if isinstance(body.get("slot"), str) else "category"
        found += [slot, f"{slot}_source", "nlu_confidence"]
    options = body.get("options")
    for option in options if isinstance(options, list) else []:
        if isinstance(option, dict):
            if isinstance(option.get("set"), dict):
                found += [str(k) for k in option["set"]]
            if isinstance(option.get("text_slot"), str):
                found.append(option["text_slot"])
    free = body.get("free_text")
    if isinstance(free, dict) and isinstance(free.get("slot"), str):
        found.append(free["slot"])
    return found


def _raw_targets(body: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Step references in a step that failed to parse, so a typo there is still reported."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if not isinstance(body, dict):
        return found
    for key in ("next", "default"):
        if isinstance(body.get(key), str):
            found.append(((key,), body[key]))
    for section, fields in (("options", ("goto", "text_goto")), ("cases", ("goto",)), ("edit", ("step",))):
        items = body.get(section)
        for i, item in enumerate(items if isinstance(items, list) else []):
            for key in fields:
                if isinstance(item, dict) and isinstance(item.get(key), str):
                    found.append(((section, i, key), item[key]))
    free = body.get("free_text")
    if isinstance(free, dict) and isinstance(free.get("goto"), str):
        found.append((("free_text", "goto"), free["goto"]))
    return found


class _Errors:
    """Collects FlowErrors, finding each one's line in the YAML."""

    def __init__(self, source: str, located: Located) -> None:
        self.source = source
        self.located = located
        self.items: list[FlowError] = []

    def add_at(self, path: tuple[str | int, ...], message: str, *, line: int | None = None) -> None:
        step: str | None = None
        rest = path
        if len(path) >= 2 and path[0] == "steps":
            step, rest = str(path[1]), path[2:]
        self.items.append(
            FlowError(self.source, step, _dotted(rest), message, line or self.located.line_of(path))
        )

    def problem(self, problem: Problem) -> None:
        base: tuple[str | int, ...] = ("steps", problem.step) if problem.step is not None else ()
        self.add_at((*base, *problem.path), problem.message)

    def pydantic(self, exc: ValidationError, base: tuple[str | int, ...], *, tagged: bool) -> None:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if tagged and loc and loc[0] in STEP_KINDS:
                loc = loc[1:]
            self.add_at((*base, *loc), _pydantic_message(err))


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _pydantic_message(err: Any) -> str:
    kind = err["type"]
    loc = tuple(err["loc"])
    last = loc[-1] if loc else ""
    if kind == "missing" and last in ("zh", "en"):
        return f"missing {'Chinese (zh)' if last == 'zh' else 'English (en)'} text"
    if kind == "missing":
        return f"required field '{last}' is missing"
    if kind == "extra_forbidden":
        return f"unknown field '{last}'"
    if kind == "union_tag_invalid":
        return f"unknown step kind '{err['ctx']['tag']}' (known: {', '.join(STEP_KINDS)})"
    if kind == "union_tag_not_found":
        return f"missing 'kind' (one of: {', '.join(STEP_KINDS)})"
    if kind == "model_type" and err.get("ctx", {}).get("class_name") == "Text":
        return "text must give both languages, e.g. {zh: 您好, en: Hello}"
    if kind == "string_pattern_mismatch":
        return "must be lowercase letters, digits and _ (starting with a letter, at most 40)"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    return str(err["msg"])


def _matches(value: str, pattern: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _required_str(data: dict[str, Any], key: str, errors: _Errors) -> str | None:
    value = data.get(key)
    if value is None:
        errors.add_at((key,), f"required field '{key}' is missing")
        return None
    if not isinstance(value, str):
        errors.add_at((key,), f"'{key}' must be text")
        return None
    return value


def _parse_steps(raw: Any, errors: _Errors) -> tuple[list[AnyStep] | None, list[str]]:
    if raw is None:
        errors.add_at(("steps",), "required field 'steps' is missing")
        return None, []
    if not isinstance(raw, dict) or not raw:
        errors.add_at(("steps",), "steps must be a mapping of step id to step")
        return None, []
    steps: list[AnyStep] = []
    broken: list[str] = []
    for step_id, body in raw.items():
        if not isinstance(body, dict):
            errors.add_at(("steps", step_id), "a step must be a mapping with a kind")
            broken.append(step_id)
            continue
        if "id" in body:
            errors.add_at(("steps", step_id, "id"), "unknown field 'id' (the key names the step)")
            broken.append(step_id)
            continue
        try:
            steps.append(_STEP.validate_python({"id": step_id, **body}))
        except ValidationError as exc:
            errors.pydantic(exc, ("steps", step_id), tagged=True)
            broken.append(step_id)
    return steps, broken


CATEGORY_LEVELS = 4
"""How deep the category tree goes: the category, then levels 2-4 under ``sub``."""
SUB = "sub"
MAX_CODE = 64
"""A category code fits a ticket's category columns."""


def _parse_categories(
    raw: Any,
    errors: _Errors,
    path: tuple[str | int, ...] = ("categories",),
    seen: set[str] | None = None,
) -> list[Category] | None:
    """The category tree; each code once in the whole tree (a ticket stores a level's code
    alone), each level's finer ones under ``sub``, at most ``CATEGORY_LEVELS`` deep."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        errors.add_at(path, "categories must map a code to {zh, en} labels (finer ones under sub)")
        return None
    seen = set() if seen is None else seen
    depth = 1 + sum(1 for part in path if part == SUB)
    out: list[Category] = []
    ok = True
    for code, label in raw.items():
        where = (*path, code)
        code = str(code)
        if code in seen or len(code) > MAX_CODE:
            errors.add_at(where, f"category code {code} is used twice" if code in seen else "code too long")
            ok = False
            continue
        seen.add(code)
        finer = label.get(SUB) if isinstance(label, dict) else None
        text = {k: v for k, v in label.items() if k != SUB} if isinstance(label, dict) else label
        parsed = _parse_model(Text, text, where, errors)
        children: list[Category] | None = []
        if finer is not None and depth >= CATEGORY_LEVELS:
            errors.add_at((*where, SUB), f"categories go {CATEGORY_LEVELS} levels deep at most")
            children = None
        elif finer is not None:
            children = _parse_categories(finer, errors, (*where, SUB), seen)
        if isinstance(parsed, Text) and children is not None:
            out.append(Category(code=code, label=parsed, children=tuple(children)))
        else:
            ok = False
    return out if ok else None


def _parse_messages(raw: Any, errors: _Errors) -> list[tuple[str, Text]] | None:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        errors.add_at(("messages",), "messages must map a message key to {zh, en} texts")
        return None
    out: list[tuple[str, Text]] = []
    for key, text in raw.items():
        parsed = _parse_model(Text, text, ("messages", key), errors)
        if isinstance(parsed, Text):
            out.append((key, parsed))
    return out if len(out) == len(raw) else None


def _parse_model(
    model: type[BaseModel], raw: Any, path: tuple[str | int, ...], errors: _Errors
) -> BaseModel | None:
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors.pydantic(exc, path, tagged=False)
        return None
