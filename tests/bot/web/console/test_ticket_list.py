"""The ticket list: what each person finds there, its filters and search, the export, and the
supervisor's bulk actions; ticket history and refusals in the reader's words."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from tests.bot.services.ticket_helpers import file, reload
from tests.bot.web.console.helpers import Desk, page_csrf, settle


def visible(html: str) -> str:
    """The page's text as a person reads it (no tags, no attribute values)."""
    return re.sub(r"<[^>]+>", " ", html)


async def test_the_list_filters_searches_exports_and_acts_in_bulk(desk: Desk) -> None:
    app = desk.app
    first, _ = await file(app, "u1")
    second, _ = await file(app, "u2", "快递员态度很差，还把箱子摔坏了")
    await settle(desk, "u1")
    async with desk.client("zhaoliu") as sup:
        page = (await sup.get("/console/tickets")).text
        assert first.number in page and second.number in page
        assert "new" not in visible(page) and "quality" not in visible(page)  # labels, not codes
        assert "质量管理部" in page and "Asia/Shanghai" in page
        found = (await sup.get("/console/tickets", params={"q": "摔坏"})).text
        assert second.number in found and first.number not in found
        by_number = (await sup.get("/console/tickets", params={"q": first.number})).text
        assert first.number in by_number and second.number not in by_number
        by_phone = (await sup.get("/console/tickets", params={"q": "138 0013"})).text
        assert first.number in by_phone and second.number in by_phone  # the phone's digits
        other_phone = (await sup.get("/console/tickets", params={"q": "139001"})).text
        assert first.number not in other_phone
        closed = (await sup.get("/console/tickets", params={"status": "closed"})).text
        assert first.number not in closed and "没有符合条件的工单" in closed
        exported = await sup.get("/console/tickets/export.csv", params={"q": "摔坏"})
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][0] == "工单号" and [r[0] for r in rows[1:]] == [second.number]
        assert rows[1][1] == "投诉"
        book = load_workbook(io.BytesIO((await sup.get("/console/tickets/export.xlsx")).content))
        sheet = book.active
        assert sheet is not None
        assert {sheet.cell(row=r, column=1).value for r in (2, 3)} == {first.number, second.number}

        csrf = await page_csrf(sup)
        moved = await sup.post(
            "/console/tickets/bulk",
            data={
                "csrf_token": csrf,
                "action": "status",
                "status": "in_progress",
                "number": [first.number, second.number],
            },
        )
        assert moved.status_code == 303 and "error" not in moved.headers["location"]
        assert (await reload(app, first.number)).status == "in_progress"
        assert (await reload(app, second.number)).status == "in_progress"
        refused = await sup.post(
            "/console/tickets/bulk",
            data={"csrf_token": csrf, "action": "status", "status": "closed", "number": [first.number]},
        )
        page = (await sup.get(refused.headers["location"])).text
        assert f"以下工单未能处理：{first.number}" in page
        assigned = await sup.post(
            "/console/tickets/bulk",
            data={"csrf_token": csrf, "action": "assign", "assignee": "zhaoliu", "number": [second.number]},
        )
        assert "error" not in assigned.headers["location"]
        assert (await reload(app, second.number)).assignee == "zhaoliu"
        mine = (await sup.get("/console/tickets", params={"assignee": "me"})).text
        assert second.number in mine and first.number not in mine

        ticket_page = (await sup.get(f"/console/tickets/{second.number}")).text
        assert "赵六 将状态从" in ticket_page and "改为 处理中" in ticket_page
        history = ticket_page.split('<ol class="events">', 1)[1].split("</ol>", 1)[0]
        assert "<li>" in history and "{&#34;" not in history and '{"' not in history  # sentences, not JSON
        assert '<option value="" selected>' in ticket_page  # no status chosen by default
    async with desk.client("wangfang") as agent:
        page = (await agent.get("/console/tickets")).text
        assert second.number not in page  # zhaoliu's, not hers
        refused = await agent.post(
            "/console/tickets/bulk", data={"csrf_token": await page_csrf(agent), "number": [second.number]}
        )
        assert refused.status_code == 403


async def test_a_refused_move_is_said_in_the_agents_language(desk: Desk) -> None:
    ticket, _ = await file(desk.app, "u3")
    async with desk.client("zhaoliu") as sup:
        csrf = await page_csrf(sup)
        wrong = await sup.post(
            f"/console/tickets/{ticket.number}/status", data={"csrf_token": csrf, "status": "closed"}
        )
        page = (await sup.get(wrong.headers["location"])).text
        assert "不能改为「已结案」" in page and "cannot become" not in page


async def test_saved_filters_belong_to_the_person_who_saved_them(desk: Desk) -> None:
    ticket, _ = await file(desk.app, "u4", "快递员态度很差，还把箱子摔坏了")
    async with desk.client("zhaoliu") as sup, desk.client("root") as admin:
        csrf = await page_csrf(sup)
        saved = await sup.post(
            "/console/tickets/filters",
            data={"csrf_token": csrf, "name": "摔坏的", "query": "q=摔坏&status=&evil=1"},
        )
        assert saved.status_code == 303 and "evil" not in saved.headers["location"]
        page = (await sup.get("/console/tickets")).text
        link = re.search(r'<a href="(/console/tickets\?[^"]+)">摔坏的</a>', page)
        assert link is not None
        found = (await sup.get(link.group(1).replace("&amp;", "&"))).text
        assert ticket.number in found and 'value="摔坏"' in found
        assert "摔坏的" not in (await admin.get("/console/tickets")).text  # not the admin's
        filter_id = re.search(r"/console/tickets/filters/(\d+)/delete", page)
        assert filter_id is not None
        await admin.post(
            f"/console/tickets/filters/{filter_id.group(1)}/delete",
            data={"csrf_token": await page_csrf(admin)},
        )
        assert "摔坏的" in (await sup.get("/console/tickets")).text  # only its owner deletes it
        await sup.post(f"/console/tickets/filters/{filter_id.group(1)}/delete", data={"csrf_token": csrf})
        assert "摔坏的" not in (await sup.get("/console/tickets")).text
