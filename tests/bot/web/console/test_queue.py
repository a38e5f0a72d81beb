"""How conversations reach the queue: the customer's request, angry wording, a major ticket,
an intake stalled for 15 minutes; sorted by severity then waiting time; and the after-hours
promise to the customer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from bot.web.console import views
from bot.web.console.accounts import Agent
from storage.models import Conversation
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import Clock, file
from tests.bot.web.console.helpers import Desk, console_desk, csrf_of

AGENT = Agent("wangfang", "王芳", "agent", None, "zh", "x")


async def say(desk: Desk, user: str, text: str) -> str:
    return joined(await desk.app.console.say(desk.app.manager, user, text))


async def queue(desk: Desk) -> list[tuple[str, str | None, int]]:
    def load(session: object) -> list[tuple[str, str | None, int]]:
        rows = views.queue(session, AGENT)  # type: ignore[arg-type]
        users = {
            c.id: c.user_id
            for c in session.exec(select(Conversation)).all()  # type: ignore[attr-defined]
        }
        return [(users[r.conversation_id], r.reason, r.priority) for r in rows]

    return await desk.app.db.run(load)


async def test_queue_sources_and_order(desk: Desk) -> None:
    await say(desk, "asks", "你好")
    desk.clock.advance(minutes=1)
    await say(desk, "asks", "0")
    desk.clock.advance(minutes=1)
    # angry wording: queued, and the bot carries on with the intake meanwhile
    reply = await say(desk, "angry", "你们这什么垃圾服务，气死我了")
    assert reply  # the bot still answers
    desk.clock.advance(minutes=1)
    await file(desk.app, "major", "水壶爆炸把我孩子烫伤了，我要找媒体曝光")
    desk.clock.advance(minutes=1)
    await say(desk, "calm", "你好")
    found = await queue(desk)
    assert [u for u, _, _ in found] == ["major", "angry", "asks"]
    assert found[0][1:] == ("major_ticket", 2)
    assert found[1][1:] == ("angry", 1)
    assert found[2][1:] == ("customer_request", 0)


async def test_an_intake_idle_for_fifteen_minutes_joins_the_queue(desk: Desk) -> None:
    await say(desk, "slow", "1")
    await say(desk, "slow", "烧水壶漏水")
    await say(desk, "done", "你好")  # at the greeting menu: not an intake under way
    desk.clock.advance(minutes=14)
    assert await desk.app.stuck.sweep() == []
    desk.clock.advance(minutes=2)
    flagged = await desk.app.stuck.sweep()
    assert len(flagged) == 1
    assert [(u, r) for u, r, _ in await queue(desk)] == [("slow", "stuck")]
    assert await desk.app.stuck.sweep() == []  # once is enough


async def test_after_hours_the_customer_is_told_when_people_are_back(tmp_path: Path) -> None:
    # Saturday 28 November 2026, 23:00 in Shanghai
    d = await console_desk(tmp_path, Clock(datetime(2026, 11, 28, 15, 0, tzinfo=UTC)))
    try:
        reply = await say(d, "night", "人工")
        assert "非工作时间" in reply and "11月30日 09:00" in reply
        assert [u for u, _, _ in await queue(d)] == ["night"]
    finally:
        await d.app.stop()


async def test_repeated_failed_answers_put_the_conversation_in_the_queue(desk: Desk) -> None:
    await say(desk, "lost", "1")
    await say(desk, "lost", "烧水壶漏水")
    for _ in range(3):
        replies = await desk.app.console.say(desk.app.manager, "lost", "99")
    offered = [b.label for r in replies for b in r.buttons]
    assert any("人工客服" in label and label.startswith("0") for label in offered), offered
    assert [(u, r) for u, r, _ in await queue(desk)] == [("lost", "repeated_failure")]


async def test_unread_counts_what_no_person_has_answered_yet(desk: Desk) -> None:
    await say(desk, "waits", "你好")
    desk.clock.advance(minutes=1)
    await say(desk, "waits", "0")
    desk.clock.advance(minutes=1)
    await say(desk, "waits", "还在吗")
    await say(desk, "waits", "快点")  # the bot's "please hold" answers are no answer

    def unread(session: object) -> int:
        return views.queue(session, AGENT)[0].unread  # type: ignore[arg-type]

    assert await desk.app.db.run(unread) == 4  # no person has replied to any of them
    async with desk.client("wangfang") as agent:
        page = (await agent.get("/console/lists")).text
        assert 'class="badge unread-count"' in page and ">4</span>" in page
        conversation = await desk.app.db.run(lambda s: views.queue(s, AGENT)[0].conversation_id)  # type: ignore[arg-type]
        csrf = csrf_of((await agent.get("/console")).text)
        await agent.post(f"/console/conversations/{conversation}/take", data={"csrf_token": csrf})
        await agent.post(
            f"/console/conversations/{conversation}/reply", data={"csrf_token": csrf, "text": "您好"}
        )
        await say(desk, "waits", "谢谢")
        page = (await agent.get("/console/lists")).text
        assert ">1</span>" in page  # only what came after her reply
