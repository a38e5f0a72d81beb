"""A turn that raises, runs over its budget or keeps stopping the process is recorded as failed:
the customer is told, a person is asked to look, and nothing replays it again."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from bot.app import TousuApp
from bot.domain.catalog import Catalog
from bot.services.inbox import FAILED_TURN, MAX_REPLAYS
from storage.models import Conversation, Customer, Message
from tests.conftest import make_settings

SORRY = Catalog.load().text("bot.internal_error", "zh")


def joined(replies: list[object]) -> str:
    return "\n".join(getattr(r, "text", "") for r in replies)


async def _row(app: TousuApp, message_id: str) -> Message:
    def load(session: Session) -> Message:
        return session.exec(select(Message).where(Message.channel_message_id == message_id)).one()

    return await app.db.run(load)


async def _conversation(app: TousuApp) -> Conversation:
    return await app.db.run(lambda s: s.exec(select(Conversation)).one())


async def test_a_turn_that_raises_is_recorded_failed_and_the_conversation_goes_on(
    app: TousuApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    await app.console.say(app.manager, "hana", "你好")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the engine")

    with monkeypatch.context() as patch:
        patch.setattr("bot.services.inbox.engine.step", broken)
        replies = await app.console.say(app.manager, "hana", "1", message_id="h-2")
    assert SORRY in joined(replies)
    row = await _row(app, "h-2")
    assert row.processed_at is not None
    assert row.last_error == "RuntimeError: a bug in the engine"
    conversation = await _conversation(app)
    assert conversation.handoff_reason == FAILED_TURN and conversation.waiting_since is not None
    # the failed message never blocks the next one, and nothing is left to recover
    assert "请描述" in joined(await app.console.say(app.manager, "hana", "1", message_id="h-3"))
    assert await app.manager.recover() == 0


async def test_a_turn_over_its_budget_is_given_up_while_other_customers_are_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tousu = TousuApp(
        make_settings(tmp_path, dialogue={"turn_budget_seconds": 0.5}), channels=[], use_nlu=False
    )
    await tousu.start()
    try:
        assert tousu.manager.turn_budget_s == 0.5
        from bot.services import inbox as manager_module

        real_step = manager_module.engine.step

        def slow_for_ivy(flow, state, inbound, *args, **kwargs):  # type: ignore[no-untyped-def]
            if inbound.key.user_id == "ivy":
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:  # a runaway step in Python code
                    pass
            return real_step(flow, state, inbound, *args, **kwargs)

        monkeypatch.setattr(manager_module.engine, "step", slow_for_ivy)
        started = time.monotonic()
        ivy = asyncio.create_task(tousu.console.say(tousu.manager, "ivy", "你好", message_id="i-1"))
        await asyncio.sleep(0.05)
        other = await tousu.console.say(tousu.manager, "jack", "你好")
        assert "客户服务中心" in joined(other)  # served while ivy's step still runs
        assert SORRY in joined(await ivy)
        assert time.monotonic() - started < 2.5
        monkeypatch.undo()
        row = await _row(tousu, "i-1")
        assert row.processed_at is not None and "longer than 0.5 s" in (row.last_error or "")
    finally:
        await tousu.stop()


async def test_recover_replays_an_unfinished_turn_but_gives_up_on_one_that_keeps_stopping_the_bot(
    app: TousuApp,
) -> None:
    await app.console.say(app.manager, "kim", "你好")
    await app.console.say(app.manager, "lou", "你好")
    now = datetime.now(UTC)

    def left_by_crashes(session: Session) -> None:
        for user, attempts in (("kim", 0), ("lou", MAX_REPLAYS)):
            customer = session.exec(select(Customer).where(Customer.external_id == user)).one()
            conversation = session.exec(select(Conversation).where(Conversation.user_id == user)).one()
            session.add(
                Message(
                    conversation_id=conversation.id,
                    customer_id=customer.id or 0,
                    channel="console",
                    user_id=user,
                    direction="in",
                    channel_message_id=f"{user}-crashed",
                    text="1",
                    created_at=now,
                    attempts=attempts,
                )
            )
        session.commit()

    await app.db.run(left_by_crashes)
    assert await app.manager.recover() == 2
    await app.manager.drain()
    kim, lou = await _row(app, "kim-crashed"), await _row(app, "lou-crashed")
    assert kim.processed_at is not None and kim.last_error is None and kim.attempts == 1
    assert "请描述" in joined(await app.console.pop("kim", 1))
    assert lou.processed_at is not None and "stopped during this turn" in (lou.last_error or "")
    assert SORRY in joined(await app.console.pop("lou", 1))

    def unanswered(session: Session) -> list[Message]:
        return list(session.exec(select(Message).where(col(Message.processed_at).is_(None))))

    assert await app.db.run(unanswered) == []
    assert await app.manager.recover() == 0


async def test_the_crafted_status_message_is_answered_at_once(app: TousuApp) -> None:
    """The message that used to stop the bot for minutes (cubic backtracking in the command
    pattern): answered like any other text, and the next customer is not held up."""
    started = time.thread_time()
    replies = await app.console.say(app.manager, "max", "status" + " " * 4000 + "x")
    assert replies and time.thread_time() - started < 1.0
    assert "客户服务中心" in joined(await app.console.say(app.manager, "ned", "你好"))
