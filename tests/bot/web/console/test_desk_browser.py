"""The agent desk in the real Chromium: the ticket list's filters, search and bulk actions, hand
back landing on the queue with a message, and a screenshot of every console page at 1280 and
390 px in both languages (var/screenshots/, not committed) with no page wider than the screen."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect
from sqlmodel import Session

from bot.web.console import accounts
from storage.models import NluSample
from tests.bot.services.ticket_helpers import file
from tests.bot.web.console.test_browser import (
    PASSWORD,
    Site,
    browser,
    chromium,
    customer_says,
    fake,
    log_in,
    site,
)

__all__ = ["browser", "chromium", "fake", "site"]  # fixtures shared with test_browser
SHOTS = Path(__file__).resolve().parents[4] / "var" / "screenshots"
WIDTHS = (1280, 390)
CODES = re.compile(r"\b[a-z]+_[a-z_]+\b|\bagent:\w+")
"""Codes a person must never read (snake_case, an actor id): their words are in the catalog."""
LATIN = re.compile(r"\b[a-z]{3,}\b")
"""A lowercase Latin word on a Chinese page: a code or a stray English word."""
READ = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll("textarea, pre, code, .code, .diff, svg, script, input").forEach((e) => e.remove());
  document.body.append(copy); const text = copy.innerText; copy.remove(); return text;
}"""
"""The page's words outside what a person edits as code (the flow editor's YAML and diff)."""
LOWER_ALONE = """() => Array.from(document.querySelectorAll(
    "option, th, td, .tag, h1, h2, h3, dt, dd, legend, button, nav a, .deadlines li, .who, label"))
  .filter((e) => !e.closest("pre, code, textarea, svg, .preview, .text, .transcript"))
  .filter((e) => { const code = e.querySelector("code");
    return !code || code.innerText.trim() !== e.innerText.trim(); })
  .map((e) => (e.innerText || e.textContent || "").trim()).filter((text) => /^[a-z]{2}/.test(text))"""
"""English labels that stand alone (an option, a cell, a heading, a tag) but start in lower case:
the catalog writes labels for mid-sentence use, the templates' ``cap`` filter capitalises them
(two letters: "v1" is a version, not a word). A cell holding only code (a token's name) is no label."""


async def seed(site: Site) -> list[str]:
    def accounts_(session: Session) -> None:
        accounts.add_user(
            session, username="zhaoliu", password=PASSWORD, role="supervisor", display_name="赵六"
        )

    await site.app.db.run(accounts_)
    first, _ = await file(site.app, "c1")
    second, _ = await file(site.app, "c2", "快递员态度很差，还把箱子摔坏了")
    return [first.number, second.number]


async def shoot(page: Page, name: str, language: str) -> None:
    """Both widths; the page must fit the narrow screen (no sideways scrolling) and show no code
    or raw JSON."""
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        await page.wait_for_timeout(150)
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{name}-{language}-{width}.png"), full_page=True)
        scroll = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width + 1, f"{name} at {width}px is {scroll}px wide"
    text = await page.evaluate(READ)
    assert not CODES.search(text), (name, language, CODES.search(text))
    if language == "zh":
        assert not LATIN.search(text), (name, LATIN.search(text), text)
    else:
        assert not await page.evaluate(LOWER_ALONE), (name, await page.evaluate(LOWER_ALONE))
    assert '{"' not in text, name


async def test_the_ticket_list_filters_searches_and_moves_in_bulk(site: Site, browser: Browser) -> None:
    first, second = await seed(site)
    page = await browser.new_page()
    await log_in(page, site, "zhaoliu")
    await page.click("#nav-tickets")
    rows = page.locator("#ticket-table tbody tr")
    await expect(rows).to_have_count(2)
    await page.fill("#q", "摔坏")
    await page.click("#apply-filters")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(second)
    await page.fill("#q", "")
    await page.select_option("#f-category", "product_quality")
    await page.click("#apply-filters")
    await expect(rows).to_have_count(2)  # the courier complaint was filed as product quality too
    await page.goto(f"{site.url}/console/tickets")
    await page.check("#select-all")
    await page.check("#bulk-action-status")
    await page.select_option("#bulk-status", "in_progress")
    await page.click("#bulk-apply")
    await expect(page.locator("#ticket-table")).to_contain_text("处理中")
    assert await page.locator("#ticket-table td:has-text('处理中')").count() == 2
    # a cancel asks first; dismissing it changes nothing
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.check(f"input[name=number][value='{first}']")
    await page.check("#bulk-action-status")
    await page.select_option("#bulk-status", "cancelled")
    await page.click("#bulk-apply")
    await expect(page.locator("#ticket-table")).not_to_contain_text("已撤销")
    await page.select_option("#f-status", "in_progress")
    await page.click("#apply-filters")
    await expect(rows).to_have_count(2)
    await page.close()


async def ready(page: Page) -> None:
    """Wait until the page's script has wired its keys and forms (console.js marks the body):
    a key pressed before that reaches no listener, which made this test fail now and then."""
    await expect(page.locator("body[data-ready=true]")).to_be_attached()


async def test_hand_back_lands_on_the_queue_with_a_message(site: Site, browser: Browser) -> None:
    await customer_says(site.fake, "你好", "请回复数字")
    await customer_says(site.fake, "人工", "转接人工")
    page = await browser.new_page()
    await log_in(page, site)
    await page.locator("#queue a.open").first.click()
    await expect(page).to_have_url(re.compile(r"/console/conversations/\d+$"))
    await ready(page)
    await page.keyboard.press("t")  # the take shortcut
    await expect(page.locator("#holder")).to_contain_text("王芳")
    await ready(page)  # the take reloaded the page
    await page.keyboard.press("r")
    await expect(page.locator("#reply-text")).to_be_focused()
    await page.fill("#reply-text", "您好")
    await page.click("#send")
    await expect(page.locator("#transcript li.agent").last).to_contain_text("王芳")
    await page.locator("body").click(position={"x": 5, "y": 5})
    await page.keyboard.press("b")
    await expect(page).to_have_url(f"{site.url}/console?done=handed_back")
    await expect(page.locator("#done")).to_contain_text("已交还机器人")
    assert "detail" not in await page.inner_text("body")
    await page.close()


async def test_the_ticket_page_records_a_contact_and_its_category_levels_follow_each_other(
    site: Site, browser: Browser
) -> None:
    first, _ = await seed(site)
    page = await browser.new_page(locale="zh-CN")
    await log_in(page, site, "zhaoliu")
    await page.goto(f"{site.url}/console/tickets/{first}")
    await ready(page)
    # each level offers the finer choices of the one above, redrawn without a reload
    await expect(page.locator("#category-l2")).to_contain_text("质量缺陷")
    await page.select_option("#category-l2", "pq_defect")
    await expect(page.locator("#category-l3")).to_contain_text("漏水渗漏")
    await page.select_option("#category-l3", "pq_leak")
    await expect(page.locator("#category-l4")).to_contain_text("密封件不良")
    await page.select_option("#category", "delivery")
    await expect(page.locator("#category-l2")).to_contain_text("配送延误")
    await expect(page.locator("#category-l2")).not_to_contain_text("质量缺陷")
    await expect(page.locator("#category-l3 option")).to_have_text(["无下级类别"])
    await page.select_option("#category-l2", "dl_damaged")
    await expect(page.locator("#category-l3")).to_contain_text("快递员野蛮操作")
    await page.select_option("#category-l3", "dl_rough_handling")
    await page.click("#classify button[type=submit]")
    events = page.locator("ol.events")
    await expect(events).to_contain_text("赵六 将类别从 产品质量 改为 物流配送")
    await expect(events).to_contain_text("赵六 将三级类别从 未设置 改为 快递员野蛮操作")
    await expect(page.locator("#category-l4")).to_contain_text("员工培训不足")
    # cancelling asks first; dismissing it changes nothing
    await ready(page)
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.select_option("#move-status", "cancelled")
    await page.click("#move button[type=submit]")
    await expect(page.locator("#ticket-status")).to_have_text("已确认")
    # a phone call made outside the bot meets the acknowledge clock
    await page.select_option("#contact-how", "visit")
    await page.fill("#contact-note", "上门查看了破损的箱子")
    await page.click("#contact-save")
    await expect(events).to_contain_text("赵六 当面联系了客户：上门查看了破损的箱子")
    await expect(page.locator(".deadlines li.met")).to_contain_text("受理确认")
    await shoot(page, "ticket-worked", "zh")
    await page.click("form[action='/console/language'] button")
    await expect(events).to_contain_text("赵六 reached the customer in person: 上门查看了破损的箱子")
    await expect(page.locator("#category-l3 option:checked")).to_have_text("Rough handling by the courier")
    await shoot(page, "ticket-worked", "en")
    await page.close()


async def test_every_console_page_fits_both_widths_in_both_languages(site: Site, browser: Browser) -> None:
    numbers = await seed(site)
    await site.app.db.run(
        lambda s: s.add(
            NluSample(
                text="杯子有点问题",
                predicted="product_quality",
                confidence=0.41,
                source="low_confidence",
                classifier="builtin",
            )
        )
    )
    await customer_says(site.fake, "你好", "请回复数字")
    await customer_says(site.fake, "人工", "转接人工")
    page = await browser.new_page(locale="zh-CN")
    await log_in(page, site, "root")
    await page.locator("#queue a.open").first.click()
    conversation = page.url
    for language in ("zh", "en"):
        pages = {
            "home": "/console",
            "tickets": "/console/tickets",
            "ticket": f"/console/tickets/{numbers[0]}",
            "conversation": conversation.removeprefix(site.url),
            "supervisor": "/console/supervisor",
            "reports": "/console/reports",
            "canned": "/console/canned",
            "flows": "/console/flows",
            "flow": "/console/flows/intake",
            "customers": "/console/customers",
            "nlu": "/console/nlu",
        }
        for name, path in pages.items():
            await page.goto(site.url + path)
            await shoot(page, name, language)
            if name == "nlu":
                box = await page.locator("button[value=dismiss]").first.bounding_box()
                assert box is not None and box["width"] >= 40 and box["height"] >= 32, box
        if language == "zh":
            await page.click("form[action='/console/language'] button")
    await page.close()
    agent = await browser.new_page(locale="zh-CN")
    await log_in(agent, site)
    for name, path in (("home-agent", "/console"), ("tickets-agent", "/console/tickets")):
        await agent.goto(site.url + path)
        await shoot(agent, name, "zh")
    await agent.close()
    anonymous = await browser.new_page()
    await anonymous.goto(f"{site.url}/console/login")
    await shoot(anonymous, "login", "zh")
    await anonymous.close()
