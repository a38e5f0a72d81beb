"""The inbound spool: what it holds survives until the database took it, in order, exactly as
received; a database error stops a drain (the rest waits), a message refused for another reason
is set aside instead of blocking every later one, and a line cut short by a crash never swallows
the next message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.services.inbound_spool import InboundSpool
from dialogues.types import Attachment, ConversationKey, InboundMessage


def message(n: int) -> InboundMessage:
    return InboundMessage(
        key=ConversationKey("wechat", f"oUser{n}"),
        text=f"第{n}条 message",
        message_id=f"m:{n}",
        received_at=datetime(2026, 12, 3, 10, 0, n, tzinfo=UTC),
        payload=None,
        attachments=(Attachment(kind="photo", ref=f"/files/{n}.jpg", size=n),),
        kind="text",
    )


class Store:
    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.fail = fail or {}
        self.stored: list[InboundMessage] = []

    async def __call__(self, inbound: InboundMessage) -> bool:
        error = self.fail.pop(inbound.message_id, None)
        if error is not None:
            raise error
        self.stored.append(inbound)
        return True


async def test_a_database_error_stops_the_drain_and_the_rest_waits_in_order(tmp_path: Path) -> None:
    spool = InboundSpool(tmp_path / "spool" / "in.jsonl")
    for n in range(3):
        await spool.put(message(n))
    locked = Store({"m:1": OperationalError("BEGIN", None, Exception("database is locked"))})
    with pytest.raises(OperationalError):
        await spool.drain(locked)
    assert locked.stored == [message(0)] and spool.pending() == 2
    again = Store()
    assert await spool.drain(again) == 2
    assert again.stored == [message(1), message(2)]  # intact: text, time, attachments
    assert spool.pending() == 0 and not spool.path.exists()


async def test_a_message_refused_for_another_reason_is_set_aside(tmp_path: Path) -> None:
    spool = InboundSpool(tmp_path / "in.jsonl")
    for n in range(3):
        await spool.put(message(n))
    store = Store({"m:1": ValueError("a bug")})
    assert await spool.drain(store) == 3
    assert store.stored == [message(0), message(2)]
    assert not spool.path.exists() and '"m:1"' in spool.dead_path.read_text(encoding="utf-8")


async def test_a_line_cut_short_by_a_crash_does_not_swallow_the_next(tmp_path: Path) -> None:
    spool = InboundSpool(tmp_path / "in.jsonl")
    spool.path.write_text('{"key": {"channel": "wechat", "user_id": "oCut"}, "te', encoding="utf-8")
    await spool.put(message(7))
    store = Store()
    assert await spool.drain(store) == 2  # the cut line (never acknowledged) and the message
    assert store.stored == [message(7)]
