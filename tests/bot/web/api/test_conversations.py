"""/api/v1/conversations: a waiting conversation is listed for the desk, its transcript pages by
message id, and a message sent through the API reaches the customer as the token's agent."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Conversation
from tests.bot.web.api.helpers import ApiDesk


async def _waiting(desk: ApiDesk, user: str) -> int:
    await desk.app.console.say(desk.app.manager, user, "人工")
    conv = await desk.app.db.run(
        lambda s: s.exec(select(Conversation).where(Conversation.user_id == user)).one()
    )
    assert conv.id is not None and conv.waiting_since is not None
    return conv.id


async def test_list_transcript_and_send_as_an_agent(desk: ApiDesk) -> None:
    conv_id = await _waiting(desk, "u1")
    async with desk.client("wangfang") as agent:
        listed = (await agent.get("/conversations", params={"waiting": True})).json()
        assert [c["id"] for c in listed["items"]] == [conv_id]
        assert listed["items"][0]["waiting_since"] is not None
        first = (await agent.get(f"/conversations/{conv_id}/messages", params={"limit": 1})).json()
        assert [m["direction"] for m in first["items"]] == ["in"]
        rest = (
            await agent.get(f"/conversations/{conv_id}/messages", params={"after": first["next_after"]})
        ).json()
        assert rest["items"] and all(m["id"] > first["next_after"] for m in rest["items"])
        untaken = await agent.post(f"/conversations/{conv_id}/messages", json={"text": "您好"})
        assert untaken.status_code == 403  # waiting in the queue: seen, not yet theirs to work
        sent = await agent.post(
            f"/conversations/{conv_id}/messages", json={"text": "您好，我是王芳", "take": True}
        )
        assert sent.status_code == 202 and sent.json() == {"conversation_id": conv_id, "queued": True}
        held = (await agent.get(f"/conversations/{conv_id}")).json()
        assert held["assigned_agent"] == "wangfang" and held["status"] == "agent"
        after = (
            await agent.get(f"/conversations/{conv_id}/messages", params={"after": rest["next_after"]})
        ).json()
        assert any(m["author"] == "agent:wangfang" and m["text"] == "您好，我是王芳" for m in after["items"])
        assert (await agent.post(f"/conversations/{conv_id}/messages", json={"text": ""})).status_code == 422
    received = [m.text for m in await desk.app.console.pop("u1", 2)]
    assert "您好，我是王芳" in received
    async with desk.client("lisi") as colleague:
        # held by wangfang now: lisi neither sees it nor may take it
        assert (await colleague.get(f"/conversations/{conv_id}")).status_code == 404
        taken = await colleague.post(f"/conversations/{conv_id}/messages", json={"text": "hi", "take": True})
        assert taken.status_code == 404
        assert (await colleague.get("/conversations")).json()["items"] == []
    async with desk.client("root") as admin:
        refused = await admin.post(f"/conversations/{conv_id}/messages", json={"text": "hi"})
        assert refused.status_code == 409 and "take the conversation first" in refused.json()["detail"]
        assert (await admin.get("/conversations/424242")).status_code == 404
