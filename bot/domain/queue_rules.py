"""When a conversation joins the agents' queue without the customer asking: angry wording, a
major ticket, repeated failed answers. Pure rules over the turn; the manager writes the flag."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dialogues import screens
from dialogues.state import RequestHandoff, Turn

PRIORITY_MAJOR = 2
PRIORITY_ANGRY = 1


def _always_open(_now: datetime) -> datetime | None:
    return None


@dataclass(frozen=True)
class QueueRules:
    """``agents_back(now)`` is when staff next work, or None while they are working now."""

    angry_words: Sequence[str] = ()
    agents_back: Callable[[datetime], datetime | None] = field(default=_always_open)

    def angry(self, text: str) -> bool:
        low = text.lower()
        return any(word and word.lower() in low for word in self.angry_words)

    def flag(self, text: str, turn: Turn, *, major: bool) -> tuple[str, int] | None:
        """(reason, priority) when this turn should put the conversation in front of a person."""
        if major:
            return ("major_ticket", PRIORITY_MAJOR)
        if self.angry(text):
            return ("angry", PRIORITY_ANGRY)
        asked = any(isinstance(e, RequestHandoff) for e in turn.effects)
        if not asked and screens.screen_of(turn.state) == "failed":
            return ("repeated_failure", 0)
        return None
