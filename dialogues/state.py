"""Conversation state, effects and the turn result: the engine's whole vocabulary of output.

All of it is plain data that round-trips through JSON, so the manager can store a state in one
column and a restart resumes exactly where the customer was.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Literal

from dialogues.types import Language, Reply

ConversationStatus = Literal["bot", "agent", "closed"]


@dataclass(frozen=True, slots=True)
class ConversationState:
    """Where one conversation stands. Never mutated: the engine returns a new one each turn.

    ``profile`` is read-only context the manager supplies (for example ``phone_on_file``);
    ``pending`` holds a question the current step asked besides its own prompt (for example the
    low-confidence "is this about X?" check), so the next answer is read against it.
    """

    flow: str
    flow_version: int
    step: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    language: Language = "zh"
    failures: int = 0
    status: ConversationStatus = "bot"
    pending: dict[str, Any] | None = None
    profile: dict[str, str] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        return self.step != ""

    def evolve(self, **changes: Any) -> ConversationState:
        """A copy with ``changes``; field by field, as ``dataclasses.replace`` would, at about
        half its cost (it runs several times a turn)."""
        pop = changes.pop
        new = ConversationState(
            pop("flow", self.flow),
            pop("flow_version", self.flow_version),
            pop("step", self.step),
            pop("slots", self.slots),
            pop("history", self.history),
            pop("language", self.language),
            pop("failures", self.failures),
            pop("status", self.status),
            pop("pending", self.pending),
            pop("profile", self.profile),
        )
        if changes:
            raise TypeError(f"ConversationState has no field {', '.join(sorted(changes))}")
        return new

    def to_json(self) -> str:
        # The fields by hand, not dataclasses.asdict: asdict deep-copies every slot value first,
        # and this runs on every turn. Dataclass values inside the slots still become objects.
        data = {
            "flow": self.flow,
            "flow_version": self.flow_version,
            "step": self.step,
            "slots": self.slots,
            "history": list(self.history),
            "language": self.language,
            "failures": self.failures,
            "status": self.status,
            "pending": self.pending,
            "profile": self.profile,
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True, default=_plain)

    @classmethod
    def from_json(cls, raw: str) -> ConversationState:
        data = json.loads(raw)
        data["history"] = tuple(data.get("history", ()))
        return cls(**data)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True, slots=True)
class CreateTicket:
    """Record a ticket. ``fields`` are the collected slots (description, category, phone, ...)."""

    kind: str  # complaint, consultation, suggestion, grievance
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestHandoff:
    """Put the conversation in the queue for a person; ``reason`` is a short code."""

    reason: str  # customer_request, repeated_failure, ...


@dataclass(frozen=True, slots=True)
class ShowProgress:
    """Tell the customer how their tickets stand; ``number`` narrows it to one of them."""

    number: str | None = None


@dataclass(frozen=True, slots=True)
class EndConversation:
    """The conversation is over; the next message starts the flow afresh."""

    reason: str = "done"  # done, cancelled


@dataclass(frozen=True, slots=True)
class DeskAnswer:
    """The customer answered the complaint desk: accepted or rejected a proposed solution (about
    ticket id ``ticket``), gave it a survey ``score`` (1-5) with a ``comment``, or appealed the
    closed ticket numbered ``number``. The desk applies it with its own rules."""

    kind: str  # accept, reject, survey, appeal
    ticket: int | None = None
    number: str | None = None
    score: int | None = None
    comment: str | None = None


Effect = CreateTicket | RequestHandoff | ShowProgress | DeskAnswer | EndConversation


@dataclass(frozen=True, slots=True)
class Turn:
    state: ConversationState
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()
