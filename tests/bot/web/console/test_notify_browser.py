"""Notifications in the real Chromium: the menu bar's badge and the tab title count a new alert
for the logged-in person as soon as it is fanned out (and a short sound plays once the page has
had a click, unless the person turned it off); the settings page saves, its e-mail test reaches
a real SMTP server on loopback, and its screenshots at 1280 and 390 px in both languages go to
var/screenshots/ with no page wider than the screen and no code on it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel import select

from storage.models import Staff
from storage.repositories import tickets as ticket_repo
from tests.bot.services.loopback_smtp import Inbox, body, smtp_server
from tests.bot.web.console.test_browser import Site, browser, chromium, fake, log_in, site
from tests.bot.web.console.test_desk_browser import shoot

__all__ = ["browser", "chromium", "fake", "site"]  # fixtures shared with test_browser

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


async def alert(site: Site, username: str, text: str) -> None:
    """An alert for ``username``, fanned out as the notifier does every few seconds."""
    now = site.app.clock()
    await site.app.db.run(
        lambda s: ticket_repo.add_alert(
            s, username=username, ticket_id=None, kind="assigned", text=text, now=now
        )
    )
    await site.app.notifier.send_due()


async def test_a_new_alert_raises_the_badge_and_the_tab_title_and_sounds_once(
    site: Site, browser: Browser
) -> None:
    page = await browser.new_page()
    await log_in(page, site)
    await page.click("#nav-tickets")
    await expect(page.locator("body[data-ready=true]")).to_be_attached()
    badge = page.locator("#notify-badge")
    await expect(badge).to_be_hidden()
    title = await page.title()
    assert not re.match(r"^\(\d+\)", title)
    await page.mouse.click(5, 300)  # a gesture: the browser lets the page play sound from now on
    await alert(site, "wangfang", "新工单 T1 已分配给您")
    await alert(site, "root", "someone else's")  # not counted on wangfang's page
    await expect(badge).to_have_text("1")
    await expect(page).to_have_title(re.compile(r"^\(1\) "))
    await expect(page.locator("body[data-beeps='1']")).to_be_attached()
    await expect(page.locator("#nav-notifications")).to_have_attribute("title", "1 条未读通知")

    other = await browser.new_page()  # every page shows the count, from the first paint
    await log_in(other, site)
    await other.goto(f"{site.url}/console/notifications")
    await expect(other.locator("#notify-badge")).to_have_text("1")
    await expect(other).to_have_title(re.compile(r"^\(1\) 通知设置"))
    await other.uncheck("#sound")
    await other.click("#notify-save")
    await expect(other.locator("#notify-result")).to_have_text("设置已保存。")
    await other.close()

    await page.reload()
    await page.mouse.click(5, 300)
    await alert(site, "wangfang", "客户在等待回复")
    await expect(badge).to_have_text("2")
    await expect(page).to_have_title(re.compile(r"^\(2\) "))
    await page.wait_for_timeout(500)
    assert await page.get_attribute("body", "data-beeps") is None  # the sound is off now
    await page.close()


async def settings_shots(page: Page, language: str) -> None:
    await page.click("#telegram-get-code")
    await expect(page.locator("#telegram-code")).to_contain_text("/link ")
    await shoot(page, "notifications", language)


async def test_the_settings_page_saves_and_its_email_test_arrives(
    site: Site, browser: Browser, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    app = site.app
    app.settings = app.settings.model_copy(
        update={
            "notifications": app.settings.notifications.model_copy(
                update={"smtp_host": "127.0.0.1", "smtp_port": port}
            )
        }
    )
    app.notifier.settings = app.settings
    page = await browser.new_page(locale="zh-CN")  # a Chinese desk's browser (its time fields)
    await log_in(page, site)
    await page.click("#nav-notifications")
    await expect(page.locator("h1")).to_have_text("通知设置")
    await page.check("input[name=channel_email]")
    await page.fill("#email", "wangfang@example.com")
    await page.fill("#quiet-from", "22:00")
    await page.fill("#quiet-until", "07:30")
    await page.click("#notify-save")
    await expect(page.locator("#notify-result")).to_have_text("设置已保存。")
    await expect(page.locator("#email")).to_have_value("wangfang@example.com")
    await expect(page.locator("#quiet-until")).to_have_value("07:30")
    person = await app.db.run(lambda s: s.exec(select(Staff).where(Staff.username == "wangfang")).one())
    assert set(person.notify) == {"console", "email"} and (person.quiet_from, person.quiet_until) == (
        "22:00",
        "07:30",
    )

    await page.fill("#email", "wf@example.com")  # changed and tested at once: saved, then sent
    await page.click("#test-email")
    await expect(page.locator("#notify-result")).to_have_text(
        "测试邮件已发送到 wf@example.com，请查收（也请看看垃圾邮件）。"
    )
    [mail] = inbox.messages
    assert mail["To"] == "wf@example.com" and "测试通知" in mail["Subject"] and "测试" in body(mail)

    await page.click("#test-wecom")
    await expect(page.locator("p.error")).to_have_text("还没有配置企业微信群机器人，请联系管理员。")
    await page.press("#email", "Enter")  # Enter in a field saves; it never sends a test
    await expect(page.locator("#notify-result")).to_have_text("设置已保存。")
    assert len(inbox.messages) == 1

    await alert(site, "wangfang", "新工单已分配给您")  # the badge shows in the screenshots
    await page.reload()
    await expect(page.locator("#notify-badge")).to_have_text("1")
    await settings_shots(page, "zh")
    await page.close()
    page = await browser.new_page(locale="en-GB")
    await log_in(page, site)
    await page.goto(f"{site.url}/console/notifications")
    await page.click("text=English")
    await expect(page.locator("h1")).to_have_text("Notifications")
    await settings_shots(page, "en")
    await page.close()
