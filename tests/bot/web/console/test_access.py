"""The access policy applied on every console route that returns or changes a ticket,
conversation, customer, report row or NLU sample: an agent or supervisor of another department
gets 404 where the one holding the conversation gets 200; recusal binds admins on the customer
routes and the NLU page, and is checked again on later messages and appeal reasons."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.web.console import accounts
from bot.web.console.live import LiveHub
from storage.models import Conversation, NluSample, Ticket
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import file, reload
from tests.bot.web.console.helpers import PASSWORD, Desk, page_csrf

FETCH = {"X-Requested-With": "fetch"}
# (method, path, form): {cid} is the conversation, {number} its customer's ticket
ROUTES: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/console/conversations/{cid}", {}),
    ("GET", "/console/conversations/{cid}/messages", {}),
    ("GET", "/console/tickets/{number}", {}),
    ("POST", "/console/conversations/{cid}/take", {}),
    ("POST", "/console/conversations/{cid}/reply", {"text": "您好"}),
    ("POST", "/console/conversations/{cid}/note", {"text": "记一笔"}),
    ("POST", "/console/conversations/{cid}/transfer", {"to_department": "quality"}),
    ("POST", "/console/conversations/{cid}/handback", {"point": "resume"}),
    ("POST", "/console/tickets/{number}/classify", {}),
    ("POST", "/console/tickets/{number}/status", {"status": "resolved"}),
    ("POST", "/console/tickets/{number}/propose", {"solution": "退款"}),
    ("POST", "/console/tickets/{number}/investigation", {"finding": "质检不合格"}),
]


async def add_account(desk: Desk, username: str, role: str, name: str, department: str | None = None) -> None:
    await desk.app.db.run(
        lambda s: accounts.add_user(
            s, username=username, password=PASSWORD, role=role, display_name=name, department=department
        )
    )


async def say(desk: Desk, user: str, text: str) -> str:
    return joined(await desk.app.console.say(desk.app.manager, user, text))


async def conversation_of(desk: Desk, user: str) -> int:
    def find(session: Session) -> int:
        return int(session.exec(select(Conversation.id).where(Conversation.user_id == user)).one() or 0)

    return await desk.app.db.run(find)


async def held_case(
    desk: Desk, user: str, description: str = "我买的电热水壶用了两天就漏水了"
) -> tuple[int, Ticket]:
    """A quality complaint whose customer asked for a person and wangfang took the conversation."""
    ticket, _ = await file(desk.app, user, description)
    await desk.app.tickets.on_ticket(ticket.number, lambda w, t: desk.app.desk.start(w, t, actor="system"))
    await say(desk, user, "人工")
    cid = await conversation_of(desk, user)
    async with desk.client("wangfang") as owner:
        taken = await owner.post(
            f"/console/conversations/{cid}/take", data={"csrf_token": await page_csrf(owner)}, headers=FETCH
        )
        assert taken.json() == {"ok": True}
    return cid, await reload(desk.app, ticket.number)


async def call(client: Any, method: str, path: str, form: dict[str, str]) -> Any:
    if method == "GET":
        return await client.get(path)
    return await client.post(path, data={"csrf_token": await page_csrf(client), **form}, headers=FETCH)


@pytest.mark.parametrize(("method", "template", "form"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_each_route_answers_the_holder_and_hides_the_case_from_another_department(
    desk: Desk, method: str, template: str, form: dict[str, str]
) -> None:
    await add_account(desk, "sunqi", "agent", "孙七", "finance")
    await add_account(desk, "zhouba", "supervisor", "周八", "finance")
    cid, ticket = await held_case(desk, "c1")
    path = template.format(cid=cid, number=ticket.number)
    for foreign in ("sunqi", "zhouba"):
        async with desk.client(foreign) as client:
            response = await call(client, method, path, form)
            assert response.status_code == 404, (foreign, path, response.text[:200])
    assert await reload(desk.app, ticket.number) == ticket  # nothing moved
    async with desk.client("wangfang") as owner:
        response = await call(owner, method, path, form)
        assert response.status_code == 200, response.text[:300]
        if method == "POST":
            assert response.json() == {"ok": True}


async def test_an_agent_sees_only_their_departments_queue_and_their_own_tickets(desk: Desk) -> None:
    await add_account(desk, "sunqi", "agent", "孙七", "finance")
    await add_account(desk, "zhoujiu", "agent", "周九", "quality")
    ticket, _ = await file(desk.app, "c2")  # a quality complaint, assigned to lisi
    await say(desk, "c2", "人工")
    cid = await conversation_of(desk, "c2")
    async with desk.client("sunqi") as finance:
        assert f"/console/conversations/{cid}" not in (await finance.get("/console/lists")).text
        assert (await finance.get(f"/console/conversations/{cid}")).status_code == 404
    async with desk.client("zhoujiu") as quality:
        assert f"/console/conversations/{cid}" in (await quality.get("/console/lists")).text
        assert (await quality.get(f"/console/conversations/{cid}")).status_code == 200
        # a colleague's ticket, by its (sequential) number: not hers until she holds the conversation
        assert (await quality.get(f"/console/tickets/{ticket.number}")).status_code == 404
    async with desk.client(ticket.assignee) as handler:
        assert (await handler.get(f"/console/tickets/{ticket.number}")).status_code == 200


async def test_a_supervisor_sees_their_departments_on_the_overview_and_in_reports(desk: Desk) -> None:
    await add_account(desk, "zhouba", "supervisor", "周八", "finance")
    ticket, _ = await file(desk.app, "c3")
    desk.clock.advance(hours=50)  # past the propose-a-solution deadline
    await desk.app.tickets.fire_due()
    async with desk.client("zhaoliu") as own, desk.client("zhouba") as other:
        assert ticket.number in (await own.get("/console/supervisor")).text
        assert ticket.number not in (await other.get("/console/supervisor")).text
        month = desk.clock().strftime("%Y-%m")
        own_report = (
            await own.get("/console/reports/monthly", params={"month": month, "format": "json"})
        ).json()
        other_report = (
            await other.get("/console/reports/monthly", params={"month": month, "format": "json"})
        ).json()
        assert own_report["total"] == 1 and other_report["total"] == 0


async def test_recusal_binds_admins_on_customer_search_detail_export_and_erase(desk: Desk) -> None:
    # the complaint names the admin by their console display name (not in the staff directory)
    ticket, _ = await file(desk.app, "c4", "管理员上次答应退款却没有处理")
    assert "root" in ticket.recused
    await add_account(desk, "root2", "admin", "第二管理员")
    async with desk.client("root") as named, desk.client("root2") as other:
        q = {"q": str(ticket.customer_id)}
        assert (
            f"/console/customers/{ticket.customer_id}"
            in (await other.get("/console/customers", params=q)).text
        )
        assert (
            f"/console/customers/{ticket.customer_id}"
            not in (await named.get("/console/customers", params=q)).text
        )
        assert (await named.get(f"/console/customers/{ticket.customer_id}")).status_code == 404
        csrf = await page_csrf(named)
        export = await named.post(
            f"/console/customers/{ticket.customer_id}/export", data={"csrf_token": csrf}
        )
        assert export.status_code == 404
        erase = await named.post(
            f"/console/customers/{ticket.customer_id}/erase",
            data={"csrf_token": csrf, "confirm": str(ticket.customer_id)},
        )
        assert erase.status_code == 404
        assert (await other.get(f"/console/customers/{ticket.customer_id}")).status_code == 200
    assert (await reload(desk.app, ticket.number)).description.startswith("管理员")  # not erased


async def test_recusal_matches_a_console_account_by_its_staff_identity(desk: Desk) -> None:
    # wf2 is wangfang's console account under another username; the directory knows her as 王芳
    ticket, _ = await file(desk.app, "c5", "客服王芳态度恶劣")
    assert ticket.recused == ["wangfang"]
    await add_account(desk, "wf2", "supervisor", "王芳")  # opened after the complaint came in
    async with desk.client("wf2") as client:
        assert (await client.get(f"/console/tickets/{ticket.number}")).status_code == 404


async def test_a_later_message_naming_staff_recuses_them(desk: Desk) -> None:
    cid, ticket = await held_case(desk, "c6")
    handler = ticket.assignee
    assert handler is not None and handler != "wangfang"
    name = {"lisi": "李四", "zhaoliu": "赵六"}.get(handler, handler)
    async with desk.client(handler) as client:
        assert (await client.get(f"/console/tickets/{ticket.number}")).status_code == 200
        assert ticket.number in (await client.get("/console")).text.split("<aside")[1]  # her alert
        await say(desk, "c6", f"还有，{name}之前对我很不耐烦")
        await desk.web.state.console.settled()
        assert handler in (await reload(desk.app, ticket.number)).recused
        assert (await client.get(f"/console/tickets/{ticket.number}")).status_code == 404
        assert (await client.get(f"/console/conversations/{cid}")).status_code == 404
        assert ticket.number not in (await client.get("/console")).text  # nor its alert any more


async def test_an_appeal_reason_naming_staff_recuses_them(desk: Desk) -> None:
    app = desk.app
    ticket, _ = await file(app, "c7")
    for step in ("start", "resolve", "close"):
        await app.tickets.on_ticket(
            ticket.number, lambda w, t, s=step: getattr(app.desk, s)(w, t, actor="system")
        )
    appealed: list[str] = []
    await app.tickets.on_ticket(
        ticket.number, lambda w, t: appealed.append(app.desk.appeal(w, t, "赵六处理得很敷衍").number)
    )
    appeal = await reload(app, appealed[0])
    assert "zhaoliu" in appeal.recused and appeal.assignee != "zhaoliu"


async def test_a_recused_supervisor_cannot_transfer_the_conversation(desk: Desk) -> None:
    cid, ticket = await held_case(desk, "c8", "赵六处理不公，热水壶漏水")
    assert "zhaoliu" in ticket.recused
    async with desk.client("zhaoliu") as sup:
        response = await sup.post(
            f"/console/conversations/{cid}/transfer",
            data={"csrf_token": await page_csrf(sup), "to_department": "finance"},
            headers=FETCH,
        )
        assert response.status_code == 404
    conv = await desk.app.db.run(lambda s: s.get(Conversation, cid))
    assert conv is not None and conv.assigned_agent == "wangfang"


async def test_the_nlu_page_hides_raw_text_from_an_admin_it_names(desk: Desk) -> None:
    ticket, _ = await file(desk.app, "c9", "管理员处理太慢了")

    def seed(session: Session) -> None:
        session.add(NluSample(text="我要投诉管理员", source="low_confidence"))
        session.add(NluSample(text="热水壶坏了两次", source="corrected", ticket_id=ticket.id))
        session.add(NluSample(text="快递丢件怎么办", source="low_confidence"))

    await desk.app.db.run(seed)
    await add_account(desk, "root2", "admin", "第二管理员")
    async with desk.client("root") as named, desk.client("root2") as other:
        shown = (await named.get("/console/nlu")).text
        assert "快递丢件怎么办" in shown
        assert "我要投诉管理员" not in shown and "热水壶坏了两次" not in shown
        others = (await other.get("/console/nlu")).text
        assert "我要投诉管理员" in others and "热水壶坏了两次" in others
        hidden = await desk.app.db.run(
            lambda s: s.exec(select(NluSample.id).where(NluSample.text == "我要投诉管理员")).one()
        )
        decided = await named.post(
            f"/console/nlu/samples/{hidden}",
            data={"csrf_token": await page_csrf(named), "action": "dismiss"},
        )
        assert decided.status_code == 404
    sample = await desk.app.db.run(lambda s: s.get(NluSample, hidden))
    assert sample is not None and sample.status == "pending" and sample.reviewed_by is None


async def test_the_live_stream_sends_only_visible_conversation_ids() -> None:
    hub = LiveHub()

    async def visible(conversation_id: int) -> bool:
        return conversation_id == 1

    stream = hub.stream(visible)
    assert await anext(stream) == "retry: 2000\n\n"  # subscribed from here on
    hub.publish("activity", id=2)
    hub.publish("activity", id=1)
    hub.publish("queue")
    assert await anext(stream) == 'data: {"type": "activity", "id": 1}\n\n'
    assert await anext(stream) == 'data: {"type": "queue"}\n\n'
    hub.close()
    assert [chunk async for chunk in stream] == []


async def test_the_events_route_tells_each_agent_only_of_conversations_they_may_see(desk: Desk) -> None:
    await add_account(desk, "sunqi", "agent", "孙七", "finance")
    cid, _ = await held_case(desk, "c10")
    async with desk.client("sunqi") as client:
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    done = asyncio.Event()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/console/events",
        "raw_path": b"/console/events",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"desk.local"), (b"cookie", cookie.encode())],
        "client": ("10.0.0.9", 5000),
        "server": ("desk.local", 80),
    }

    async def receive() -> dict[str, Any]:
        if not done.is_set() and chunks.empty() and not getattr(receive, "sent", False):
            receive.sent = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        elif message.get("body"):
            await chunks.put(message["body"])

    app = asyncio.create_task(desk.web(scope, receive, send))
    try:
        assert b"retry" in await asyncio.wait_for(chunks.get(), 5)
        hub = desk.web.state.console.hub
        hub.publish("activity", id=cid)  # wangfang's conversation of a quality complaint
        hub.publish("queue")
        assert await asyncio.wait_for(chunks.get(), 5) == b'data: {"type": "queue"}\n\n'
    finally:
        done.set()
        desk.web.state.console.hub.close()
        await asyncio.wait_for(app, 5)


async def test_a_person_opening_a_case_they_may_not_see_gets_a_page_in_their_language(desk: Desk) -> None:
    """A browser gets the console's own page, never the raw JSON error; scripts keep the JSON."""
    await add_account(desk, "sunqi", "agent", "孙七", "finance")
    cid, ticket = await held_case(desk, "c9")
    browser = {"Accept": "text/html,application/xhtml+xml"}
    async with desk.client("sunqi") as foreign:
        paths = (f"/console/conversations/{cid}", f"/console/tickets/{ticket.number}", "/console/nowhere")
        for path in paths:
            page = await foreign.get(path, headers=browser)
            assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
            assert "您无权查看" in page.text and "detail" not in page.text and "孙七 · 客服" in page.text
        script = await foreign.get(f"/console/conversations/{cid}/messages", headers=FETCH)
        assert script.status_code == 404 and "detail" in script.json()
