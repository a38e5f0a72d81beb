"""The customer page as an admin reads it: data-rights requests as sentences, never codes or JSON."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Customer
from tests.bot.web.console.helpers import Desk, page_csrf


async def test_the_request_history_reads_as_sentences(desk: Desk) -> None:
    await desk.app.console.say(desk.app.manager, "asked-for-data", "你好")
    cid = await desk.app.db.run(
        lambda s: int(s.exec(select(Customer.id).where(Customer.external_id == "asked-for-data")).one() or 0)
    )
    async with desk.client("root") as admin:
        empty = (await admin.get(f"/console/customers/{cid}")).text
        assert "还没有导出或删除记录" in empty
        export = await admin.post(
            f"/console/customers/{cid}/export", data={"csrf_token": await page_csrf(admin)}
        )
        assert export.status_code == 200
        page = (await admin.get(f"/console/customers/{cid}")).text
    history = page.split('id="data-requests"', 1)[1].split("</ul>", 1)[0]
    assert "管理员 导出了全部数据（2 条消息、0 张工单、0 个文件）" in history
    for code in ("export", "agent:", "{", "&#34;", "messages"):
        assert code not in history
