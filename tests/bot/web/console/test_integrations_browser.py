"""The admin's API tokens and webhook receivers in the real Chromium: a token made, copied from
the page it is shown on once, revoked after the confirmation; a receiver on 127.0.0.1 added, the
running bot's delivery of a new complaint in its log, *send again* sending it once more; every
screen at 1280 and 390 px in both languages (var/screenshots/api-tokens-*.png, webhooks-*.png,
webhook-log-*.png), none wider than the screen, no code on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from playwright.async_api import Browser, Page, expect

from tests.bot.services.test_webhooks import Receiver, receiving, verified
from tests.bot.services.ticket_helpers import file
from tests.bot.web.console.test_browser import Site, browser, chromium, fake, log_in, site
from tests.bot.web.console.test_desk_browser import shoot

__all__ = ["browser", "chromium", "fake", "site"]  # fixtures shared with test_browser


async def _tokens(page: Page, site: Site, language: str) -> None:
    await page.click("#nav-api-tokens")
    await page.fill("#token-name", f"crm-{language}")
    await page.select_option("#token-role", "supervisor")
    await page.click("#create-token")
    shown = page.locator("#token-value")
    await expect(shown).to_be_visible()
    token = await shown.input_value()
    assert token.startswith("tsu_")
    await page.click("button[data-copy=token-value]")
    await expect(page.locator("button[data-copy=token-value]")).to_have_text(
        "已复制" if language == "zh" else "Copied"
    )
    assert await page.evaluate("navigator.clipboard.readText()") == token
    await shoot(page, "api-tokens-new", language)
    await page.goto(f"{site.url}/console/api-tokens")
    assert token not in await page.content()  # shown once
    row = page.locator(f"#token-table tr[data-name=crm-{language}]")
    page.once("dialog", lambda dialog: dialog.dismiss())  # asked first: dismissed, nothing happens
    await row.locator("button.revoke").click()
    await expect(row.locator("button.revoke")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await row.locator("button.revoke").click()
    await expect(page.locator("#revoked")).to_be_visible()
    await expect(page.locator(f"#token-table tr[data-name=crm-{language}] button.revoke")).to_have_count(0)
    await shoot(page, "api-tokens", language)


async def _webhooks(page: Page, site: Site, language: str, url: str) -> str:
    """Add a receiver of some events; its secret, from the page that shows it once."""
    await page.click("#nav-webhooks")
    await page.fill("#endpoint-url", url)
    for event in ("ticket.status_changed", "ticket.assigned", "survey.answered"):
        await page.uncheck(f"input[name='event_{event}']")
    await page.click("#add-endpoint")
    secret = page.locator("#secret-value")
    await expect(secret).to_be_visible()
    value = await secret.input_value()
    assert value.startswith("whsec_")
    return value


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(150):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the running bot did not deliver in 15 s")


async def test_the_admin_keeps_tokens_and_receivers(site: Site, browser: Browser) -> None:
    site.app.webhooks.every = 0.2
    receiver, gone = Receiver(), Receiver(status=410)
    context = await browser.new_context(locale="zh-CN", permissions=["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    await log_in(page, site, "root")
    with receiving(receiver) as url, receiving(gone) as gone_url:
        await _tokens(page, site, "zh")
        await _webhooks(page, site, "zh", gone_url)
        secret = await _webhooks(page, site, "zh", url)
        await shoot(page, "webhooks-new", "zh")
        ticket, _ = await file(site.app, "c1")
        await _until(lambda: bool(receiver.got and gone.got))
        (event,) = [verified(secret, *got) for got in receiver.got]
        assert event["type"] == "ticket.created" and event["data"]["ticket"]["number"] == ticket.number

        await page.goto(f"{site.url}/console/webhooks")
        off = page.locator("#endpoints li.endpoint.off")
        await expect(off).to_contain_text("HTTP 410")  # the receiver that answered 410 is off
        await shoot(page, "webhooks", "zh")
        await page.locator("#endpoints li.endpoint.on a.open-log").click()
        row = page.locator("#delivery-table tr.delivery").first
        await expect(row).to_contain_text(ticket.number)
        await expect(row).to_contain_text("已送达")
        await row.locator("button.resend").click()
        await expect(page.locator("#sent")).to_be_visible()
        await _until(lambda: len(receiver.got) == 2)
        assert [verified(secret, *got)["id"] for got in receiver.got] == [event["id"]] * 2
        await page.reload()
        await expect(page.locator("#delivery-table tr.delivery").first.locator("td").nth(3)).to_have_text("2")
        await shoot(page, "webhook-log", "zh")

        await page.click("form[action='/console/language'] button")
        await _tokens(page, site, "en")
        await _webhooks(page, site, "en", url + "/second")
        await shoot(page, "webhooks-new", "en")
        await page.goto(f"{site.url}/console/webhooks")
        await expect(off).to_contain_text("was turned off")
        await shoot(page, "webhooks", "en")
        await off.locator("a.open-log").click()
        await expect(page.locator("#delivery-table")).to_contain_text("Not sent (receiver turned off)")
        await expect(page.locator("button.resend")).to_have_count(0)
        await shoot(page, "webhook-log-off", "en")
        await page.goto(f"{site.url}/console/webhooks")
        await off.locator("button.enable").click()
        await expect(page.locator("#done")).to_be_visible()
        await expect(page.locator("#endpoints li.endpoint.off")).to_have_count(0)
        await page.locator("#endpoints li.endpoint a.open-log").nth(1).click()
        await expect(page.locator("#delivery-table")).to_contain_text("Delivered")
        await shoot(page, "webhook-log", "en")
        await page.click("form[action='/console/language'] button")
        await page.goto(f"{site.url}/console/webhooks")
        page.once("dialog", lambda dialog: dialog.accept())
        await page.locator("#endpoints li.endpoint button.remove").first.click()
        await expect(page.locator("#done")).to_contain_text("接收地址已删除")
        await expect(page.locator("#endpoints li.endpoint")).to_have_count(2)
    await context.close()
