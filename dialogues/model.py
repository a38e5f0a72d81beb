"""The flow file's schema as frozen pydantic models (re-exported by ``dialogues.spec``).

Everything is a tuple or a frozen model, so a parsed Flow is hashable and safe to share between
conversations and cache by (name, version). Each step knows its outgoing edges, the slots an edge
sets and the texts it shows: the validator's graph checks and the engine both read them from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

from dialogues.conditions import Condition, condition_slots, parse_condition
from dialogues.messages import EngineMessages
from dialogues.types import Language
from dialogues.understanding import EntityKind

Scalar = str | int | float | bool | None
StepId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
SlotName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]

TURN_SCOPED: frozenset[str] = frozenset({"ticket_number", "reply_by"})
"""Placeholders the manager fills after a create_ticket step, in that turn's replies only."""

ANY_CATEGORY = "category"
"""In an option's ``intents``: any complaint category (their confidences are summed)."""


def _as_str(value: Any) -> Any:
    """YAML reads ``key: 1`` as an int; keys and values are strings in the flow."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _pairs(value: Any) -> Any:
    return tuple(value.items()) if isinstance(value, Mapping) else value


Key = Annotated[str, BeforeValidator(_as_str)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Frozen):
    """Customer-facing text in both languages; Chinese is the default."""

    zh: str
    en: str

    @field_validator("zh", "en")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value

    def get(self, language: Language) -> str:
        return self.en if language == "en" else self.zh


@dataclass(frozen=True, slots=True)
class Edge:
    """A way out of a step: the field that names it, the target, and the slots it sets."""

    field: str
    target: str
    sets: frozenset[str] = frozenset()


class Option(_Frozen):
    key: Key
    label: Text
    goto: StepId
    set: Annotated[tuple[tuple[SlotName, Scalar], ...], BeforeValidator(_pairs)] = ()
    intents: tuple[str, ...] = ()
    """NLU intents that pick this option from free text (``category``: any complaint category)."""
    text_slot: SlotName | None = None
    """When picked from free text, the text is kept in this slot ..."""
    text_goto: StepId | None = None
    """... and the conversation goes here instead of ``goto`` ..."""
    text_min_length: int = Field(default=1, ge=1)
    """... if the text is at least this long ("我要投诉" alone describes nothing)."""
    prefixes: tuple[str, ...] = ()
    """Typed text starting with one of these picks the option, and the words after it answer
    the option's first question ("申诉 2611230001 还是漏水")."""


class FreeText(_Frozen):
    slot: SlotName
    goto: StepId


class Choice(_Frozen):
    value: Key
    label: Text
    aliases: tuple[str, ...] = ()


class EditField(_Frozen):
    slot: SlotName
    label: Text
    step: StepId


class Case(_Frozen):
    when: str = Field(alias="if")
    goto: StepId

    @field_validator("when")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_condition(value)  # ConditionError is a ValueError: pydantic reports it
        return value

    def condition(self) -> Condition:
        return parse_condition(self.when)


class Category(_Frozen):
    """A complaint category and its finer levels (``children``: level 2 under level 1, and so
    on to level 4, the cause a handler finds). Codes are unique across the whole tree."""

    code: str
    label: Text
    children: tuple[Category, ...] = ()

    def walk(self) -> Iterator[Category]:
        """This category and every finer one below it."""
        yield self
        for child in self.children:
            yield from child.walk()


class AttachmentRule(_Frozen):
    """Attachments sent while ``when`` holds are appended to ``slot`` (a list of dicts)."""

    slot: SlotName
    when: str | None = None

    @field_validator("when")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_condition(value)
        return value

    def condition(self) -> Condition | None:
        return None if self.when is None else parse_condition(self.when)


class _Step(_Frozen):
    id: StepId
    INPUT: ClassVar[bool] = False
    """Whether the step waits for the customer (and so can be gone back to with ``*``)."""

    def edges(self) -> tuple[Edge, ...]:
        return ()

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return ()

    def reads(self) -> tuple[tuple[str, frozenset[str]], ...]:
        """Slots read by conditions, by field."""
        return ()

    def writes(self) -> frozenset[str]:
        return frozenset().union(*(e.sets for e in self.edges()))


def _maybe(field: str, text: Text | None) -> tuple[tuple[str, Text], ...]:
    return () if text is None else ((field, text),)


class SayStep(_Step):
    kind: Literal["say"]
    text: Text
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        return (Edge("next", self.next),)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return (("text", self.text),)


class MenuStep(_Step):
    kind: Literal["menu"]
    INPUT: ClassVar[bool] = True
    text: Text
    options: tuple[Option, ...]
    free_text: FreeText | None = None
    """Typed text that is not an option is kept in this slot (no NLU)."""
    human_button: bool = False
    """Show a ``0`` button for a person (the ``0`` key works on every menu regardless)."""

    def edges(self) -> tuple[Edge, ...]:
        out: list[Edge] = []
        for i, opt in enumerate(self.options):
            sets = frozenset(slot for slot, _ in opt.set)
            out.append(Edge(f"options[{i}].goto", opt.goto, sets))
            if opt.text_slot is not None:
                out.append(
                    Edge(
                        f"options[{i}].text_goto" if opt.text_goto else f"options[{i}].goto",
                        opt.text_goto or opt.goto,
                        sets | {opt.text_slot},
                    )
                )
        if self.free_text is not None:
            out.append(Edge("free_text.goto", self.free_text.goto, frozenset({self.free_text.slot})))
        return tuple(out)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return (("text", self.text), *((f"options[{i}].label", o.label) for i, o in enumerate(self.options)))

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)


class AskStep(_Step):
    kind: Literal["ask"]
    INPUT: ClassVar[bool] = True
    text: Text
    slot: SlotName
    validator: str = "text"
    optional: bool = False
    """Allow skipping (a button, 跳过, skip); a skipped slot is set to None."""
    min_length: int = Field(default=1, ge=1)
    choices: tuple[Choice, ...] = ()
    offer_profile: str | None = None
    """A ``state.profile`` key whose value is offered as a button (masked), e.g. phone_on_file."""
    rest_slot: SlotName | None = None
    """Words the validator read after the answer ("4 处理很快": the comment) go here."""
    otherwise: StepId | None = None
    """An answer the validator refuses goes here instead of being asked again (a desk question
    the customer did not answer lets the message go to the main flow)."""
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        sets = frozenset({self.slot} if self.rest_slot is None else {self.slot, self.rest_slot})
        refused = () if self.otherwise is None else (Edge("otherwise", self.otherwise),)
        return (Edge("next", self.next, sets), *refused)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return (("text", self.text), *((f"choices[{i}].label", c.label) for i, c in enumerate(self.choices)))


class ClassifyStep(_Step):
    """Sets ``slot`` from the NLU's reading of ``source``; ``text`` heads the category menu."""

    kind: Literal["classify"]
    INPUT: ClassVar[bool] = True  # it may stop to ask "is this about X?"
    text: Text
    source: SlotName
    slot: SlotName = "category"
    next: StepId

    @property
    def extra_slots(self) -> tuple[str, str]:
        return f"{self.slot}_source", "nlu_confidence"

    def edges(self) -> tuple[Edge, ...]:
        return (Edge("next", self.next, frozenset({self.slot, *self.extra_slots})),)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return (("text", self.text),)


class CollectStep(_Step):
    """Gathers attachments into ``slot`` until the customer says done (1) or skip (2)."""

    kind: Literal["collect"]
    INPUT: ClassVar[bool] = True
    text: Text
    slot: SlotName
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        return (Edge("next", self.next, frozenset({self.slot})),)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return (("text", self.text),)


class ConfirmStep(_Step):
    """Shows a summary (``text`` with slot placeholders): 1 confirms, 2 edits one of ``edit``."""

    kind: Literal["confirm"]
    INPUT: ClassVar[bool] = True
    text: Text
    edit: tuple[EditField, ...] = ()
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        return (
            Edge("next", self.next),
            *(Edge(f"edit[{i}].step", e.step) for i, e in enumerate(self.edit)),
        )

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return (("text", self.text), *((f"edit[{i}].label", e.label) for i, e in enumerate(self.edit)))


class Understood(_Frozen):
    """One thing an ``understand`` step looks for: the slot it fills, what kind of thing it is and
    how the customer's note names it."""

    slot: SlotName
    entity: EntityKind
    label: Text


class UnderstandStep(_Step):
    """Reads what the text in ``source`` already says (Rasa's entities when the NLU read that text
    this turn, else ``dialogues.understanding``) into the listed slots that have no answer yet,
    and tells the customer what it noted in front of the next question. An ask step, or a menu's
    free text, whose slot it filled is then passed over (outside an edit): the confirmation shows
    the value and its edit menu changes it. A slot it finds nothing for is set to None (a date
    slot is left unset, for the date question and later answers)."""

    kind: Literal["understand"]
    source: SlotName
    slots: tuple[Understood, ...]
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        sets = frozenset(u.slot for u in self.slots if u.entity is not EntityKind.DATE)
        return (Edge("next", self.next, sets),)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return tuple((f"slots[{i}].label", u.label) for i, u in enumerate(self.slots))


class BranchStep(_Step):
    kind: Literal["branch"]
    cases: tuple[Case, ...]
    default: StepId

    def edges(self) -> tuple[Edge, ...]:
        return (
            *(Edge(f"cases[{i}].goto", c.goto) for i, c in enumerate(self.cases)),
            Edge("default", self.default),
        )

    def reads(self) -> tuple[tuple[str, frozenset[str]], ...]:
        return tuple((f"cases[{i}].if", condition_slots(c.condition())) for i, c in enumerate(self.cases))


class CreateTicketStep(_Step):
    """Emits CreateTicket; ``text`` may use {ticket_number} and {reply_by} (the manager fills them)."""

    kind: Literal["create_ticket"]
    ticket_kind: Literal["complaint", "consultation", "suggestion", "grievance"]
    text: Text | None = None
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        return (Edge("next", self.next, TURN_SCOPED),)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return _maybe("text", self.text)


class ProgressStep(_Step):
    kind: Literal["progress"]
    text: Text | None = None
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        return (Edge("next", self.next),)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return _maybe("text", self.text)


DeskAnswerKind = Literal["accept", "reject", "survey", "appeal"]


class DeskAnswerStep(_Step):
    """Emits DeskAnswer: the customer's answer to the complaint desk, applied by the desk with its
    own rules and refusal texts. Reads the slots ``ticket`` (the ticket id the desk asked about),
    ``appeal_number`` (the ticket an appeal names), ``score`` and ``comment``."""

    kind: Literal["desk_answer"]
    answer: DeskAnswerKind
    text: Text | None = None
    next: StepId

    def edges(self) -> tuple[Edge, ...]:
        return (Edge("next", self.next),)

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return _maybe("text", self.text)


class HandoffStep(_Step):
    kind: Literal["handoff"]
    reason: str = "customer_request"
    text: Text | None = None

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return _maybe("text", self.text)


class EndStep(_Step):
    kind: Literal["end"]
    reason: str = "done"
    text: Text | None = None

    def texts(self) -> tuple[tuple[str, Text], ...]:
        return _maybe("text", self.text)


Step = Annotated[
    SayStep
    | MenuStep
    | AskStep
    | ClassifyStep
    | CollectStep
    | ConfirmStep
    | UnderstandStep
    | BranchStep
    | CreateTicketStep
    | ProgressStep
    | DeskAnswerStep
    | HandoffStep
    | EndStep,
    Field(discriminator="kind"),
]
AnyStep = (
    SayStep
    | MenuStep
    | AskStep
    | ClassifyStep
    | CollectStep
    | ConfirmStep
    | UnderstandStep
    | BranchStep
    | CreateTicketStep
    | ProgressStep
    | DeskAnswerStep
    | HandoffStep
    | EndStep
)
STEP_KINDS: tuple[str, ...] = (
    "say",
    "menu",
    "ask",
    "classify",
    "collect",
    "confirm",
    "understand",
    "branch",
    "create_ticket",
    "progress",
    "desk_answer",
    "handoff",
    "end",
)


class Flow(_Frozen):
    """One parsed, validated flow. ``text`` is the YAML it came from, ``source`` where it was read."""

    name: str
    source: str
    text: str
    start: str
    steps: tuple[Step, ...]
    categories: tuple[Category, ...] = ()
    messages: tuple[tuple[str, Text], ...] = ()
    attachments: AttachmentRule | None = None
    _index: dict[str, AnyStep] = PrivateAttr(default_factory=dict)
    _messages: dict[str, Text] = PrivateAttr(default_factory=dict)
    _words: EngineMessages | None = PrivateAttr(default=None)
    _labels: dict[tuple[str, str], Text] = PrivateAttr(default_factory=dict)
    _screens: dict[tuple[str, str | None, str], Any] = PrivateAttr(default_factory=dict)
    _understood: frozenset[str] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: Any, /) -> None:
        """``context`` may carry the engine's default ``messages`` (``parse_flow`` passes them)."""
        self._index = {s.id: s for s in self.steps}
        if isinstance(context, Mapping) and isinstance(context.get("messages"), EngineMessages):
            self._words = context["messages"]
        self._messages = dict(self.messages)
        labels: dict[tuple[str, str], Text] = {}
        for step in self.steps:
            if isinstance(step, MenuStep):
                for opt in step.options:
                    for slot, value in opt.set:
                        labels.setdefault((slot, str(value)), opt.label)
            elif isinstance(step, AskStep):
                for choice in step.choices:
                    labels.setdefault((step.slot, choice.value), choice.label)
            elif isinstance(step, ClassifyStep):
                for cat in self.categories:
                    labels.setdefault((step.slot, cat.code), cat.label)
        self._labels = labels
        understood = (u.slot for s in self.steps if isinstance(s, UnderstandStep) for u in s.slots)
        self._understood = frozenset(understood)

    def _lookup(self, name: str) -> Any:
        # Pydantic serves private attributes through __getattr__ (about a microsecond each), and
        # the engine asks the flow for steps, messages and labels dozens of times a turn.
        return self.__pydantic_private__[name]  # type: ignore[index]

    def step(self, step_id: str) -> AnyStep:
        index: dict[str, AnyStep] = self._lookup("_index")
        return index[step_id]

    def has_step(self, step_id: str) -> bool:
        return step_id in self._lookup("_index")

    def understood_slots(self) -> frozenset[str]:
        """The slots an ``understand`` step may fill from a description."""
        found: frozenset[str] = self._lookup("_understood")
        return found

    def screen_memo(self) -> dict[tuple[str, str | None, str], Any]:
        """Room for what dialogues.screens derives from this flow alone (a screen's keys and
        buttons by step, sub-screen and language): a flow never changes once parsed."""
        memo: dict[tuple[str, str | None, str], Any] = self._lookup("_screens")
        return memo

    def message(self, key: str, language: Language, **values: object) -> str:
        """An engine message, the flow's override first; ``values`` fill its placeholders."""
        override = self._lookup("_messages").get(key)
        if override is not None:
            template: str = override.get(language)
        else:
            words: EngineMessages | None = self._lookup("_words")
            if words is None:
                raise LookupError(f"engine message {key!r}: this flow was built without the engine's words")
            template = words.template(key, language)
        return template.format_map(values)

    def category_label(self, code: str, language: Language) -> str:
        """The name of a category of any level (codes are unique across the tree)."""
        cat = next((c for top in self.categories for c in top.walk() if c.code == code), None)
        return cat.label.get(language) if cat else code

    def value_label(self, slot: str, value: object, language: Language) -> str | None:
        """The label of the option or choice that sets ``slot`` to ``value``, if any."""
        text = self._lookup("_labels").get((slot, str(value)))
        return text.get(language) if text else None
