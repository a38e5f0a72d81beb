"""What /health says about free text, for each state of the Rasa server and its supervisor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.web.nlu_health import FreeText, RasaState, nlu_health
from nlu.client import CircuitBreaker, RasaNluClient
from nlu.examples import Example
from nlu.fallback import FallbackClassifier, FallbackNluClient, NluWithFallback
from nlu.types import Classifier


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


async def test_a_rasa_that_answers_its_status_but_fails_its_parses_is_said_to_rest() -> None:
    """Its breaker is open, so the built-in classifier reads the customers' sentences: /health
    must not say Rasa does."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "models/nlu-1.tar.gz"})
        return httpx.Response(500)

    rasa = RasaNluClient(
        "http://rasa.local",
        token=None,
        breaker=CircuitBreaker(2, 60.0),
        transport=httpx.MockTransport(answer),
        batches=False,
    )
    nlu = NluWithFallback(rasa, BUILTIN)
    try:
        assert (await nlu_health(nlu, "ok")).rasa is RasaState.UP
        for _ in range(2):
            assert await rasa.parse("水很难喝") is None
        result = await nlu.parse("水很难喝")
        assert result is not None and result.classifier is Classifier.BUILTIN  # the built-in one read it
        health = await nlu_health(nlu, "ok")
        assert (health.rasa, health.free_text) == (RasaState.RESTING, FreeText.BUILTIN)
        assert health.as_json()["nlu"] == (
            "Rasa answers but its last parses failed or were too slow, so it rests; "
            "meanwhile the built-in classifier understands free text"
        )
    finally:
        await nlu.aclose()
