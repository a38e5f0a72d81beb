"""The Rasa HTTP client the bot talks to.

One shared ``httpx.AsyncClient`` per bot, a short timeout and a circuit breaker: when Rasa is down
or slow, a customer waits at most one timeout, then every later parse returns None at once (the
dialogue shows its category menu) until the breaker lets one probe through again.

Parses are batched: while one request is at the server, texts that arrive wait and then go
together to Tousu's batch route (``/webhooks/batch/parse``, see nlu/rasa_ext/). One Rasa process
works through one request at a time, so 50 customers at once cost about one graph run over 50
texts instead of 50 runs in a queue. A lone text goes at once, so a quiet bot waits for nothing. A
Rasa server without the route (404) gets one ``/model/parse`` per text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from nlu.settings import NluSettings, RasaPlaces
from nlu.types import Entity, IntentScore, NluResult

log = logging.getLogger(__name__)

MAX_PARSE_CHARS = 1000
"""Longer texts are cut before parsing: the category shows in the first lines, and Rasa's time
grows with the length."""
MAX_BATCH = 64
BATCH_PATH = "/webhooks/batch/parse"


class CircuitBreaker:
    """Closed -> open after ``threshold`` failures in a row; one probe after ``reset_seconds``."""

    def __init__(self, threshold: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        if self._opened_at is None:
            return True
        if self._probing or self._clock() - self._opened_at < self.reset_seconds:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        if self._opened_at is not None:
            log.info("NLU answers again; circuit breaker closed")
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failure(self) -> None:
        self._failures += 1
        if self._probing or (self._opened_at is None and self._failures >= self.threshold):
            if self._opened_at is None:
                log.warning(
                    "NLU failed %d times in a row; skipped for %.0f s", self._failures, self.reset_seconds
                )
            self._opened_at = self._clock()
        self._probing = False


class RasaNluClient:
    """``NluClient`` over Rasa's ``POST /model/parse``."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        timeout: float = 1.5,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        batches: bool = True,
    ):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker(3, 30.0)
        self._params = {"token": token} if token else {}
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._batches = batches
        self._waiting: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._sender: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, nlu: NluSettings, places: RasaPlaces, *, url: str | None = None) -> RasaNluClient:
        from nlu.server import auth_token

        return cls(
            url or nlu.url,
            token=auth_token(nlu, places),
            timeout=nlu.timeout_seconds,
            breaker=CircuitBreaker(nlu.breaker_failures, nlu.breaker_reset_seconds),
        )

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.url,
                params=self._params,
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
                transport=self._transport,
            )
        return self._http

    async def parse(self, text: str) -> NluResult | None:
        """Classify ``text``; None when Rasa is down, slow, or the breaker is open."""
        text = text.strip()[:MAX_PARSE_CHARS]
        if not text or not self.breaker.allow():
            return None
        try:
            async with asyncio.timeout(self.timeout):
                data = await self._fetch(text)
            result = to_result(text, data)
        except (httpx.HTTPError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            log.debug("NLU parse failed: %s", exc)
            self.breaker.failure()
            return None
        self.breaker.success()
        return result

    async def _fetch(self, text: str) -> dict[str, Any]:
        if not self._batches:
            return await self._parse_one(text)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(_retrieve)  # an answer after the caller timed out is not an error
        self._waiting.append((text, waiter))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_batches(), name="nlu-batches")
        return await asyncio.shield(waiter)  # a caller's timeout must not cancel the others' batch

    async def _send_batches(self) -> None:
        """Send what is waiting, one request at a time, until nothing is."""
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            batch = [(text, waiter) for text, waiter in batch if not waiter.done()]
            if not batch:
                continue
            try:
                answers = await self._post_batch([text for text, _ in batch])
            except Exception as exc:  # every waiter gets the error; none is left hanging
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for (_, waiter), answer in zip(batch, answers, strict=True):
                if not waiter.done():
                    if isinstance(answer, BaseException):
                        waiter.set_exception(answer)
                    else:
                        waiter.set_result(answer)

    async def _post_batch(self, texts: list[str]) -> list[dict[str, Any] | BaseException]:
        if self._batches:
            response = await self._client().post(BATCH_PATH, json={"texts": texts})
            if response.status_code != 404:
                response.raise_for_status()
                results = response.json()["results"]
                if not isinstance(results, list) or len(results) != len(texts):
                    raise ValueError("the batch answer does not match the texts sent")
                return [r if isinstance(r, dict) else ValueError("not an object") for r in results]
            log.warning("the NLU server has no batch route; parsing one text per request")
            self._batches = False
        return list(await asyncio.gather(*(self._parse_one(t) for t in texts), return_exceptions=True))

    async def _parse_one(self, text: str) -> dict[str, Any]:
        response = await self._client().post("/model/parse", json={"text": text})
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError("the parse answer is not an object")
        return data

    def resting(self) -> bool:
        """The breaker is open: parses failed in a row, so sentences go elsewhere for a while
        even when Rasa answers ``/status``."""
        return self.breaker.is_open

    async def health(self) -> dict[str, Any] | None:
        """Rasa's ``/status`` (loaded model) or None when it does not answer."""
        try:
            response = await self._client().get("/status")
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    async def aclose(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        for _, waiter in self._waiting:
            waiter.cancel()
        self._waiting.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def to_result(text: str, data: dict[str, Any]) -> NluResult:
    """Rasa's parse JSON as an ``NluResult``; raises KeyError/TypeError on a foreign shape."""
    intent_data = data.get("intent") or {}
    intent = (
        IntentScore(str(intent_data["name"]), float(intent_data.get("confidence") or 0.0))
        if intent_data.get("name")
        else None
    )
    ranking = tuple(
        IntentScore(str(r["name"]), float(r.get("confidence") or 0.0))
        for r in data.get("intent_ranking") or ()
    )
    entities = tuple(
        Entity(
            entity=str(e["entity"]),
            value=str(e.get("value", "")),
            start=e.get("start"),
            end=e.get("end"),
            extractor=e.get("extractor"),
        )
        for e in data.get("entities") or ()
    )
    ranking = ranking or ((intent,) if intent else ())
    return NluResult(text=text, intent=intent, ranking=ranking, entities=entities)
