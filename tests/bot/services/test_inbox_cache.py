"""The manager's per-conversation cache stays bounded however many identities write."""

from __future__ import annotations

from pathlib import Path

from bot.app import TousuApp
from bot.services.lru import LruCache
from tests.bot.services.test_inbox import joined
from tests.conftest import make_settings


async def test_the_conversation_cache_keeps_only_the_most_recent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, dialogue={"cached_conversations": 10})
    tousu = TousuApp(settings, channels=[], use_nlu=False)
    await tousu.start()
    try:
        for n in range(25):
            await tousu.console.say(tousu.manager, f"visitor-{n}", "/start")
        assert len(tousu.manager._cache) == 10
        # an evicted conversation goes on from the database where it was
        assert "请描述" in joined(await tousu.console.say(tousu.manager, "visitor-0", "1"))
    finally:
        await tousu.stop()


def test_lru_cache_drops_the_least_recently_used() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.pop("a") == 1 and len(cache) == 1
