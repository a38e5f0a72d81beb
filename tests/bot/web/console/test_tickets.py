"""A ticket in the console: the desk's work on it through the console's routes is audited and
reaches the customer; a move the lifecycle refuses comes back as an error."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import col, select

from storage.models import TicketDeadline, TicketEvent
from tests.bot.services.test_inbox import joined
from tests.bot.services.ticket_helpers import file, reload
from tests.bot.web.console.helpers import Desk, page_csrf, settle


async def test_ticket_work_from_the_console_is_audited_and_reaches_the_customer(desk: Desk) -> None:
    app = desk.app
    ticket, _ = await file(app, "u7")
    await settle(desk, "u7")
    async with desk.client("zhaoliu") as sup:
        csrf = await page_csrf(sup)
        changed = await sup.post(
            f"/console/tickets/{ticket.number}/classify",
            data={
                "csrf_token": csrf,
                "category": "product_quality",
                "category_l2": "pq_defect",
                "severity": "normal",
            },
        )
        assert changed.status_code == 303
        await sup.post(
            f"/console/tickets/{ticket.number}/status", data={"csrf_token": csrf, "status": "in_progress"}
        )
        await sup.post(
            f"/console/tickets/{ticket.number}/propose",
            data={"csrf_token": csrf, "solution": "为您更换新水壶"},
        )
        wrong = await sup.post(
            f"/console/tickets/{ticket.number}/status", data={"csrf_token": csrf, "status": "closed"}
        )
        assert wrong.status_code == 303 and "error=" in wrong.headers["location"]
    out = await app.console.pop("u7", 2)
    assert "为您更换新水壶" in joined(out)
    assert any(b.payload.endswith(":accept") for m in out for b in m.buttons)

    def audit(session: object) -> list[tuple[str, str]]:
        rows = session.exec(  # type: ignore[attr-defined]
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(col(TicketEvent.id))
        ).all()
        return [(r.action, r.actor) for r in rows]

    events = await app.db.run(audit)
    assert ("reclassified", "agent:zhaoliu") in events
    assert ("status", "agent:zhaoliu") in events


async def test_a_recorded_contact_meets_the_acknowledge_clock_at_its_time_and_reads_as_a_sentence(
    desk: Desk,
) -> None:
    app, clock = desk.app, desk.clock
    ticket, _ = await file(app, "u8")
    await settle(desk, "u8")
    filed = clock.now
    clock.advance(hours=2)
    called = filed + timedelta(minutes=40)  # the call came before it was written down
    local = called.astimezone(app.settings.general.tz).strftime("%Y-%m-%dT%H:%M")
    async with desk.client("zhaoliu") as sup:
        csrf = await page_csrf(sup)
        page = (await sup.get(f"/console/tickets/{ticket.number}")).text
        assert 'id="contact"' in page and 'value="phone"' in page and "通过电话" in page
        done = await sup.post(
            f"/console/tickets/{ticket.number}/contact",
            data={"csrf_token": csrf, "how": "phone", "at": local, "note": "客户同意明天上门取件"},
        )
        assert done.status_code == 303 and "error=" not in done.headers["location"]
        page = (await sup.get(f"/console/tickets/{ticket.number}")).text
    clocks = await app.db.run(
        lambda s: {
            d.name: d
            for d in s.exec(select(TicketDeadline).where(TicketDeadline.ticket_id == ticket.id)).all()
        }
    )
    assert clocks["acknowledge"].met_at == called
    assert clocks["propose_solution"].met_at is None
    assert re.search(r"赵六 于 \d+月\d+日 \d+:\d+ 通过电话联系了客户：客户同意明天上门取件", page), page
    assert "时限「受理确认」已达成" in page


async def test_a_contact_in_the_future_or_by_no_known_way_is_refused_in_the_agents_words(desk: Desk) -> None:
    app, clock = desk.app, desk.clock
    ticket, _ = await file(app, "u6")
    await settle(desk, "u6")
    tz = app.settings.general.tz
    later = (clock.now + timedelta(hours=3)).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    before = (ticket.created_at - timedelta(days=1)).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    async with desk.client("zhaoliu") as sup:
        csrf = await page_csrf(sup)
        url = f"/console/tickets/{ticket.number}/contact"
        for data, words in (
            ({"how": "phone", "at": later}, "联系时间不能晚于现在"),
            ({"how": "phone", "at": before}, "联系时间早于工单提交时间"),
            ({"how": "pigeon", "at": ""}, "请选择联系客户的方式"),
            ({"how": "phone", "at": "明天上午"}, "请填写联系的日期和时间"),
        ):
            refused = await sup.post(url, data={"csrf_token": csrf, **data})
            assert refused.status_code == 303, data
            shown = (await sup.get(refused.headers["location"])).text
            assert words in shown, (data, shown)
    events = await app.db.run(
        lambda s: s.exec(select(TicketEvent.action).where(TicketEvent.ticket_id == ticket.id)).all()
    )
    assert "contacted" not in events


async def test_category_levels_are_selects_down_the_intake_flows_tree(desk: Desk) -> None:
    app = desk.app
    ticket, _ = await file(app, "u5")  # filed as product quality
    await settle(desk, "u5")
    url = f"/console/tickets/{ticket.number}"
    async with desk.client("zhaoliu") as sup:
        csrf = await page_csrf(sup)
        page = (await sup.get(url)).text
        level2 = page.split('id="category-l2"')[1].split("</select>")[0]
        assert '<option value="pq_defect" >质量缺陷</option>' in level2 and "物流" not in level2
        assert 'name="category_l2"' in page and '<input name="category_l2"' not in page
        assert '<option value="">无下级类别</option>' in page.split('id="category-l3"')[1]
        await sup.post(
            f"{url}/classify",
            data={"csrf_token": csrf, "category": "product_quality", "category_l2": "pq_defect"},
        )
        await sup.post(
            f"{url}/classify",
            data={"csrf_token": csrf, "category_l2": "pq_defect", "category_l3": "pq_leak"},
        )
        page = (await sup.get(url)).text
        level4 = page.split('id="category-l4"')[1].split("</select>")[0]
        assert "密封件不良" in level4 and "运输中受损" in level4
        assert "赵六 将二级类别从 未设置 改为 质量缺陷" in page
        assert "赵六 将三级类别从 未设置 改为 漏水渗漏" in page
        # a new first level drops the finer ones that do not belong under it
        await sup.post(
            f"{url}/classify",
            data={"csrf_token": csrf, "category": "delivery", "category_l2": "pq_defect"},
        )
        moved = await reload(app, ticket.number)
        assert (moved.category, moved.category_l2, moved.category_l3) == ("delivery", None, None)
        await sup.post(f"{url}/classify", data={"csrf_token": csrf, "category_l2": "dl_damaged"})
        await sup.post("/console/language", data={"csrf_token": csrf})
        page = (await sup.get(url)).text
    assert (await reload(app, ticket.number)).category_l2 == "dl_damaged"
    level3 = page.split('id="category-l3"')[1].split("</select>")[0]
    assert "Rough handling by the courier" in level3 and "Second-level category" in page
    assert "changed the second-level category from Defect to not set" in page


async def test_the_status_form_offers_only_allowed_moves_with_no_default_and_asks_before_cancel(
    desk: Desk,
) -> None:
    app = desk.app
    ticket, _ = await file(app, "u4")  # routed: acknowledged
    await settle(desk, "u4")
    async with desk.client("zhaoliu") as sup:
        page = (await sup.get(f"/console/tickets/{ticket.number}")).text
    move = page.split('id="move-status"')[1].split("</select>")[0]
    offered = re.findall(r'<option value="([a-z_]*)"', move)
    assert offered == ["", "cancelled", "escalated", "in_progress"]  # acknowledged's moves, sorted
    assert '<option value="" selected>' in move  # nothing destructive is preselected
    cancel = move.split('value="cancelled"')[1].split(">")[0]
    assert "data-confirm=" in cancel and "已撤销" in cancel
    assert "data-confirm" not in move.split('value="in_progress"')[1].split(">")[0]


async def test_the_ticket_page_shows_what_the_customer_told_as_labelled_fields(desk: Desk) -> None:
    ticket, _ = await file(desk.app, "u9", "订单号 88812345 的电热水壶漏水了，花了 ¥200，我要退款")
    async with desk.client("zhaoliu") as sup:
        page = (await sup.get(f"/console/tickets/{ticket.number}")).text
    for label, value in (
        ("订单号", "88812345"),
        ("金额", "¥200"),
        ("产品/服务", "电热水壶"),
        ("地点", "北京朝阳门店"),
    ):
        assert f'<dt>{label}</dt><dd class="fact">{value}</dd>' in page
    assert "<dt>诉求</dt><dd>退款</dd>" in page
    fields = page.split('id="ticket"')[1].split("</dl>")[0]
    assert "order_number" not in page and "{" not in fields and "&#34;" not in fields  # no codes, no JSON
