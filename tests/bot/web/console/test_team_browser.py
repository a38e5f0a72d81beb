"""A new team from the console alone, in the real Chromium (issue 22, Done when): the admin
creates a department, two agents and a supervisor; a customer on Telegram files a complaint of
that department's category and asks for a person; an agent of the department finds the ticket
in the ticket list, starts work on it and takes the conversation; the supervisor sees the
conversation handled and the ticket in the department's list. Screenshots of the team and
department pages at 1280 and 390 px in both languages (var/screenshots/team-*.png)."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect
from sqlmodel import Session, col, select

from storage.models import Ticket
from storage.repositories import departments as repo
from storage.repositories import tickets as ticket_repo
from tests.bot.services.ticket_helpers import script
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
from tests.bot.web.console.test_desk_browser import ready, shoot

__all__ = ["browser", "chromium", "fake", "site"]  # fixtures shared with test_browser
ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=0a1b2c3d-1111-2222-3333-44445555c0de"
TEAM = (
    ("zhoumin", "周敏", ("agent",)),
    ("wuqiang", "吴强", ("agent",)),
    ("sunli", "孙丽", ("supervisor",)),
)


async def add_person(page: Page, site: Site, username: str, name: str, roles: tuple[str, ...]) -> None:
    await page.goto(f"{site.url}/console/team")
    await page.fill("#new-username", username)
    await page.fill("#new-name", name)
    for role in roles:
        await page.check(f"#role-{role}")
    await page.check("#add-person input[data-name='退换货组']")
    await page.fill("#new-password", PASSWORD)
    await page.click("#add-person-submit")
    await expect(page.locator("p.notice")).to_contain_text(f"已添加 {name}")


async def test_a_new_team_runs_a_complaint_from_the_console_alone(site: Site, browser: Browser) -> None:
    admin = await browser.new_page(locale="zh-CN")
    await log_in(admin, site, "root")
    await admin.click("#nav-team")
    await admin.click("#nav-departments")
    await admin.fill("#dept-name-zh", "退换货组")
    await admin.fill("#dept-name-en", "Returns desk")
    await admin.fill("#dept-wecom", ROBOT)
    await admin.check("#add-department input[name=category][value=product_quality]")
    await admin.click("#add-department-submit")
    await expect(admin.locator("p.notice")).to_contain_text("已添加 退换货组")
    row = admin.locator("#departments tr", has_text="退换货组")
    await expect(row).to_contain_text("产品质量")
    await expect(row).to_contain_text("已设置")
    assert "0a1b2c3d" not in await admin.content()  # the robot's key is never on a page
    for username, name, roles in TEAM:
        await add_person(admin, site, username, name, roles)
    people = admin.locator("#people")
    for _, name, _ in TEAM:
        await expect(people.locator("tr", has_text=name)).to_contain_text("退换货组")
    await expect(people.locator("tr", has_text="孙丽")).to_contain_text("主管")

    # a customer files a product-quality complaint on Telegram, then asks for a person
    for text, expected in script("烧水壶底座漏电，很危险", where="朝阳门店", product="烧水壶", staff="无"):
        await customer_says(site.fake, text, expected)
    await customer_says(site.fake, "1", "工单")
    await customer_says(site.fake, "人工", "转接人工")
    ticket = await site.app.db.run(lambda s: ticket_repo.by_number(s, number=_latest(s)))
    assert ticket is not None
    code = await site.app.db.run(lambda s: next(d.code for d in repo.every(s) if d.name_zh == "退换货组"))
    assert ticket.department == code
    holder = ticket.assignee
    assert holder in ("zhoumin", "wuqiang")
    holder_name = dict((u, n) for u, n, _ in TEAM)[holder]

    agent = await browser.new_page(locale="zh-CN")
    await log_in(agent, site, holder)
    await agent.click("#nav-tickets")
    listed = agent.locator("#ticket-table tbody tr", has_text=ticket.number)
    await expect(listed).to_contain_text("退换货组")
    await expect(listed).to_contain_text(holder_name)
    await listed.locator(f"a[href='/console/tickets/{ticket.number}']").click()
    await ready(agent)
    await agent.select_option("#move-status", "in_progress")
    await agent.click("#move button[type=submit]")
    await expect(agent.locator("#ticket-status")).to_contain_text("处理中")
    await agent.goto(f"{site.url}/console")
    await agent.locator("#queue a.open").first.click()
    await ready(agent)
    await agent.click("#take")
    await expect(agent.locator("#holder")).to_contain_text(holder_name)

    supervisor = await browser.new_page(locale="zh-CN")
    await log_in(supervisor, site, "sunli")
    await supervisor.goto(f"{site.url}/console/supervisor")
    await expect(supervisor.locator("#handling")).to_contain_text(holder_name)
    await supervisor.goto(f"{site.url}/console/tickets?department={code}")
    mine = supervisor.locator("#ticket-table tbody tr", has_text=ticket.number)
    await expect(mine).to_contain_text("处理中")
    await expect(mine).to_contain_text("退换货组")

    # the team and department pages, both widths, both languages
    pages = {
        "team-people": "/console/team",
        "team-person": "/console/team/people/sunli",
        "team-departments": "/console/team/departments",
        "team-department": f"/console/team/departments/{code}",
    }
    for language in ("zh", "en"):
        for name, path in pages.items():
            await admin.goto(site.url + path)
            await shoot(admin, name, language)
            assert "0a1b2c3d" not in await admin.content()
            if name == "team-department":
                await expect(admin.locator("#wecom-masked")).to_have_text(
                    re.compile(r"^https://qyapi\S+c0de$")
                )
        if language == "zh":
            await admin.click("form[action='/console/language'] button")
    await admin.goto(f"{site.url}/console/team/departments")
    await expect(admin.locator("#departments")).to_contain_text("Returns desk")  # the English name
    for page in (admin, agent, supervisor):
        await page.close()


def _latest(session: Session) -> str:
    number = session.exec(select(Ticket.number).order_by(col(Ticket.id).desc())).first()
    assert number is not None
    return number
