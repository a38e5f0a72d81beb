"""What the pages show: canned replies filled for the conversation, the supervisor's deadlines and
escalations, staff alerts, WeChat's 48-hour window."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage.models import Conversation, Customer
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import file
from tests.bot.web.console.helpers import Desk, page_csrf


async def say(desk: Desk, user: str, text: str) -> str:
    return joined(await desk.app.console.say(desk.app.manager, user, text))


async def conversation_id(desk: Desk, user: str) -> int:
    def find(session: object) -> int:
        conv = session.exec(select(Conversation).where(Conversation.user_id == user)).one()  # type: ignore[attr-defined]
        return int(conv.id)

    return await desk.app.db.run(find)


async def test_canned_replies_are_filled_for_the_conversation(desk: Desk) -> None:
    ticket, _ = await file(desk.app, "c1")
    await say(desk, "c1", "人工")
    cid = await conversation_id(desk, "c1")
    async with desk.client("root") as admin:
        await admin.post(
            "/console/canned",
            data={
                "csrf_token": await page_csrf(admin),
                "title": "进度",
                "language": "zh",
                "text": "您好，我是{agent_name}，工单{ticket_number}正在处理。",
            },
        )
        assert "{ticket_number}" in (await admin.get("/console/canned")).text
    async with desk.client("wangfang") as agent:
        await agent.post(f"/console/conversations/{cid}/take", data={"csrf_token": await page_csrf(agent)})
        page = (await agent.get(f"/console/conversations/{cid}")).text
        assert f"您好，我是王芳，工单{ticket.number}正在处理。" in page


async def test_supervisor_sees_deadlines_near_and_past_and_escalations(desk: Desk) -> None:
    ticket, _ = await file(desk.app, "c2")

    async def page(path: str = "/console/supervisor") -> str:
        async with desk.client("zhaoliu") as sup:  # a new login: hours pass between the looks
            response = await sup.get(path)
            assert response.status_code == 200
            return response.text

    def section(html: str, name: str) -> str:
        return html.split(f'id="{name}"')[1].split("</section>")[0]

    assert ticket.number not in section(await page(), "near")
    # the propose-a-solution clock (48 h) is past 80% after 40 hours
    desk.clock.advance(hours=40)
    assert ticket.number in section(await page(), "near")
    desk.clock.advance(hours=10)
    await desk.app.tickets.fire_due()
    late = await page()
    assert ticket.number in section(late, "overdue")
    assert ticket.number in section(late, "escalations")
    assert ticket.number in (await page("/console")).split("<aside")[1]  # the supervisor's breach alert


async def test_the_wechat_window_is_shown_to_the_agent(desk: Desk) -> None:
    from dialogues.types import ConversationKey, InboundMessage

    app = desk.app
    inbound = InboundMessage(
        key=ConversationKey("wechat", "oWX123"),
        text="人工",
        message_id="wx-1",
        received_at=desk.clock(),
    )
    await app.manager.handle(inbound)
    cid = await conversation_id(desk, "oWX123")
    async with desk.client("wangfang") as agent:
        page = (await agent.get(f"/console/conversations/{cid}")).text
        assert "微信客服消息窗口开放至" in page

        def age(session: object) -> None:
            customer = session.exec(select(Customer).where(Customer.external_id == "oWX123")).one()  # type: ignore[attr-defined]
            customer.last_inbound_at = desk.clock() - timedelta(hours=49)
            session.add(customer)  # type: ignore[attr-defined]

        await app.db.run(age)
        assert "模板消息" in (await agent.get(f"/console/conversations/{cid}")).text


async def test_the_console_speaks_chinese_by_default_and_english_on_request(desk: Desk) -> None:
    async with desk.client("wangfang") as agent:
        assert "等待人工" in (await agent.get("/console")).text
        await agent.post("/console/language", data={"csrf_token": await page_csrf(agent)})
        page = (await agent.get("/console")).text
        assert "Waiting for a person" in page and "等待人工" not in page
    async with desk.client() as anonymous:
        assert "Log in" in (await anonymous.get("/console/login", params={"lang": "en"})).text
        assert "登录" in (await anonymous.get("/console/login")).text


async def test_the_queue_names_channels_reasons_and_roles_in_words_not_codes(desk: Desk) -> None:
    await say(desk, "q1", "你好")
    await say(desk, "q1", "人工")
    async with desk.client("wangfang") as agent:
        page = (await agent.get("/console/lists")).text
        assert "客户要求人工" in page and "终端" in page
        assert "customer_request" not in page and ">console<" not in page
        assert "王芳 · 客服" in (await agent.get("/console")).text
        await agent.post("/console/language", data={"csrf_token": await page_csrf(agent)})
        page = (await agent.get("/console/lists")).text
        # standing alone in a cell, the catalog's mid-sentence words start with a capital
        assert "<td>Customer asked for a person" in page and "<td>Terminal</td>" in page
        assert "王芳 · Agent" in (await agent.get("/console")).text
