"""Staff see a web-chat customer by a public id, never by the cookie that is their identity."""

from __future__ import annotations

from sqlmodel import select

from bot.web.server import CHAT_COOKIE
from dialogues.types import ConversationKey, InboundMessage
from storage.models import Conversation, Customer
from tests.bot.web.console.helpers import Desk


async def test_console_pages_never_show_the_chat_cookie(desk: Desk) -> None:
    cookie, public = desk.web.state.chat_identity.issue()
    secret = cookie.partition(".")[0]
    await desk.app.manager.handle(
        InboundMessage(ConversationKey("webchat", public), "人工", "w-1", desk.clock())
    )

    def ids(session: object) -> tuple[int, int]:
        conv = session.exec(select(Conversation).where(Conversation.user_id == public)).one()  # type: ignore[attr-defined]
        customer = session.exec(select(Customer).where(Customer.external_id == public)).one()  # type: ignore[attr-defined]
        return int(conv.id), int(customer.id)

    cid, customer_id = await desk.app.db.run(ids)
    async with desk.client("root") as admin:
        pages = {
            path: await admin.get(path)
            for path in (
                "/console",
                "/console/lists",
                f"/console/conversations/{cid}",
                f"/console/conversations/{cid}/messages",
                f"/console/customers?q={customer_id}",
                f"/console/customers/{customer_id}",
            )
        }
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert secret not in page.text and cookie not in page.text, path
    assert public in pages[f"/console/customers/{customer_id}"].text
    async with desk.client() as stranger:  # what staff saw does not open the chat
        stranger.cookies.set(CHAT_COOKIE, public)
        assert (await stranger.get("/chat/history")).json() == {"messages": []}
        stranger.cookies.set(CHAT_COOKIE, cookie)
        history = (await stranger.get("/chat/history")).json()["messages"]
        assert history[0]["text"] == "人工"
