"""Whole ticket lives through the real bot on a controllable clock: intake, routing with recusal,
SLA warnings and breaches, the proposal loop, the callback survey, appeals and the repeat rule."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import TousuApp
from bot.domain.states import InvalidTransition
from bot.services.ticket_desk import LifecycleError, RecusalError
from storage.models import FollowUp, Ticket
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import (
    Clock,
    alerts,
    deadlines,
    desk_app,
    events,
    file,
    follow_ups,
    inbox,
    reload,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(tmp_path: Path, clock: Clock) -> AsyncIterator[TousuApp]:
    tousu = await desk_app(tmp_path, clock)
    try:
        yield tousu
    finally:
        await tousu.stop()


async def test_a_general_complaint_from_intake_to_close(app: TousuApp, clock: Clock) -> None:
    ticket, closing = await file(app, "u1")
    assert ticket.status == "acknowledged" and ticket.department == "quality"
    assert ticket.assignee == "lisi"  # both handlers are free; the first by name
    assert "李四" in closing and "质量管理部" in closing and "11月25日 10:00" in closing  # 48 h
    clocks = await deadlines(app, ticket)
    assert set(clocks) == {"acknowledge", "propose_solution", "close"}
    assert clocks["acknowledge"].met_at is None  # routing assigned; no person has acted yet
    # 10 working days from Monday 23 Nov: Monday 7 Dec at close of business, Shanghai time
    assert clocks["close"].due_at.astimezone(app.desk.tz).strftime("%m-%d %H:%M") == "12-07 18:00"

    clock.advance(hours=1)
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))
    assert "处理中" in await inbox(app, "u1")
    assert (await deadlines(app, ticket))["acknowledge"].met_at == clock.now  # the handler accepted it
    clock.advance(hours=3)
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: app.desk.propose(w, t, "为您更换一台新水壶并补偿50元", actor="agent:lisi")
    )
    proposal = (await app.console.pop("u1", 1))[0]
    assert "更换一台新水壶" in proposal.text
    assert [b.payload for b in proposal.buttons] == [f"lc:{ticket.id}:accept", f"lc:{ticket.id}:reject"]
    assert [b.label for b in proposal.buttons] == ["接受方案", "不满意"]  # the catalog's words
    assert "回复 1" not in proposal.text  # the buttons (WeChat: numbered lines) carry the keys
    assert "已解决" in joined(await app.console.say(app.manager, "u1", payload=proposal.buttons[0].payload))
    ticket = await reload(app, ticket.number)
    assert ticket.status == "resolved" and ticket.resolved_at == clock.now

    clock.advance(hours=23)
    assert await app.tickets.fire_due() == []  # the callback waits 24 h
    clock.advance(hours=1, minutes=1)
    assert "survey sent" in await app.tickets.fire_due()
    assert "打分" in await inbox(app, "u1")
    assert "已结案" in joined(await app.console.say(app.manager, "u1", "5 换货很快"))
    ticket = await reload(app, ticket.number)
    assert (ticket.status, ticket.satisfaction, ticket.satisfaction_comment) == ("closed", 5, "换货很快")
    statuses = [e.after["status"] for e in await events(app, ticket) if e.action == "status"]
    assert statuses == ["acknowledged", "in_progress", "solution_proposed", "resolved", "closed"]
    met = await deadlines(app, ticket)
    assert all(met[name].met_at is not None for name in ("propose_solution", "close", "callback"))
    with pytest.raises(InvalidTransition, match="closed ticket cannot become in_progress"):
        await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))


async def contacted(app: TousuApp, ticket: Ticket) -> None:
    """The handler called the customer: the acknowledge clock is met by a person."""
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: app.desk.record_contact(w, t, actor="agent:lisi", how="phone")
    )


async def test_an_unacknowledged_ticket_warns_at_80_percent_of_a_day(app: TousuApp, clock: Clock) -> None:
    """Routing assigned it, but nobody acted: the acknowledge clock runs and warns at 19.2 h."""
    ticket, _ = await file(app, "u9")
    clock.advance(hours=19, minutes=15)
    assert "handler warned" in await app.tickets.fire_due()
    assert (await deadlines(app, ticket))["acknowledge"].warned_at == clock.now
    await contacted(app, ticket)
    met = (await deadlines(app, ticket))["acknowledge"]
    assert met.met_at == clock.now and met.breached_at is None
    actions = [(e.action, e.actor) for e in await events(app, ticket)]
    assert ("contacted", "agent:lisi") in actions
    clock.advance(hours=5)
    assert "urged and escalated" not in await app.tickets.fire_due()  # met: no breach


async def test_an_unworked_ticket_warns_at_80_percent_then_escalates(app: TousuApp, clock: Clock) -> None:
    ticket, _ = await file(app, "u2")
    await contacted(app, ticket)
    clock.advance(hours=38)  # 80% of 48 h is 38.4 h
    assert "handler warned" not in await app.tickets.fire_due()
    clock.advance(minutes=30)
    assert "handler warned" in await app.tickets.fire_due()
    assert [a.kind for a in await alerts(app, "lisi")] == ["assigned", "warning"]
    clock.advance(hours=10)
    assert "urged and escalated" in await app.tickets.fire_due()
    ticket = await reload(app, ticket.number)
    assert ticket.status == "escalated" and ticket.escalated_to == "zhaoliu"
    assert [a.kind for a in await alerts(app, "zhaoliu")] == ["breach"]
    assert "urge" in [a.kind for a in await alerts(app, "lisi")]
    clocks = await deadlines(app, ticket)
    assert clocks["propose_solution"].breached_at == clock.now
    actions = [e.action for e in await events(app, ticket)]
    assert {"sla_warning", "sla_breached", "urged", "escalated_to_supervisor"} <= set(actions)
    assert await app.tickets.fire_due() == []  # each fired once


async def test_a_clock_gets_its_breach_follow_up_only_when_its_warning_fires(
    app: TousuApp, clock: Clock
) -> None:
    ticket, _ = await file(app, "u5")
    await contacted(app, ticket)
    clocks = await deadlines(app, ticket)
    warnings = await follow_ups(app, ticket, "sla_warn")
    assert sorted(f.data["deadline"] for f in warnings) == sorted(clocks)  # one per clock
    assert await follow_ups(app, ticket, "sla_breach") == []
    clock.advance(hours=38, minutes=30)
    assert "handler warned" in await app.tickets.fire_due()
    [breach] = await follow_ups(app, ticket, "sla_breach")
    assert breach.data == {"deadline": "propose_solution"} and breach.status == "pending"
    assert breach.due_at == clocks["propose_solution"].due_at


async def test_a_clock_met_before_its_warning_never_gets_a_breach_follow_up(
    app: TousuApp, clock: Clock
) -> None:
    ticket, _ = await file(app, "u6")
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: app.desk.propose(w, t, "为您更换一台新水壶", actor="agent:lisi")
    )
    clock.advance(hours=50)  # past the proposal's warning and deadline
    outcomes = await app.tickets.fire_due()
    assert "handler warned" not in outcomes and "urged and escalated" not in outcomes
    [warning] = [
        f for f in await follow_ups(app, ticket, "sla_warn") if f.data["deadline"] == "propose_solution"
    ]
    assert warning.status == "cancelled"
    assert await follow_ups(app, ticket, "sla_breach") == []


async def test_a_breach_follow_up_written_beside_its_warning_still_fires_once(
    app: TousuApp, clock: Clock
) -> None:
    """Tickets opened before breach follow-ups waited for the warning have both pending."""
    ticket, _ = await file(app, "u7")
    await contacted(app, ticket)
    due = (await deadlines(app, ticket))["propose_solution"].due_at
    await app.db.run(
        lambda s: s.add(
            FollowUp(
                ticket_id=ticket.id or 0, kind="sla_breach", due_at=due, data={"deadline": "propose_solution"}
            )
        )
    )
    clock.advance(hours=48, minutes=1)
    outcomes = await app.tickets.fire_due()  # with the breach follow-up the warning wrote
    assert outcomes.count("handler warned") == 1 and outcomes.count("urged and escalated") == 1
    assert "already breached" in outcomes
    assert [a.kind for a in await alerts(app, "zhaoliu")] == ["breach"]


async def test_a_major_complaint_goes_to_a_manager_and_the_bot_only_soothes(
    app: TousuApp, clock: Clock
) -> None:
    ticket, closing = await file(app, "u3", "孩子喝了你们的水上吐下泻住院了，再不处理我就找记者曝光")
    assert ticket.severity == "major" and ticket.status == "escalated"
    assert ticket.assignee == "qianjl" and ticket.escalated_to == "qianjl"
    assert "经理" in closing and "11月23日 22:00" in closing  # report to management within 12 h
    assert [a.kind for a in await alerts(app, "qianjl")][-1] == "major"
    assert [a.kind for a in await alerts(app, "zhaoliu")] == ["major"]
    clocks = await deadlines(app, ticket)
    assert {"report_to_management", "first_investigation", "plan"} <= set(clocks)
    assert clocks["report_to_management"].met_at == clock.now  # the manager has it
    assert clocks["first_investigation"].due_at.astimezone(app.desk.tz).strftime("%m-%d") == "11-25"
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:qianjl"))
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: app.desk.record_investigation(w, t, "批次抽检", actor="agent:qianjl")
    )
    assert (await deadlines(app, ticket))["first_investigation"].met_at is not None
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: app.desk.propose(w, t, "承担全部医疗费用并登门致歉", actor="agent:qianjl")
    )
    clock.advance(hours=2)
    await app.console.say(app.manager, "u3", payload=f"lc:{ticket.id}:accept")
    ticket = await reload(app, ticket.number)
    assert ticket.status == "resolved"
    assert (await deadlines(app, ticket))["plan"].met_at is not None


async def test_three_customers_on_one_target_make_it_major(app: TousuApp) -> None:
    first, _ = await file(app, "c1", where="上海徐汇店")
    again, _ = await file(app, "c1", where="上海徐汇店")  # the same customer twice counts once
    assert first.severity == again.severity == "normal"
    second, _ = await file(app, "c2", where="上海徐汇店", product="电热水壶 ")
    assert second.severity == "normal"
    elsewhere, _ = await file(app, "c4", where="上海徐汇店", product="净水器")
    assert elsewhere.severity == "normal"  # another target
    third, closing = await file(app, "c3", where="上海徐汇店")
    assert third.severity == "major" and third.status == "escalated"
    assert third.severity_reasons[-1]["rule"] == "repeat_complaint"
    reason = third.severity_reasons[-1]
    assert "3 位客户投诉" in reason["reason"] and "（产品质量）" in reason["reason"]
    assert "3 customers complained about" in reason["reason_en"]
    assert "(Product quality)" in reason["reason_en"]
    assert "经理" in closing


async def test_the_named_staff_member_never_handles_or_sees_the_ticket(app: TousuApp) -> None:
    ticket, _ = await file(app, "r1", staff="收银的王芳，工号A1001，态度很差")
    assert ticket.recused == ["wangfang"]
    assert ticket.assignee == "lisi"
    with pytest.raises(RecusalError, match="wangfang is named"):
        await app.tickets.on_ticket(
            ticket.number, lambda w, t: app.desk.assign(w, t, "wangfang", actor="agent:x")
        )
    assert not app.desk.can_see(ticket, "wangfang") and app.desk.can_see(ticket, "lisi")
    # the next ticket, with lisi busy, goes to wangfang: recusal is per ticket, not a ban
    other, _ = await file(app, "r2")
    assert other.assignee == "wangfang"


async def test_not_satisfied_twice_reaches_a_manager_and_a_bad_score_reopens(
    app: TousuApp, clock: Clock
) -> None:
    ticket, _ = await file(app, "d1")
    number = ticket.number
    await app.tickets.on_ticket(number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))
    await inbox(app, "d1")

    async def propose(text: str) -> None:
        await app.tickets.on_ticket(number, lambda w, t: app.desk.propose(w, t, text, actor="agent:lisi"))
        await inbox(app, "d1")

    await propose("补偿20元")
    assert "重新派给" in joined(await app.console.say(app.manager, "d1", "不满意"))
    ticket = await reload(app, number)
    assert (ticket.status, ticket.redispatches) == ("in_progress", 1)
    assert (await deadlines(app, ticket))["propose_solution"].started_at == clock.now
    await propose("补偿50元")
    assert "经理" in joined(await app.console.say(app.manager, "d1", "2"))
    ticket = await reload(app, number)
    assert (ticket.status, ticket.assignee) == ("escalated", "qianjl")
    assert [a.kind for a in await alerts(app, "qianjl")][-1] == "to_manager"

    await app.tickets.on_ticket(number, lambda w, t: app.desk.propose(w, t, "全额退款", actor="agent:qianjl"))
    await inbox(app, "d1")
    await app.console.say(app.manager, "d1", "1")
    clock.advance(hours=25)
    await app.tickets.fire_due()
    await inbox(app, "d1")
    assert "重新打开" in joined(await app.console.say(app.manager, "d1", "1 退款太慢"))
    ticket = await reload(app, number)
    assert ticket.satisfaction == 1 and ticket.severity == "major" and ticket.status == "escalated"
    assert ticket.severity_reasons[-1]["rule"] == "mishandled"
    assert "dissatisfied" in [a.kind for a in await alerts(app, "zhaoliu")]
    assert [f.status for f in await follow_ups(app, ticket, "auto_close")] == ["cancelled"]


async def test_a_silent_customer_is_reminded_once_then_the_ticket_closes(app: TousuApp, clock: Clock) -> None:
    ticket, _ = await file(app, "s1")
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.resolve(w, t, actor="agent:lisi"))
    await inbox(app, "s1", 2)
    clock.advance(hours=24, minutes=1)
    assert await app.tickets.fire_due() == ["survey sent"]
    await inbox(app, "s1")
    clock.advance(hours=24)
    assert await app.tickets.fire_due() == ["reminded"]
    assert "提醒" in await inbox(app, "s1")
    clock.advance(days=6)
    assert await app.tickets.fire_due() == ["closed"]
    assert "申诉" in await inbox(app, "s1")
    ticket = await reload(app, ticket.number)
    assert ticket.status == "closed" and ticket.satisfaction is None


async def test_an_appeal_is_a_linked_ticket_within_the_period(app: TousuApp, clock: Clock) -> None:
    ticket, _ = await file(app, "a1")
    for step in ("start", "resolve", "close"):
        await app.tickets.on_ticket(
            ticket.number, lambda w, t, step=step: getattr(app.desk, step)(w, t, actor="agent:lisi")
        )
    await inbox(app, "a1", 3)
    clock.advance(days=3)
    reply = joined(await app.console.say(app.manager, "a1", f"申诉 {ticket.number} 水壶还是漏水"))
    assert "申诉工单号" in reply and ticket.number in reply
    original = await reload(app, ticket.number)
    [appealed] = [e for e in await events(app, original) if e.action == "appealed"]
    appeal = await reload(app, appealed.after["appeal"])
    assert appeal.appeal_of == original.id and appeal.description == "水壶还是漏水"
    assert appeal.assignee == "zhaoliu" and "lisi" in appeal.recused  # not the original handler
    clock.advance(days=31)
    for step in ("start", "resolve", "close"):
        await app.tickets.on_ticket(
            appeal.number, lambda w, t, step=step: getattr(app.desk, step)(w, t, actor="agent:zhaoliu")
        )
    await inbox(app, "a1", 3)
    late = joined(await app.console.say(app.manager, "a1", f"申诉 {ticket.number}"))
    assert "超过申诉期限" in late


async def test_refusals_are_clear_and_change_nothing(app: TousuApp) -> None:
    ticket, _ = await file(app, "e1")
    with pytest.raises(InvalidTransition, match="acknowledged ticket cannot become resolved"):
        await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.move(w, t, "resolved", actor="x"))
    with pytest.raises(LifecycleError, match="needs text"):
        await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.propose(w, t, "  ", actor="x"))
    # a stale Accept button (nothing proposed) is answered, not obeyed
    reply = joined(await app.console.say(app.manager, "e1", payload=f"lc:{ticket.id}:accept"))
    assert "不需要这个答复" in reply
    assert (await reload(app, ticket.number)).status == "acknowledged"
    # someone else's ticket id in a forged payload goes to the flow, not to that ticket
    other, _ = await file(app, "e2")
    await app.console.say(app.manager, "e1", payload=f"lc:{other.id}:reject")
    assert (await reload(app, other.number)).status == "acknowledged"


async def test_quiet_hours_move_follow_ups_to_the_morning(tmp_path: Path) -> None:
    clock = Clock()
    clock.now = clock.now.replace(hour=14, minute=30)  # 22:30 in Shanghai
    app = await desk_app(tmp_path, clock)
    try:
        ticket, _ = await file(app, "q1")
        await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="agent:lisi"))
        await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.resolve(w, t, actor="agent:lisi"))
        [callback] = await follow_ups(app, ticket, "callback")
        local = callback.due_at.astimezone(app.desk.tz)
        assert (local.day, local.hour, local.minute) == (25, 8, 0)  # not 22:30 on the 24th
        # a job that fires late at night (it was due while the bot was down) waits for morning
        clock.now = callback.due_at + timedelta(hours=15)  # 23:00 on the 25th
        assert await app.tickets.fire_due() == ["moved out of quiet hours"]
        [callback] = await follow_ups(app, ticket, "callback")
        assert callback.status == "pending" and callback.due_at.astimezone(app.desk.tz).day == 26
    finally:
        await app.stop()


CODE = re.compile(r"\b[a-z]+_[a-z_]+\b|\bagent:\w+")
"""A code a person must never read in an alert (snake_case, an actor id)."""


def halves(text: str) -> tuple[str, str]:
    """An alert's Chinese and English halves (``zh / en``)."""
    zh, _, en = text.partition(" / ")
    assert en, text
    return zh, en


async def test_staff_alerts_name_categories_departments_and_deadlines_in_each_language(
    app: TousuApp, clock: Clock
) -> None:
    """E-mail, Telegram, WeCom and the console all read an alert's text: each half names the
    category, the department and the deadline in its own language, never a code."""
    await file(app, "u31")
    clock.advance(hours=19, minutes=15)  # 80 % of the acknowledge day
    assert "handler warned" in await app.tickets.fire_due()
    assigned, warning = [a.text for a in await alerts(app, "lisi")]
    zh, en = halves(assigned)
    assert "产品质量" in zh and "质量" in zh and "Product quality" in en and "Quality" in en
    zh, en = halves(warning)
    assert "受理确认" in zh and "acknowledge" not in zh
    assert "“acknowledge”" in en and "受理" not in en
    for text in (assigned, warning):
        zh, en = halves(text)
        assert not CODE.search(text), text
        assert not re.search(r"[A-Za-z]{3,}", zh), zh
        assert not re.search(r"[\u4e00-\u9fff]", en), en


async def test_a_ticket_raised_to_major_by_staff_alerts_by_their_name(app: TousuApp) -> None:
    ticket, _ = await file(app, "u32")
    await app.tickets.on_ticket(
        ticket.number,
        lambda w, t: app.desk.reclassify(w, t, {"severity": "major"}, actor="agent:zhaoliu"),
    )
    texts = [a.text for a in await alerts(app, "zhaoliu") if a.kind == "major"]
    assert texts, "the supervisor is alerted"
    zh, en = halves(texts[0])
    assert "赵六 将工单" in zh and "重大投诉" in zh
    assert "marked ticket" in en and "agent:" not in texts[0]
    reasons = (await reload(app, ticket.number)).severity_reasons
    assert reasons[-1]["reason"] == "赵六 定为重大投诉" and reasons[-1]["reason_en"] == "marked major by 赵六"
