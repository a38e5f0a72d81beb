"""Scoring a model on labelled examples through a running server: shared by ``tousu nlu eval``
and the NLU review, which compares the live model with a candidate before switching."""

from __future__ import annotations

import asyncio
from typing import Any

from nlu.client import CircuitBreaker, RasaNluClient
from nlu.examples import Example
from nlu.metrics import evaluate
from nlu.types import CONVERSATION_INTENTS


async def predict(url: str, token: str, examples: list[Example], *, concurrency: int = 8) -> list[str | None]:
    client = RasaNluClient(url, token=token, timeout=10.0, breaker=CircuitBreaker(len(examples) + 1, 1.0))
    gate = asyncio.Semaphore(concurrency)

    async def one(example: Example) -> str | None:
        async with gate:
            result = await client.parse(example.text)
        return result.intent.name if result is not None and result.intent is not None else None

    try:
        return list(await asyncio.gather(*(one(e) for e in examples)))
    finally:
        await client.aclose()


def category_f1_by_language(examples: list[Example], predicted: list[str | None]) -> dict[str, float]:
    """Macro-F1 over the complaint categories (the examples' intents that are not conversation
    intents), per language."""
    scores: dict[str, float] = {}
    for language in ("zh", "en"):
        pairs = [
            (e.intent, p)
            for e, p in zip(examples, predicted, strict=True)
            if e.language == language and e.intent not in CONVERSATION_INTENTS
        ]
        if pairs:
            gold = [g for g, _ in pairs]
            scores[language] = round(evaluate(gold, [p for _, p in pairs], labels=set(gold)).macro_f1, 4)
    return scores


def summary(examples: list[Example], predicted: list[str | None]) -> dict[str, Any]:
    """Accuracy, macro-F1 and the category macro-F1 per language: what an admin compares."""
    report = evaluate([e.intent for e in examples], predicted)
    return {
        "examples": len(examples),
        "accuracy": round(report.accuracy, 4),
        "macro_f1": round(report.macro_f1, 4),
        "category_macro_f1": category_f1_by_language(examples, predicted),
        "unanswered": sum(1 for p in predicted if p is None),
    }
