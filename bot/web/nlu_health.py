"""What ``/health`` says about understanding free text: whether the Rasa server is up, and who
answers a customer's sentences right now (Rasa, the built-in classifier, or nobody: menus only).

``nlu`` is a sentence for the person reading the page; ``nlu_rasa`` and ``nlu_free_text`` are
fixed words for monitors. A down Rasa is never fatal: the bot keeps answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nlu.fallback import FallbackNluClient, NluWithFallback


class RasaState(StrEnum):
    UP = "up"
    RESTING = "resting"  # answers /status, but its parses failed in a row: the breaker is open
    DOWN = "down"
    STARTING = "starting"  # the bot's own server, not answering yet (~15 s after a start)
    RESTARTING = "restarting"  # the bot's own server died; its supervisor starts it again
    OFF = "off"  # not configured (nlu.enabled: false) or menus only (--no-nlu)
    UNCHECKED = "unchecked"  # an NLU client without a health probe (one a test built)


class FreeText(StrEnum):
    """Who understands a customer's sentences at this moment."""

    RASA = "rasa"
    BUILTIN = "builtin"
    NONE = "none"


_RASA_WORDS = {
    RasaState.UP: "Rasa is up",
    RasaState.RESTING: "Rasa answers but its last parses failed or were too slow, so it rests",
    RasaState.DOWN: "Rasa is down",
    RasaState.STARTING: "Rasa is starting",
    RasaState.RESTARTING: "Rasa stopped and is being restarted",
    RasaState.OFF: "Rasa is off",
    RasaState.UNCHECKED: "an NLU client without a health check is in use",
}
_FREE_TEXT_WORDS = {
    FreeText.RASA: "Rasa understands free text",
    FreeText.BUILTIN: "the built-in classifier understands free text",
    FreeText.NONE: "free text is not understood, customers get menus only",
}


@dataclass(frozen=True, slots=True)
class NluHealth:
    rasa: RasaState
    free_text: FreeText
    model: str | None = None
    """The loaded model's file name while Rasa is up."""

    def words(self) -> str:
        rasa = _RASA_WORDS[self.rasa] + (f" (model {self.model})" if self.model else "")
        waiting = self.rasa in (RasaState.DOWN, RasaState.STARTING, RasaState.RESTARTING, RasaState.RESTING)
        joiner = "; meanwhile " if waiting else "; "
        return rasa + joiner + _FREE_TEXT_WORDS[self.free_text]

    def as_json(self) -> dict[str, Any]:
        return {"nlu": self.words(), "nlu_rasa": self.rasa.value, "nlu_free_text": self.free_text.value}


async def nlu_health(nlu: object, supervisor_state: str | None = None) -> NluHealth:
    """Asks Rasa's ``/status`` (through the client) when there is a Rasa; ``supervisor_state``
    is the bot's own server's supervisor's word (``starting``, ``restarting``...), which names a
    Rasa that does not answer more precisely than "down"."""
    if nlu is None:
        return NluHealth(RasaState.OFF, FreeText.NONE)
    if isinstance(nlu, FallbackNluClient):
        return NluHealth(RasaState.OFF, FreeText.BUILTIN)
    probe = getattr(nlu, "health", None)
    if probe is None:
        return NluHealth(RasaState.UNCHECKED, FreeText.RASA)
    status = await probe()
    resting = getattr(nlu, "resting", None)
    if status is not None and resting is not None and resting():
        backed = isinstance(nlu, NluWithFallback)
        return NluHealth(RasaState.RESTING, FreeText.BUILTIN if backed else FreeText.NONE)
    if status is not None:
        model = str(status.get("model_file") or "").rsplit("/", 1)[-1]
        return NluHealth(RasaState.UP, FreeText.RASA, model or None)
    state = {"starting": RasaState.STARTING, "restarting": RasaState.RESTARTING}.get(
        supervisor_state or "", RasaState.DOWN
    )
    backed = isinstance(nlu, NluWithFallback)
    return NluHealth(state, FreeText.BUILTIN if backed else FreeText.NONE)
