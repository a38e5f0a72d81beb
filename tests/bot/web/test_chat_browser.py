"""The customer chat page in a real Chromium: a photo attached at the evidence question, stale
buttons disabled, no "/start" after a reload, the language switch, a person's messages marked.
Screenshots at 1280 and 390 px in both languages land in var/screenshots/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlmodel import select

from bot.app import TousuApp
from bot.web.server import create_web_app
from dialogues.types import ConversationKey, Reply
from nlu.server import free_port
from storage.models import Message
from tests.bot.channels.test_telegram import until
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.timeout(120)
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "var" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Site:
    url: str
    app: TousuApp


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    port = free_port()
    settings = make_settings(
        tmp_path,
        outbox={"per_chat_interval_seconds": 0.02},
        scheduler={"enabled": False},
        attachments={"dir": tmp_path / "attachments"},
    )
    tousu = TousuApp(settings, use_nlu=False)
    server = uvicorn.Server(
        uvicorn.Config(create_web_app(tousu), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, timeout=30)
    try:
        yield Site(f"http://127.0.0.1:{port}", tousu)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: ./scripts/test installs the Debian chromium package", pytrace=False)
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(chromium_path), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


async def _type(page: Page, text: str, expect_text: str) -> None:
    count = await page.locator(".msg.bot").count()
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await expect(page.locator(".msg.bot").nth(count)).to_contain_text(expect_text)


async def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / name), full_page=False)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert (
        width <= page.viewport_size["width"] if page.viewport_size else True
    )  # nothing wider than the screen


@pytest.mark.parametrize("width", [1280, 390])
async def test_a_customer_attaches_a_photo_and_switches_language(
    site: Site, browser: Browser, tmp_path: Path, width: int
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 860}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(site.url + "/chat")
    await expect(page.locator(".msg.bot").first).to_contain_text("您好，这里是客户服务中心")
    assert await page.locator(".msg.customer").count() == 0  # the page's own /start is not shown
    await page.get_by_role("button", name="1. 我要投诉").click()
    await expect(page.locator(".msg.bot").last).to_contain_text("请描述")
    greeting_buttons = page.locator(".msg.bot").first.locator(".buttons button")
    assert await greeting_buttons.count() == 6
    for n in range(6):  # an answered menu cannot be pressed again
        await expect(greeting_buttons.nth(n)).to_be_disabled()
    for text, wanted in [
        ("我买的电热水壶用了两天就漏水了", "类型"),
        ("1", "什么时候"),
        ("昨天", "哪里"),
        ("北京朝阳门店", "工作人员"),  # the product was in the description
        ("无", "照片"),
    ]:
        await _type(page, text, wanted)
    photo = tmp_path / "壶底.png"
    photo.write_bytes(PNG)
    count = await page.locator(".msg.bot").count()
    await page.set_input_files("#file", str(photo))
    await expect(page.locator(".msg.customer").last).to_have_text("📎 壶底.png")
    await expect(page.locator(".msg.bot").nth(count)).to_contain_text("收到 1 个附件")
    await _shot(page, f"webchat-zh-{width}.png")

    await page.reload()  # the transcript comes back, without a "/start" of the customer's
    await expect(page.locator(".msg.customer").last).to_have_text("📎 壶底.png")
    customer_texts = await page.locator(".msg.customer").all_inner_texts()
    assert "/start" not in customer_texts

    await page.click("#lang")
    await expect(page.locator(".msg.bot").last).to_contain_text("Switched to English.")
    await expect(page.locator("h1")).to_have_text("Customer service")
    await expect(page.locator("#send")).to_have_text("Send")

    user = await site.app.db.run(
        lambda s: s.exec(select(Message.user_id).where(Message.channel == "webchat")).first()
    )
    key = ConversationKey("webchat", str(user))
    await site.app.manager.send_as(
        key, [Reply("Hello, this is Li Si from the complaints team.")], author="agent:lisi"
    )
    agent = page.locator(".msg.agent").last
    await expect(agent).to_contain_text("Li Si")
    await expect(agent.locator(".who")).to_have_text("Customer service staff")
    await _shot(page, f"webchat-en-{width}.png")
    stored = list((tmp_path / "attachments" / "webchat").rglob("*.png"))
    assert len(stored) == 1
    await context.close()
