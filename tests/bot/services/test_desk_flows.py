"""Answers to the desk go through the proposal and survey flows (bot/services/desk_flows.py): typed
answers count only when no other conversation is under way, the desk's buttons always count and
leave a conversation under way where it was, and a message that is no answer goes to the main flow
while the question keeps waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.app import TousuApp
from storage.models import Conversation, Ticket
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import Clock, desk_app, file, inbox, reload


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[TousuApp]:
    tousu = await desk_app(tmp_path, Clock())
    try:
        yield tousu
    finally:
        await tousu.stop()


async def proposed(app: TousuApp, user: str, solution: str = "补偿20元") -> Ticket:
    ticket, _ = await file(app, user)
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: app.desk.propose(w, t, solution, actor="agent:lisi")
    )
    assert solution in await inbox(app, user, 2)
    return await reload(app, ticket.number)


async def surveyed(app: TousuApp, user: str) -> Ticket:
    ticket, _ = await file(app, user)
    for step in ("start", "resolve"):
        await app.tickets.on_ticket(
            ticket.number, lambda w, t, step=step: getattr(app.desk, step)(w, t, actor="agent:lisi")
        )
    await inbox(app, user, 2)
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.ask_survey(w, t, actor="agent:lisi"))
    assert "打分" in await inbox(app, user)
    return await reload(app, ticket.number)


async def flow_of(app: TousuApp, user: str) -> tuple[str, str]:
    conv = await app.db.run(lambda s: s.exec(select(Conversation).where(Conversation.user_id == user)).one())
    return conv.flow, conv.step


async def test_a_typed_answer_mid_intake_is_an_intake_answer_and_counts_once_it_is_over(
    app: TousuApp,
) -> None:
    ticket = await proposed(app, "m1")
    assert "请回复数字" in joined(await app.console.say(app.manager, "m1", "你好"))  # the greeting
    assert "请描述" in joined(await app.console.say(app.manager, "m1", "1"))  # 1 = complain, not accept
    assert (await reload(app, ticket.number)).status == "solution_proposed"
    assert "已取消" in joined(await app.console.say(app.manager, "m1", "取消"))
    assert "已解决" in joined(await app.console.say(app.manager, "m1", "1"))  # now it accepts
    assert (await reload(app, ticket.number)).status == "resolved"


async def test_a_desk_button_mid_intake_counts_and_the_intake_stays_where_it_was(app: TousuApp) -> None:
    ticket = await proposed(app, "m2")
    await app.console.say(app.manager, "m2", "你好")
    assert "请描述" in joined(await app.console.say(app.manager, "m2", "1"))
    before = await flow_of(app, "m2")
    reply = joined(await app.console.say(app.manager, "m2", payload=f"lc:{ticket.id}:reject"))
    assert "重新派给" in reply
    assert (await reload(app, ticket.number)).status == "in_progress"
    assert await flow_of(app, "m2") == before == ("intake", "complaint_description")
    assert "类型" in joined(await app.console.say(app.manager, "m2", "我买的桶装水有异味，喝了不舒服"))


async def test_no_answer_goes_to_the_main_flow_and_the_survey_keeps_waiting(app: TousuApp) -> None:
    ticket = await surveyed(app, "s1")
    assert "请回复数字" in joined(await app.console.say(app.manager, "s1", "你好"))
    assert (await reload(app, ticket.number)).awaiting == "survey"
    await app.console.say(app.manager, "s1", "取消")
    assert "已结案" in joined(await app.console.say(app.manager, "s1", "4分，处理很快"))
    ticket = await reload(app, ticket.number)
    assert (ticket.satisfaction, ticket.satisfaction_comment, ticket.awaiting) == (4, "处理很快", None)
    assert await flow_of(app, "s1") == ("survey", "done")
    # answered: the next "5" is the main flow's again (its fifth service, the appeal)
    assert "申诉的工单号" in joined(await app.console.say(app.manager, "s1", "5"))
    assert (await reload(app, ticket.number)).satisfaction == 4


async def test_after_the_question_again_an_answer_counts_and_anything_else_goes_to_the_main_flow(
    app: TousuApp,
) -> None:
    ticket = await surveyed(app, "s4")
    assert "请为本次处理打分" in joined(await app.console.say(app.manager, "s4", "#"))
    assert "请描述" in joined(await app.console.say(app.manager, "s4", "我要投诉"))
    assert await flow_of(app, "s4") == ("intake", "complaint_description")
    await app.console.say(app.manager, "s4", "取消")
    await app.console.say(app.manager, "s4", "#")
    assert "已结案" in joined(await app.console.say(app.manager, "s4", "5"))
    assert (await reload(app, ticket.number)).satisfaction == 5


async def test_survey_buttons_old_and_new_score_through_the_flow(app: TousuApp) -> None:
    ticket = await surveyed(app, "s2")
    reply = joined(await app.console.say(app.manager, "s2", payload=f"lc:{ticket.id}:score:2"))
    assert "重新打开" in reply
    ticket = await reload(app, ticket.number)
    assert (ticket.satisfaction, ticket.status) == (2, "escalated")


async def test_an_appeal_names_only_the_customers_own_closed_ticket(app: TousuApp) -> None:
    other, _ = await file(app, "p2")
    reply = joined(await app.console.say(app.manager, "p1", f"申诉 {other.number} 不服"))
    assert "未找到" in reply and other.number in reply
    assert [e for e in await app.db.run(lambda s: s.exec(select(Ticket)).all()) if e.appeal_of] == []
    open_one, _ = await file(app, "p3")
    reply = joined(await app.console.say(app.manager, "p3", f"appeal {open_one.number}"))
    assert "结案" in reply  # not closed yet: the desk's own refusal
    assert (await reload(app, open_one.number)).status == "acknowledged"


async def test_an_admins_published_survey_wording_is_what_the_customer_reads(app: TousuApp) -> None:
    ticket = await surveyed(app, "s3")

    def publish(session: Session) -> int:
        _, live = app.catalog.live(session, name="survey")
        edited = live.text.replace("请为本次处理打分", "请给我们的服务打个分")
        return app.catalog.publish(session, flow=app.catalog.parse(edited, source="console"), author="root")

    assert await app.db.run(publish) == 2
    assert "请给我们的服务打个分" in joined(await app.console.say(app.manager, "s3", "#"))
    assert (await reload(app, ticket.number)).awaiting == "survey"
    assert "已结案" in joined(await app.console.say(app.manager, "s3", "5"))
