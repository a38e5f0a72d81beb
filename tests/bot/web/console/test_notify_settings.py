"""``/console/notifications``: a person chooses channels, e-mail, sound and quiet hours; *send
test* per channel saves the form, sends on that channel now (e-mail to a real SMTP server on
loopback) and says how it went in words; a Telegram code links a chat once; the badge's count."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import select

from bot.services import notifications
from storage.models import Staff, StaffAlert, StaffNotification
from tests.bot.services.loopback_smtp import Inbox, body, smtp_server
from tests.bot.services.test_notifications import wecom
from tests.bot.services.ticket_helpers import Clock
from tests.bot.web.console.helpers import Desk, console_desk, csrf_of

__all__ = ["wecom"]  # the fake WeCom robot fixture, shared with the service's tests


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def configure(desk: Desk, **notify: Any) -> None:
    """Settings for the running desk (the console and its notifier read them per use)."""
    app = desk.app
    app.settings = app.settings.model_copy(
        update={
            "notifications": app.settings.notifications.model_copy(update=notify),
            "telegram": app.settings.telegram.model_copy(update={"token": SecretStr("123:test")}),
        }
    )
    app.notifier.settings = app.settings


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    opened = await console_desk(tmp_path, Clock())
    try:
        yield opened
    finally:
        await opened.app.stop()


def _result(html: str) -> str:
    found = re.search(r'<p class="(?:info|error)" role="(?:status|alert)"[^>]*>([^<]*)</p>', html)
    assert found, "no result on the page"
    return found.group(1)


async def test_choose_channels_and_test_each_one_in_words(desk: Desk, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    configure(desk, smtp_host="127.0.0.1", smtp_port=port)
    async with desk.client("lisi") as client:
        page = await client.get("/console/notifications")
        assert page.status_code == 200 and "通知设置" in page.text
        token = csrf_of(page.text)
        no_address = await client.post(
            "/console/notifications", data={"csrf_token": token, "channel_email": "1", "test": "email"}
        )
        assert _result(no_address.text) == "请先填写邮箱地址。"
        bad = await client.post(
            "/console/notifications",
            data={"csrf_token": token, "channel_email": "1", "email": "not-an-address"},
        )
        assert bad.status_code == 422 and "邮箱地址无效" in bad.text and 'value="not-an-address"' in bad.text
        half = await client.post("/console/notifications", data={"csrf_token": token, "quiet_from": "22:00"})
        assert "同时填写开始和结束" in _result(half.text)
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
        assert _result(saved.text) == "设置已保存。" and 'value="lisi@example.com"' in saved.text
        assert 'id="sound" checked' not in saved.text  # the sound box was left empty: off

        tested = await client.post(
            "/console/notifications",
            data={
                "csrf_token": token,
                "channel_console": "1",
                "channel_email": "1",
                "email": "li@example.com",
                "sound": "1",
                "test": "email",
            },
        )
        assert _result(tested.text) == "测试邮件已发送到 li@example.com，请查收（也请看看垃圾邮件）。"
        [mail] = inbox.messages
        assert mail["To"] == "li@example.com" and "测试" in body(mail)

        before = (await client.get("/console/notifications/count")).json()
        on_console = await client.post(
            "/console/notifications", data={"csrf_token": token, "channel_console": "1", "test": "console"}
        )
        assert "测试通知已出现在控制台" in _result(on_console.text)
        after = (await client.get("/console/notifications/count")).json()
        assert after["unread"] == before["unread"] + 1 and after["latest"] > before["latest"]

        robot = await client.post("/console/notifications", data={"csrf_token": token, "test": "wecom"})
        assert _result(robot.text) == "还没有配置企业微信群机器人，请联系管理员。"
        telegram = await client.post("/console/notifications", data={"csrf_token": token, "test": "telegram"})
        assert _result(telegram.text) == "请先关联 Telegram（见下方步骤）。"

        linked = await client.post("/console/notifications/telegram", data={"csrf_token": token})
        code = re.search(r'class="link-code">/link ([0-9A-F]+)<', linked.text)
        assert code and "10 分钟" not in linked.text and "15 分钟内有效" in linked.text

    db = desk.app.db
    person = await db.run(lambda s: s.exec(select(Staff).where(Staff.username == "lisi")).one())
    assert person.notify == [] and person.email is None  # the last tests saved an empty form
    assert person.notify_sound is False
    sent = await db.run(lambda s: list(s.exec(select(StaffNotification)).all()))
    assert [(r.channel, r.address, r.kind, r.status) for r in sent] == [
        ("email", "li@example.com", "test", "sent")
    ]
    [alert] = await db.run(lambda s: list(s.exec(select(StaffAlert).where(StaffAlert.kind == "test")).all()))
    assert alert.username == "lisi"
    conf = desk.app.settings
    await db.run(lambda s: notifications.fan_out(s, settings=conf, now=desk.clock()))
    assert (
        len(await db.run(lambda s: list(s.exec(select(StaffNotification)).all()))) == 1
    )  # stays in the console
    answer = await notifications.link_from_chat(
        db, desk.app.texts, f"/link {code.group(1)}", "4242", desk.clock()
    )
    assert "李四" in answer
    again = await notifications.link_from_chat(
        db, desk.app.texts, f"/link {code.group(1)}", "1", desk.clock()
    )
    assert "无效" in again


async def test_a_mail_server_that_is_down_is_told_in_words_and_english_reads_english(desk: Desk) -> None:
    configure(desk, smtp_host="127.0.0.1", smtp_port=1)  # nothing listens on port 1
    async with desk.client("lisi") as client:
        page = await client.get("/console/notifications")
        token = csrf_of(page.text)
        down = await client.post(
            "/console/notifications", data={"csrf_token": token, "email": "l@example.com", "test": "email"}
        )
        assert _result(down.text) == "暂时连不上发信服务器，请稍后再试；一直失败请联系管理员。"
        await client.post("/console/language", data={"csrf_token": token})
        english = await client.get("/console/notifications")
        assert "Notifications" in english.text and "通知" not in english.text.split("<main>", 1)[1]
    [row] = await desk.app.db.run(lambda s: list(s.exec(select(StaffNotification)).all()))
    assert row.status == "dead" and row.claimed_by is None  # a test is not retried


async def test_a_department_robot_is_named_on_the_page_and_its_test_reaches_it(
    desk: Desk, wecom: tuple[list[dict[str, Any]], str]
) -> None:
    posts, url = wecom
    configure(desk, wecom_webhooks={"quality": url})
    async with desk.client("lisi") as client:
        page = await client.get("/console/notifications")
        assert "已为您的部门配置群机器人：质量" in page.text
        token = csrf_of(page.text)
        tested = await client.post("/console/notifications", data={"csrf_token": token, "test": "wecom"})
        assert _result(tested.text) == "测试消息已发送到 1 个企业微信群。"
    [post] = posts
    assert post["msgtype"] == "text" and "测试" in post["text"]["content"]
