"""The Rasa client's failure behaviour, against real sockets: a closed port and a server that
accepts but never answers. Classification itself is tested against the real Rasa server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from nlu.client import CircuitBreaker, RasaNluClient, to_result
from tests.fixtures.rasa import free_port


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_silent_server_costs_one_timeout_then_the_breaker_answers_at_once(silent_port: int) -> None:
    client = RasaNluClient(
        f"http://127.0.0.1:{silent_port}", token="t", timeout=0.3, breaker=CircuitBreaker(1, 60.0)
    )
    try:
        started = time.monotonic()
        assert await client.parse("快递三天没到") is None
        first = time.monotonic() - started
        assert 0.25 <= first < 1.0
        started = time.monotonic()
        for _ in range(20):
            assert await client.parse("快递三天没到") is None
        assert time.monotonic() - started < 0.05
        assert client.breaker.is_open
    finally:
        await client.aclose()


async def test_a_closed_port_fails_fast_and_opens_after_the_threshold() -> None:
    client = RasaNluClient(
        f"http://127.0.0.1:{free_port()}", token=None, timeout=1.0, breaker=CircuitBreaker(3, 60.0)
    )
    try:
        for expected_open in (False, False, True):
            assert await client.parse("hello") is None
            assert client.breaker.is_open is expected_open
    finally:
        await client.aclose()


def test_breaker_lets_one_probe_through_after_the_reset_time() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 10.0, clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert not breaker.allow()
    now[0] = 9.9
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.failure()  # the probe failed: open again for a full period
    now[0] = 19.0
    assert not breaker.allow()
    now[0] = 20.1
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow() and not breaker.is_open


async def test_empty_text_is_not_sent() -> None:
    client = RasaNluClient(f"http://127.0.0.1:{free_port()}", token=None, breaker=CircuitBreaker(1, 60.0))
    assert await client.parse("   ") is None
    assert not client.breaker.is_open  # nothing was attempted
    await client.aclose()


def test_rasa_json_becomes_a_result_with_ranking_and_entities() -> None:
    data = {
        "text": "打了12315",
        "intent": {"name": "billing", "confidence": 0.81},
        "intent_ranking": [{"name": "billing", "confidence": 0.81}, {"name": "delivery", "confidence": 0.1}],
        "entities": [{"entity": "regulator", "value": "12315", "start": 2, "end": 7, "extractor": "X"}],
    }
    result = to_result("打了12315", data)
    assert result.intent is not None and result.intent.name == "billing"
    assert [(s.name, s.confidence) for s in result.ranking] == [("billing", 0.81), ("delivery", 0.1)]
    assert result.entities[0].entity == "regulator" and result.entities[0].value == "12315"


def test_a_foreign_shape_raises_so_the_client_counts_a_failure() -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        to_result("x", {"intent_ranking": [{"confidence": "high"}]})


class BatchServer:
    """An httpx transport answering Rasa's parse shapes; the first request is held until released,
    so the test can see what piles up behind it."""

    def __init__(self, *, batch_route: bool = True) -> None:
        self.batch_route = batch_route
        self.requests: list[tuple[str, object]] = []
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()

    @staticmethod
    def parsed(text: str) -> dict[str, object]:
        return {"text": text, "intent": {"name": f"intent-{text}", "confidence": 0.9}, "entities": []}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request.url.path, body))
        self.arrived.set()
        if len(self.requests) == 1:
            await self.release.wait()
        if request.url.path == "/webhooks/batch/parse":
            if not self.batch_route:
                return httpx.Response(404, json={"status": "failure"})
            return httpx.Response(200, json={"results": [self.parsed(t) for t in body["texts"]]})
        return httpx.Response(200, json=self.parsed(body["text"]))


def batch_client(server: BatchServer) -> RasaNluClient:
    return RasaNluClient("http://rasa.test", token="t", timeout=5.0, transport=httpx.MockTransport(server))


async def test_texts_arriving_while_a_request_is_out_go_together_in_the_next_one() -> None:
    server = BatchServer()
    client = batch_client(server)
    try:
        first = asyncio.create_task(client.parse("a"))
        await server.arrived.wait()
        others = [asyncio.create_task(client.parse(f"b{i}")) for i in range(20)]
        await asyncio.sleep(0.01)
        server.release.set()
        results = await asyncio.gather(first, *others)
    finally:
        await client.aclose()
    assert [(path, body) for path, body in server.requests] == [
        ("/webhooks/batch/parse", {"texts": ["a"]}),
        ("/webhooks/batch/parse", {"texts": [f"b{i}" for i in range(20)]}),
    ]
    # each caller gets the answer for its own text
    assert [r.intent.name if r and r.intent else None for r in results] == [
        "intent-a",
        *[f"intent-b{i}" for i in range(20)],
    ]


async def test_a_server_without_the_batch_route_gets_one_parse_per_text() -> None:
    server = BatchServer(batch_route=False)
    server.release.set()
    client = batch_client(server)
    try:
        results = await asyncio.gather(*(client.parse(t) for t in ("x", "y")))
        again = await client.parse("z")
    finally:
        await client.aclose()
    assert [r.intent.name if r and r.intent else None for r in [*results, again]] == [
        "intent-x",
        "intent-y",
        "intent-z",
    ]
    paths = [path for path, _ in server.requests]
    assert paths.count("/webhooks/batch/parse") == 1  # learned once, then not asked again
    assert sorted(body["text"] for path, body in server.requests if path == "/model/parse") == ["x", "y", "z"]  # type: ignore[index]


async def test_a_batch_answer_of_the_wrong_length_fails_every_caller_in_it() -> None:
    async def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": []})

    client = RasaNluClient(
        "http://rasa.test",
        token=None,
        timeout=5.0,
        breaker=CircuitBreaker(10, 1.0),
        transport=httpx.MockTransport(short),
    )
    try:
        assert await asyncio.gather(client.parse("a"), client.parse("b")) == [None, None]
    finally:
        await client.aclose()
