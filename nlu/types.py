"""Value types exchanged between the NLU client and the dialogue engine.

They live apart from the Rasa client so the engine can depend on them without any HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

CONVERSATION_INTENTS: tuple[str, ...] = (
    "complain",
    "consult",
    "suggest",
    "request_human",
    "query_status",
    "cancel",
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
)
"""The model's intents that are not complaint categories (nlu/data/conversation.yml; ``complain`` is a
complaint announced before its content, nlu/data/requests.yml). Every other
intent it knows is a category (nlu/data/complaints/, intent name = category code); which
categories a conversation offers is its flow's ``categories`` list, not the NLU's."""


class Classifier(StrEnum):
    """Which classifier gave a result: the Rasa server's model, or the in-process one
    (nlu/fallback.py) that answers while Rasa is down or starting, or when it is not configured."""

    RASA = "rasa"
    BUILTIN = "builtin"


@dataclass(frozen=True, slots=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    value: str
    start: int | None = None
    end: int | None = None
    extractor: str | None = None


@dataclass(frozen=True, slots=True)
class NluResult:
    """What the NLU made of one text; ``intent`` is None when it had no guess at all."""

    text: str
    intent: IntentScore | None
    ranking: tuple[IntentScore, ...] = ()
    entities: tuple[Entity, ...] = field(default_factory=tuple)
    classifier: Classifier = Classifier.RASA


class NluClient(Protocol):
    """Anything that can classify a text; ``parse`` returns None when the NLU is unavailable."""

    async def parse(self, text: str) -> NluResult | None: ...

    async def aclose(self) -> None: ...
