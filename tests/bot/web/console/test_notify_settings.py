"""``/console/notifications``: a person chooses channels, e-mail and quiet hours; *send test*
shows a test alert and queues it on every chosen channel; a Telegram code links a chat once."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from bot.services import notifications
from storage.models import Staff, StaffAlert, StaffNotification
from tests.bot.services.ticket_helpers import Clock
from tests.bot.web.console.helpers import console_desk, csrf_of


async def test_choose_channels_send_a_test_and_link_telegram(tmp_path: Path) -> None:
    clock = Clock()
    desk = await console_desk(tmp_path, clock)
    try:
        async with desk.client("lisi") as client:
            page = await client.get("/console/notifications")
            assert page.status_code == 200 and "通知设置" in page.text
            token = csrf_of(page.text)
            refused = await client.post(
                "/console/notifications/test", data={"csrf_token": token}, follow_redirects=True
            )
            assert "没有可发送的渠道" in refused.text  # nothing chosen yet: told so on the page
            bad = await client.post(
                "/console/notifications",
                data={"csrf_token": token, "channel_email": "1", "email": "not-an-address"},
                follow_redirects=True,
            )
            assert "邮箱地址无效" in bad.text
            saved = await client.post(
                "/console/notifications",
                data={
                    "csrf_token": token,
                    "channel_console": "1",
                    "channel_email": "1",
                    "email": "lisi@example.com",
                    "quiet_from": "22:00",
                    "quiet_until": "08:00",
                },
                follow_redirects=True,
            )
            assert "已保存" in saved.text and 'value="lisi@example.com"' in saved.text
            before = (await client.get("/console/notifications/count")).json()["unread"]
            tested = await client.post(
                "/console/notifications/test", data={"csrf_token": token}, follow_redirects=True
            )
            assert "测试通知已排队发送（1 个渠道）" in tested.text
            assert (await client.get("/console/notifications/count")).json() == {"unread": before + 1}
            linked = await client.post("/console/notifications/telegram", data={"csrf_token": token})
            assert "/link " in linked.text
            code = linked.text.split("/link ", 1)[1].split("<", 1)[0].strip()

        db = desk.app.db
        person = await db.run(lambda s: s.exec(select(Staff).where(Staff.username == "lisi")).one())
        assert person.notify == ["console", "email"] and (person.quiet_from, person.quiet_until) == (
            "22:00",
            "08:00",
        )
        [alert] = await db.run(
            lambda s: list(s.exec(select(StaffAlert).where(StaffAlert.kind == "test")).all())
        )
        assert alert.username == "lisi"
        conf, tz = desk.app.settings, desk.app.settings.general.tz
        await db.run(lambda s: notifications.fan_out(s, settings=conf, now=clock()))
        rows = await db.run(lambda s: list(s.exec(select(StaffNotification)).all()))
        assert [(r.channel, r.address, r.kind, r.urgent) for r in rows if r.kind == "test"] == [
            ("email", "lisi@example.com", "test", True)
        ]
        assert tz is not None
        answer = await notifications.link_from_chat(db, desk.app.texts, f"/link {code}", "4242", clock())
        assert "李四" in answer
        again = await notifications.link_from_chat(db, desk.app.texts, f"/link {code}", "1", clock())
        assert "无效" in again
    finally:
        await desk.app.stop()
