"""What /health says about free text, for each state of the Rasa server and its supervisor."""

from __future__ import annotations

from typing import Any

import pytest

from bot.web.nlu_health import FreeText, RasaState, nlu_health
from nlu.examples import Example
from nlu.fallback import FallbackClassifier, FallbackNluClient, NluWithFallback


class _Rasa:
    def __init__(self, status: dict[str, Any] | None) -> None:
        self.status = status

    async def parse(self, text: str) -> None:
        return None

    async def health(self) -> dict[str, Any] | None:
        return self.status

    async def aclose(self) -> None:
        return None


BUILTIN = FallbackNluClient(
    FallbackClassifier([Example("水很难喝", "product_quality"), Example("你好", "greet")])
)


@pytest.mark.parametrize(
    ("nlu", "supervisor", "rasa", "free_text", "words"),
    [
        (None, None, RasaState.OFF, FreeText.NONE, "Rasa is off; free text is not understood"),
        (BUILTIN, None, RasaState.OFF, FreeText.BUILTIN, "Rasa is off; the built-in classifier"),
        (
            NluWithFallback(_Rasa({"model_file": "models/nlu-1.tar.gz"}), BUILTIN),
            "ok",
            RasaState.UP,
            FreeText.RASA,
            "Rasa is up (model nlu-1.tar.gz); Rasa understands",
        ),
        (
            NluWithFallback(_Rasa(None), BUILTIN),
            "starting",
            RasaState.STARTING,
            FreeText.BUILTIN,
            "Rasa is starting; meanwhile the built-in classifier",
        ),
        (
            NluWithFallback(_Rasa(None), BUILTIN),
            "restarting",
            RasaState.RESTARTING,
            FreeText.BUILTIN,
            "Rasa stopped and is being restarted; meanwhile the built-in",
        ),
        (NluWithFallback(_Rasa(None), BUILTIN), "ok", RasaState.DOWN, FreeText.BUILTIN, "Rasa is down"),
        (_Rasa(None), None, RasaState.DOWN, FreeText.NONE, "Rasa is down; meanwhile free text is not"),
    ],
)
async def test_health_names_who_understands_free_text(
    nlu: object, supervisor: str | None, rasa: RasaState, free_text: FreeText, words: str
) -> None:
    health = await nlu_health(nlu, supervisor)
    assert (health.rasa, health.free_text) == (rasa, free_text)
    body = health.as_json()
    assert body["nlu"].startswith(words)
    assert (body["nlu_rasa"], body["nlu_free_text"]) == (rasa.value, free_text.value)
