"""``POST /webhooks/batch/parse``: classify many texts in one request.

Rasa's ``/model/parse`` takes one text, and each request runs the whole graph once, so 50 customers
writing at the same moment queue 50 graph runs behind each other. The bot's client sends whatever
texts are waiting as one batch here; the graph runs once over all of them (the intent classifier
scores the batch in one call). Registered as an input channel through ``nlu/credentials.yml``
because that is how Rasa 3.6 lets a project add a route to ``rasa run``; it never touches the
dialogue side of Rasa. The same auth token as Rasa's own API is required (``?token=``).
"""

from __future__ import annotations

import gc
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request

logger = logging.getLogger(__name__)

MAX_TEXTS = 256
MAX_CHARS = 5000


def _error(status: int, reason: str) -> response.HTTPResponse:
    return response.json({"error": reason}, status=status)


class BatchParseInput(InputChannel):
    """Adds the batch parse route; ``token`` comes from the credentials file."""

    def __init__(self, token: str | None) -> None:
        self.token = token or ""

    @classmethod
    def name(cls) -> str:
        return "batch"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> BatchParseInput:
        return cls((credentials or {}).get("token"))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        routes = Blueprint("tousu_batch_parse", __name__)

        @routes.listener("after_server_start")
        async def freeze_heap(*_: Any) -> None:
            """Rasa's heap (TensorFlow, spaCy's and Rasa's modules, the model) is millions of
            objects: each full garbage collection walked them all, a 100-300 ms stall measured
            in the middle of a benchmark. Frozen after the model is loaded, a full collection
            only walks what was made since (the requests' own objects)."""
            gc.collect()
            gc.freeze()
            logger.info("froze %d objects for the garbage collector", gc.get_freeze_count())

        @routes.route("/parse", methods=["POST"])
        async def parse(request: Request) -> response.HTTPResponse:
            given = request.args.get("token", "") or ""
            if not self.token or not hmac.compare_digest(given.encode(), self.token.encode()):
                return _error(401, "a valid token is required")
            body = request.json if request.body else None
            texts = body.get("texts") if isinstance(body, dict) else None
            if (
                not isinstance(texts, list)
                or not 0 < len(texts) <= MAX_TEXTS
                or not all(isinstance(t, str) and 0 < len(t) <= MAX_CHARS for t in texts)
            ):
                return _error(400, f"send {{'texts': [...]}} with 1-{MAX_TEXTS} non-empty texts")
            agent = request.app.ctx.agent
            if agent is None or not agent.is_ready():
                return _error(409, "no model loaded")
            return response.json({"results": parse_texts(agent.processor, texts)})

        return routes


def parse_texts(processor: Any, texts: list[str]) -> list[dict[str, Any]]:
    """Run the NLU graph once over all texts; each result has the shape of ``/model/parse``."""
    messages = [UserMessage(text) for text in texts]
    tracker = DialogueStateTracker.from_events("batch", [])
    target = processor.model_metadata.nlu_target
    outputs = processor.graph_runner.run(
        inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker}, targets=[target]
    )[target]
    results = []
    for text, parsed in zip(texts, outputs, strict=True):
        data: dict[str, Any] = {"text": text, "intent": {"name": None, "confidence": 0.0}, "entities": []}
        data.update(parsed.as_dict(only_output_properties=True))
        data["text"] = text
        results.append(data)
    return results
