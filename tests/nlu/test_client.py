"""The Rasa client's failure behaviour, against real sockets: a closed port and a server that
accepts but never answers. Classification itself is tested against the real Rasa server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

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
    assert [s.name for s in result.category_ranking()] == ["billing", "delivery"]
    assert result.entities[0].entity == "regulator" and result.entities[0].value == "12315"


def test_a_foreign_shape_raises_so_the_client_counts_a_failure() -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        to_result("x", {"intent_ranking": [{"confidence": "high"}]})
