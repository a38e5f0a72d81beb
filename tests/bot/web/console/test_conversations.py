"""A conversation in the console: taking over, replying, notes, transfer and hand back, driven
through its HTTP routes with the customer on the in-process console channel."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Conversation, Message, Ticket
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import file
from tests.bot.web.console.helpers import Desk, page_csrf, settle, take_and_send_file


async def conversation_id(desk: Desk, user: str) -> int:
    def find(session: object) -> int:
        conv = session.exec(select(Conversation).where(Conversation.user_id == user)).one()  # type: ignore[attr-defined]
        return int(conv.id)

    return await desk.app.db.run(find)


async def say(desk: Desk, user: str, text: str) -> str:
    return joined(await desk.app.console.say(desk.app.manager, user, text))


async def test_customer_asks_for_a_person_agent_takes_replies_and_hands_back(desk: Desk) -> None:
    app = desk.app
    await say(desk, "u1", "你好")
    waiting = await say(desk, "u1", "0")
    assert "人工" in waiting
    cid = await conversation_id(desk, "u1")
    async with desk.client("wangfang") as agent:
        home = await agent.get("/console")
        assert f"/console/conversations/{cid}" in home.text
        csrf = await page_csrf(agent)
        taken = await agent.post(f"/console/conversations/{cid}/take", data={"csrf_token": csrf})
        assert taken.status_code == 303
        joined_text = joined(await app.console.pop("u1", 1))
        assert "王芳" in joined_text and "接入" in joined_text
        # while the agent holds it the bot stays silent and the message reaches the console
        assert await say(desk, "u1", "我的快递三天没到") == ""
        data = (await agent.get(f"/console/conversations/{cid}/messages")).json()
        assert data["held_by"] == "wangfang"
        assert data["messages"][-1]["text"] == "我的快递三天没到"
        assert data["messages"][-1]["from"] == "customer"
        last = data["messages"][-1]["id"]
        sent = await agent.post(
            f"/console/conversations/{cid}/reply",
            data={"csrf_token": csrf, "text": "您好，我来帮您查一下"},
            headers={"X-Requested-With": "fetch"},
        )
        assert sent.json() == {"ok": True}
        assert joined(await app.console.pop("u1", 1)) == "您好，我来帮您查一下"
        await agent.post(
            f"/console/conversations/{cid}/note", data={"csrf_token": csrf, "text": "客户很着急"}
        )
        after = (await agent.get(f"/console/conversations/{cid}/messages", params={"after": last})).json()
        assert [(m["from"], m["text"]) for m in after["messages"]] == [
            ("agent", "您好，我来帮您查一下"),
            ("note", "客户很着急"),
        ]
        assert app.console.pop_nowait("u1") == []  # the note never reaches the customer
        back = await agent.post(
            f"/console/conversations/{cid}/handback", data={"csrf_token": csrf, "point": "menu"}
        )
        assert back.status_code == 303
    farewell = joined(await app.console.pop("u1", 2))
    assert "智能助手" in farewell and "请回复数字选择服务" in farewell  # the bot is back with its menu
    assert "请描述" in await say(desk, "u1", "1")  # and answers again

    def conv_row(session: object) -> Conversation:
        return session.get(Conversation, cid)  # type: ignore[attr-defined,no-any-return]

    row = await app.db.run(conv_row)
    assert (row.status, row.assigned_agent, row.waiting_since) == ("bot", None, None)


async def test_hand_back_resumes_the_question_the_customer_was_at(desk: Desk) -> None:
    await say(desk, "u2", "1")
    await say(desk, "u2", "烧水壶漏水")  # now at the category question
    cid = await conversation_id(desk, "u2")
    async with desk.client("zhaoliu") as sup:
        csrf = await page_csrf(sup)
        await sup.post(f"/console/conversations/{cid}/take", data={"csrf_token": csrf})
        assert "赵六" in joined(await desk.app.console.pop("u2", 1))
        await sup.post(f"/console/conversations/{cid}/handback", data={"csrf_token": csrf, "point": "resume"})
    replies = joined(await desk.app.console.pop("u2", 2))
    assert "类型" in replies or "类别" in replies


async def test_a_second_agent_cannot_take_a_held_conversation(desk: Desk) -> None:
    await say(desk, "u3", "人工")
    cid = await conversation_id(desk, "u3")
    async with desk.client("wangfang") as first, desk.client("lisi") as second:
        await first.post(f"/console/conversations/{cid}/take", data={"csrf_token": await page_csrf(first)})
        refused = await second.post(
            f"/console/conversations/{cid}/take",
            data={"csrf_token": await page_csrf(second)},
            headers={"X-Requested-With": "fetch"},
        )
        # lisi may not even open it any more: it left the queue and is not hers
        assert refused.status_code == 404
        reply = await second.post(
            f"/console/conversations/{cid}/reply",
            data={"csrf_token": await page_csrf(second), "text": "hi"},
            headers={"X-Requested-With": "fetch"},
        )
        assert reply.status_code == 404  # nor write into it: not hers to see


async def test_transfer_to_a_colleague_and_to_a_department_queue(desk: Desk) -> None:
    await say(desk, "u4", "人工")
    cid = await conversation_id(desk, "u4")
    async with desk.client("wangfang") as agent, desk.client("lisi") as colleague:
        csrf = await page_csrf(agent)
        await agent.post(f"/console/conversations/{cid}/take", data={"csrf_token": csrf})
        await agent.post(
            f"/console/conversations/{cid}/transfer", data={"csrf_token": csrf, "to_user": "lisi"}
        )
        texts = joined(await desk.app.console.pop("u4", 2))
        assert "李四" in texts
        page = await colleague.get(f"/console/conversations/{cid}")
        assert page.status_code == 200 and 'id="reply-form"' in page.text
        await colleague.post(
            f"/console/conversations/{cid}/transfer",
            data={"csrf_token": await page_csrf(colleague), "to_department": "billing"},
        )
        assert "转接" in joined(await desk.app.console.pop("u4", 1))
    async with desk.client("zhaoliu") as sup:
        assert f"/console/conversations/{cid}" in (await sup.get("/console")).text


async def test_html_from_a_customer_is_shown_as_text(desk: Desk) -> None:
    await say(desk, "u5", "人工")
    await say(desk, "u5", '<script>alert("x")</script><img src=x onerror=alert(1)>')
    cid = await conversation_id(desk, "u5")
    async with desk.client("wangfang") as agent:
        page = (await agent.get(f"/console/conversations/{cid}")).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        listing = (await agent.get("/console/lists")).text
        assert "<script>alert" not in listing


async def test_survey_hand_back_asks_the_resolved_tickets_survey(desk: Desk) -> None:
    app = desk.app
    ticket, _ = await file(app, "u6")
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.start(w, t, actor="wangfang"))
    await app.tickets.on_ticket(ticket.number, lambda w, t: app.desk.resolve(w, t, actor="wangfang"))
    await settle(desk, "u6")
    await say(desk, "u6", "人工")
    cid = await conversation_id(desk, "u6")
    async with desk.client("wangfang") as agent:
        csrf = await page_csrf(agent)
        await agent.post(f"/console/conversations/{cid}/take", data={"csrf_token": csrf})
        await agent.post(
            f"/console/conversations/{cid}/handback", data={"csrf_token": csrf, "point": "survey"}
        )
    out = await app.console.pop("u6", 3)
    assert "满意" in joined(out)
    assert any(b.payload.startswith(f"lc:{ticket.id}:score") for m in out for b in m.buttons)
    await say(desk, "u6", "5")

    def rated(session: object) -> int | None:
        return session.get(Ticket, ticket.id).satisfaction  # type: ignore[attr-defined,no-any-return]

    assert await app.db.run(rated) == 5


async def test_agents_do_not_see_conversations_whose_complaint_names_them(desk: Desk) -> None:
    app = desk.app
    await file(app, "u8", "李四态度恶劣，还骂人", staff="李四")
    await say(desk, "u8", "人工")
    cid = await conversation_id(desk, "u8")
    async with desk.client("lisi") as named, desk.client("wangfang") as other:
        assert f"/console/conversations/{cid}" not in (await named.get("/console")).text
        assert (await named.get(f"/console/conversations/{cid}")).status_code == 404
        take = await named.post(
            f"/console/conversations/{cid}/take", data={"csrf_token": await page_csrf(named)}
        )
        assert take.status_code == 404
        assert f"/console/conversations/{cid}" in (await other.get("/console")).text

    def notes(session: object) -> list[str]:
        rows = session.exec(select(Message).where(Message.direction == "note")).all()  # type: ignore[attr-defined]
        return [r.text for r in rows]

    assert await app.db.run(notes) == []


async def test_a_file_sent_to_a_webchat_customer_is_served_only_to_that_browser(desk: Desk) -> None:
    from bot.web.server import CHAT_COOKIE
    from dialogues.types import ConversationKey, InboundMessage

    cookie, browser_id = desk.web.state.chat_identity.issue()
    await desk.app.manager.handle(
        InboundMessage(ConversationKey("webchat", browser_id), "人工", "w-1", desk.clock())
    )
    cid = await conversation_id(desk, browser_id)
    async with desk.client("wangfang") as agent:
        sent = await take_and_send_file(
            agent, cid, "回执见附件", ("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")
        )
        assert sent.json() == {"ok": True}
    async with desk.client() as customer:
        customer.cookies.set(CHAT_COOKIE, cookie)
        history = (await customer.get("/chat/history")).json()["messages"]
        files = history[-1]["files"]
        assert history[-1]["text"] == "回执见附件" and files[0]["name"] == "receipt.pdf"
        got = await customer.get(files[0]["url"])
        assert got.status_code == 200 and got.content == b"%PDF-1.4 receipt"
        assert "attachment" in got.headers["content-disposition"]
        for other in ("c" * 24, browser_id, desk.web.state.chat_identity.issue()[0]):
            customer.cookies.set(CHAT_COOKIE, other)
            assert (await customer.get(files[0]["url"])).status_code == 404
