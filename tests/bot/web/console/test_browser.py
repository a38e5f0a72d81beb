"""The console in a real headless Chromium (Debian's, driven by Playwright): a customer on the
fake Telegram server asks for a person, an agent logs in, takes the chat, replies, sees the
customer's next message arrive live, and hands the chat back to the bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from pydantic import SecretStr
from sqlmodel import Session

from bot.app import TousuApp
from bot.web.console import accounts
from bot.web.server import create_web_app
from nlu.server import free_port
from tests.bot.channels.test_telegram import fake, until
from tests.conftest import make_settings
from tests.fakes.telegram_api import TOKEN, FakeTelegram

__all__ = ["fake"]  # the fake Telegram server fixture, shared with the channel tests

pytestmark = pytest.mark.timeout(120)
CHROMIUM = Path("/usr/bin/chromium")
CHAT = 5151
PASSWORD = "correct horse battery"


@dataclass
class Site:
    url: str
    app: TousuApp
    fake: FakeTelegram


@pytest.fixture
async def site(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[Site]:
    port = free_port()
    settings = make_settings(
        tmp_path,
        telegram={
            "token": SecretStr(TOKEN),
            "base_url": f"{fake.url}/bot",
            "base_file_url": f"{fake.url}/file/bot",
            "poll_timeout_seconds": 1,
        },
        outbox={"per_chat_interval_seconds": 0.02},
        scheduler={"enabled": False},
    )
    tousu = TousuApp(settings, use_nlu=False)
    server = uvicorn.Server(
        uvicorn.Config(
            create_web_app(tousu),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, timeout=30)

    def seed(session: Session) -> None:
        accounts.add_user(session, username="wangfang", password=PASSWORD, role="agent", display_name="王芳")
        accounts.add_user(session, username="root", password=PASSWORD, role="admin", display_name="管理员")

    await tousu.db.run(seed)
    try:
        yield Site(f"http://127.0.0.1:{port}", tousu, fake)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: ./scripts/test installs the Debian chromium package", pytrace=False)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium_browser = await pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            yield chromium_browser
        finally:
            await chromium_browser.close()


async def customer_says(fake: FakeTelegram, text: str, expect_text: str | None = None) -> list[str]:
    before = len(fake.texts_to(CHAT))
    fake.push_text(CHAT, text)
    if expect_text is not None:
        await until(lambda: any(expect_text in t for t in fake.texts_to(CHAT)[before:]))
    return fake.texts_to(CHAT)[before:]


async def log_in(page: Page, site: Site, username: str = "wangfang") -> None:
    await page.goto(f"{site.url}/console")
    await expect(page).to_have_url(f"{site.url}/console/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await expect(page).to_have_url(f"{site.url}/console")


async def test_an_agent_takes_a_telegram_chat_replies_and_hands_it_back(site: Site, browser: Browser) -> None:
    fake = site.fake
    await customer_says(fake, "你好", "请回复数字")
    page = await browser.new_page()
    await log_in(page, site)
    await expect(page.locator("#queue")).to_contain_text("暂无")
    # the customer asks for a person while the agent's page is open: the queue updates live
    await customer_says(fake, "人工", "转接人工")
    row = page.locator("#queue tr.row")
    await expect(row).to_have_count(1, timeout=10_000)
    await row.locator("a.open").click()
    await page.click("#take")
    await until(lambda: any("王芳" in t for t in fake.texts_to(CHAT)))
    await expect(page.locator("#holder")).to_contain_text("王芳")

    await page.fill("#reply-text", "您好，我是王芳，请问订单号是多少？")
    await page.click("#send")
    await until(lambda: "您好，我是王芳，请问订单号是多少？" in fake.texts_to(CHAT))
    await expect(page.locator("#transcript li.agent").last).to_contain_text("请问订单号是多少")

    # a file goes out as a Telegram document, with the text before it
    await page.fill("#reply-text", "请查收维修回执")
    await page.set_input_files(
        "#reply-form input[name=files]",
        files=[{"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 receipt"}],
    )
    await page.click("#send")
    await until(lambda: ("document", "receipt.pdf", b"%PDF-1.4 receipt") in fake.files_to(CHAT))
    assert "请查收维修回执" in fake.texts_to(CHAT)
    await expect(page.locator("#transcript li.agent").last).to_contain_text("receipt.pdf")

    # the customer's next message appears without a reload, as text even when it looks like HTML
    await customer_says(fake, "订单号 A20261120001 <b>急</b><script>window.pwned=1</script>")
    last = page.locator("#transcript li.customer").last
    await expect(last).to_contain_text("<b>急</b><script>window.pwned=1</script>", timeout=10_000)
    assert await page.evaluate("window.pwned") is None
    assert await last.locator("b").count() == 0

    await page.fill("#note-text", "客户已提供订单号")
    await page.click("#add-note")
    await expect(page.locator("#transcript li.note").last).to_contain_text("客户已提供订单号")

    await page.select_option("#handback-point", "menu")
    await page.click("#handback")
    await until(lambda: any("智能助手" in t for t in fake.texts_to(CHAT)))
    await until(lambda: "请回复数字" in fake.texts_to(CHAT)[-1])
    assert "客户已提供订单号" not in "\n".join(fake.texts_to(CHAT))
    # the bot answers again
    await customer_says(fake, "1", "请描述")
    await page.close()


async def test_an_admin_publishes_a_new_greeting_without_disturbing_chats_under_way(
    site: Site, browser: Browser
) -> None:
    fake = site.fake
    old_greeting, new_greeting = "您好，这里是客户服务中心。", "您好，欢迎来到投诉服务台。"
    await customer_says(fake, "你好", old_greeting)
    await customer_says(fake, "1", "请描述")  # this chat is under way on version 1
    page = await browser.new_page()
    await log_in(page, site, "root")
    await page.click("text=对话流程")
    await page.click("a[href='/console/flows/intake']")
    await expect(page.locator("#flow-diagram svg")).to_be_visible()
    text = await page.input_value("#flow-content")
    await page.fill("#flow-content", text.replace(old_greeting, new_greeting))
    await page.click("#flow-check")
    await expect(page.locator("#review-ok")).to_be_visible()
    await expect(page.locator("#flow-diff .add")).to_contain_text(new_greeting)
    await page.click("#flow-publish")
    await expect(page.locator("#published")).to_contain_text("v2")
    await expect(page.locator("#flow-history li.live")).to_contain_text("管理员")

    newcomer = CHAT + 1
    before = len(fake.texts_to(newcomer))
    fake.push_text(newcomer, "你好")
    await until(lambda: any(new_greeting in t for t in fake.texts_to(newcomer)[before:]))
    back = await customer_says(fake, "*", "请回复数字")  # the old chat goes back to v1's menu
    assert any(old_greeting in t for t in back) and not any(new_greeting in t for t in back)
    await page.close()
