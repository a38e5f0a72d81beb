"""Value types exchanged between the NLU client and the dialogue engine.

They live apart from the Rasa client so the engine can depend on them without any HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

CATEGORY_INTENTS: tuple[str, ...] = (
    "product_quality",
    "service_attitude",
    "delivery",
    "billing",
    "after_sales",
    "staff_misconduct",
    "facilities",
    "privacy",
    "safety",
)
"""Level-1 complaint categories; the intent names equal the category codes."""

CONVERSATION_INTENTS: tuple[str, ...] = (
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

    def category_ranking(self) -> tuple[IntentScore, ...]:
        """The ranking restricted to complaint categories, best first."""
        return tuple(s for s in self.ranking if s.name in CATEGORY_INTENTS)


class NluClient(Protocol):
    """Anything that can classify a text; ``parse`` returns None when the NLU is unavailable."""

    async def parse(self, text: str) -> NluResult | None: ...

    async def aclose(self) -> None: ...
