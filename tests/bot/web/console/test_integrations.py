"""The admin's API tokens and webhook receivers in the console: only admins reach the pages; a new
token is shown once and works against /api/v1 until it is revoked; a receiver's secret is shown
once, its delivery log lists what a real receiver on 127.0.0.1 got, *send again* sends it again,
a 410 turns it off with the reason in words and it can be turned on again."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlmodel import Session, select

from bot.services import webhooks
from storage.models import ApiToken, WebhookDelivery, WebhookEndpoint
from tests.bot.services.test_webhooks import Receiver, receiving, verified
from tests.bot.services.ticket_helpers import file
from tests.bot.web.console.helpers import Desk, page_csrf

TOKEN = re.compile(r'id="token-value" class="secret" value="(tsu_[^"]+)"')
SECRET = re.compile(r'id="secret-value" class="secret" value="(whsec_[^"]+)"')
PAGES = ("/console/api-tokens", "/console/webhooks")


async def _admin_post(desk: Desk, path: str, data: dict[str, str]) -> httpx.Response:
    async with desk.client("root") as admin:
        return await admin.post(path, data={"csrf_token": await page_csrf(admin), **data})


async def test_only_admins_reach_the_pages_and_the_menu_links_them(desk: Desk) -> None:
    await desk.app.db.run(
        lambda s: webhooks.add_endpoint(s, url="http://127.0.0.1:9/hook", events=["all"], now=desk.clock())
    )
    for username in ("wangfang", "zhaoliu"):
        async with desk.client(username) as client:
            for path in (*PAGES, "/console/webhooks/1"):
                assert (await client.get(path)).status_code == 403, (username, path)
            csrf = await page_csrf(client)
            made = await client.post(
                "/console/api-tokens", data={"csrf_token": csrf, "name": "x", "role": "admin"}
            )
            assert made.status_code == 403
            assert "/console/api-tokens" not in (await client.get("/console")).text
    assert await desk.app.db.run(lambda s: s.exec(select(ApiToken)).all()) == []
    async with desk.client("root") as admin:
        home = (await admin.get("/console")).text
        assert 'href="/console/api-tokens"' in home and 'href="/console/webhooks"' in home
        for path in (*PAGES, "/console/webhooks/1"):
            assert (await admin.get(path)).status_code == 200, path
        assert (await admin.get("/console/webhooks/99")).status_code == 404


async def test_a_new_token_is_shown_once_works_against_the_api_and_stops_when_revoked(desk: Desk) -> None:
    ticket, _ = await file(desk.app, "c1")
    made = await _admin_post(
        desk, "/console/api-tokens", {"name": "crm-sync", "role": "supervisor", "department": ""}
    )
    assert made.status_code == 200
    found = TOKEN.search(made.text)
    assert found, made.text
    secret = found.group(1)
    assert "离开本页后，您将无法再次看到这个令牌" in made.text and "（主管）" in made.text
    async with desk.client("root") as admin:
        listing = (await admin.get("/console/api-tokens")).text
    assert secret not in listing and "crm-sync" in listing and "从未使用" in listing

    transport = httpx.ASGITransport(app=desk.web)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.local") as api:
        bearer = {"Authorization": f"Bearer {secret}"}
        answer = await api.get("/api/v1/tickets", params={"status": "acknowledged"}, headers=bearer)
        assert answer.status_code == 200, answer.text
        assert [t["number"] for t in answer.json()["items"]] == [ticket.number]
        async with desk.client("root") as admin:
            used = (await admin.get("/console/api-tokens")).text
        assert "从未使用" not in used  # the last use is listed now

        page = await _admin_post(desk, "/console/api-tokens/revoke", {"name": "crm-sync"})
        assert page.status_code == 303
        async with desk.client("root") as admin:
            revoked = (await admin.get(page.headers["location"])).text
        assert "令牌「<code>crm-sync</code>」已吊销" in revoked
        assert "已吊销" in revoked.split('data-name="crm-sync"')[1]
        assert (await api.get("/api/v1/tickets", headers=bearer)).status_code == 401


async def test_a_refused_token_is_said_in_words_and_nothing_is_made(desk: Desk) -> None:
    bad = await _admin_post(desk, "/console/api-tokens", {"name": "c r m", "role": "agent"})
    assert bad.status_code == 200 and "名称只能包含字母、数字" in bad.text and not TOKEN.search(bad.text)
    await _admin_post(desk, "/console/api-tokens", {"name": "crm", "role": "agent"})
    again = await _admin_post(desk, "/console/api-tokens", {"name": "crm", "role": "admin"})
    assert "已有同名的有效令牌" in again.text and not TOKEN.search(again.text)
    nobody = await _admin_post(desk, "/console/api-tokens", {"name": "crm", "role": "owner"})
    assert "请选择角色" in nobody.text
    rows = await desk.app.db.run(lambda s: s.exec(select(ApiToken)).all())
    assert [(r.name, r.role) for r in rows] == [("crm", "agent")]


async def test_a_receiver_shown_once_logs_a_real_delivery_and_sends_it_again(desk: Desk) -> None:
    await desk.app.webhooks.stop()  # the test drives the dispatcher's rounds
    receiver = Receiver()
    with receiving(receiver) as url:
        form = {"url": url, "event_ticket.created": "1", "event_ticket.major": "1"}
        made = await _admin_post(desk, "/console/webhooks", form)
        assert made.status_code == 200
        found = SECRET.search(made.text)
        assert found, made.text
        secret = found.group(1)
        assert "离开本页后，您将无法再次看到这个密钥" in made.text
        async with desk.client("root") as admin:
            listing = (await admin.get("/console/webhooks")).text
        assert secret not in listing and url in listing and "新工单" in listing and "重大投诉" in listing
        endpoints = listing.split('id="endpoints"')[1].split("</ul>")[0]
        assert "启用中" in endpoints and "ticket.created" not in endpoints  # labels, not codes

        ticket, _ = await file(desk.app, "c1")
        for _ in range(3):
            await desk.app.webhooks.run_once()
        (first,) = [verified(secret, *got) for got in receiver.got]
        endpoint = (await desk.app.db.run(lambda s: s.exec(select(WebhookEndpoint)).all()))[0]
        async with desk.client("root") as admin:
            log = (await admin.get(f"/console/webhooks/{endpoint.id}")).text
        row = log.split('class="delivery delivered"')[1].split("</tr>")[0]
        assert ticket.number in row and "新工单" in row and "HTTP 200：已收到" in row and "已送达" in row
        assert "11月23日 10:00" in row  # 02:00 UTC, shown in the configured zone (Asia/Shanghai)
        assert '<td data-label="尝试次数">1</td>' in row

        (delivery,) = await desk.app.db.run(lambda s: s.exec(select(WebhookDelivery)).all())
        again = await _admin_post(
            desk, f"/console/webhooks/{endpoint.id}/deliveries/{delivery.id}/resend", {}
        )
        assert again.status_code == 303
        async with desk.client("root") as admin:
            assert "已安排再次发送" in (await admin.get(again.headers["location"])).text
        for _ in range(2):
            await desk.app.webhooks.run_once()
        assert len(receiver.got) == 2
        second = verified(secret, *receiver.got[1])
        assert second["id"] == first["id"]  # the same event, so the receiver can tell the repeat
        async with desk.client("root") as admin:
            log = (await admin.get(f"/console/webhooks/{endpoint.id}")).text
        assert '<td data-label="尝试次数">2</td>' in log


async def test_a_410_turns_a_receiver_off_in_words_and_it_can_be_turned_on_again(desk: Desk) -> None:
    await desk.app.webhooks.stop()
    receiver = Receiver(status=410)
    with receiving(receiver) as url:
        await _admin_post(desk, "/console/webhooks", {"url": url, "event_ticket.created": "1"})
        await file(desk.app, "c1")
        for _ in range(3):
            await desk.app.webhooks.run_once()
    async with desk.client("root") as admin:
        listing = (await admin.get("/console/webhooks")).text
        assert "已停用" in listing and "（HTTP 410），系统已自动停用" in listing
        assert "11月23日 10:00" in listing
        log = (await admin.get("/console/webhooks/1")).text
        assert "HTTP 410：接收方表示此地址已不再使用" in log and "未发送（地址已停用）" in log
        assert "再次发送" not in log  # nothing is sent to a receiver that is off
    refused = await _admin_post(desk, "/console/webhooks/1/deliveries/1/resend", {})
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    on = await _admin_post(desk, "/console/webhooks/1/enable", {})
    async with desk.client("root") as admin:
        page = (await admin.get(on.headers["location"])).text
    assert "已重新启用" in page and "启用中" in page and "系统已自动停用" not in page
    gone = await _admin_post(desk, "/console/webhooks/1/remove", {})
    async with desk.client("root") as admin:
        page = (await admin.get(gone.headers["location"])).text
    assert "接收地址已删除" in page and "还没有接收地址" in page


async def test_a_refused_receiver_is_said_in_words(desk: Desk) -> None:
    bad = await _admin_post(desk, "/console/webhooks", {"url": "ftp://x", "event_ticket.created": "1"})
    assert "请填写完整的网址" in bad.text and not SECRET.search(bad.text)
    none = await _admin_post(desk, "/console/webhooks", {"url": "https://crm.example/hook"})
    assert "请至少选择一个事件" in none.text and 'value="https://crm.example/hook"' in none.text
    assert await desk.app.db.run(lambda s: s.exec(select(WebhookEndpoint)).all()) == []


async def test_the_delivery_log_goes_page_by_page_newest_first(desk: Desk, tmp_path: Path) -> None:
    def seed(session: Session) -> int:
        endpoint = webhooks.add_endpoint(
            session, url="http://127.0.0.1:9/hook", events=["all"], now=desk.clock()
        )
        assert endpoint.id is not None
        for n in range(30):
            session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=f"evt_{n}",
                    event="survey.answered",
                    order_key=f"ticket:{n}",
                    body="{}",
                    status="failed",
                    attempts=n,
                    last_status=503,
                )
            )
        return endpoint.id

    endpoint_id = await desk.app.db.run(seed)
    async with desk.client("root") as admin:
        first = (await admin.get(f"/console/webhooks/{endpoint_id}")).text
        second = (await admin.get(f"/console/webhooks/{endpoint_id}?page=2")).text
    assert "第 1 / 2 页，共 30 条" in first and 'id="next-page"' in first and 'id="prev-page"' not in first
    assert first.count('class="delivery failed"') == 25 and second.count('class="delivery failed"') == 5
    assert '<td data-label="尝试次数">29</td>' in first and '<td data-label="尝试次数">0</td>' in second
    assert "HTTP 503：接收方出错" in first and "发送失败（已重试 24 小时）" in first
