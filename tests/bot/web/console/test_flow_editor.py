"""Admins edit flows in the console: validation errors at their line, tests that must pass before
publishing, a diff, history, rollback; a published version is live for new conversations while
conversations under way finish on theirs."""

from __future__ import annotations

import re

from tests.bot.services.test_inbox import joined
from tests.bot.web.console.helpers import Desk, page_csrf

GREETING = "您好，这里是客户服务中心。"
NEW_GREETING = "您好，欢迎来到投诉服务台。"


async def live_text(desk: Desk, admin: object) -> str:
    page = (await admin.get("/console/flows/intake")).text  # type: ignore[attr-defined]
    found = re.search(r'<textarea name="content" id="flow-content"[^>]*>(.*?)</textarea>', page, re.S)
    assert found
    import html

    return html.unescape(found.group(1))


async def say(desk: Desk, user: str, text: str) -> str:
    return joined(await desk.app.console.say(desk.app.manager, user, text))


async def test_publish_an_edited_greeting_keeps_conversations_under_way_on_their_version(desk: Desk) -> None:
    assert GREETING in await say(desk, "old", "你好")
    await say(desk, "old", "1")  # under way on v1
    async with desk.client("root") as admin:
        listing = (await admin.get("/console/flows")).text
        assert "/console/flows/intake" in listing and "v1" in listing
        text = await live_text(desk, admin)
        edited = text.replace(GREETING, NEW_GREETING)
        csrf = await page_csrf(admin)
        checked = await admin.post(
            "/console/flows/intake/check", data={"csrf_token": csrf, "content": edited}
        )
        assert checked.status_code == 200 and 'id="review-ok"' in checked.text
        assert (
            "-      zh: &#34;" + GREETING in checked.text
            and "+      zh: &#34;" + NEW_GREETING in checked.text
        )
        published = await admin.post(
            "/console/flows/intake/publish", data={"csrf_token": csrf, "content": edited}
        )
        assert published.status_code == 303 and published.headers["location"].endswith("published=2")
        history = (await admin.get("/console/flows/intake")).text
        assert "v2</a> · 管理员" in history and "v1</a> · 流程文件" in history  # names, not usernames
        assert '<svg xmlns="http://www.w3.org/2000/svg"' in history and 'data-step="greeting"' in history
    assert NEW_GREETING in await say(desk, "new", "你好")
    # the conversation under way stays on v1: "*" goes back to v1's greeting menu
    back = await say(desk, "old", "*")
    assert GREETING in back and NEW_GREETING not in back


async def test_a_draft_with_errors_or_failing_tests_is_not_published(desk: Desk) -> None:
    async with desk.client("root") as admin:
        text = await live_text(desk, admin)
        csrf = await page_csrf(admin)
        broken = text.replace("goto: complaint_description", "goto: nowhere_step", 1)
        refused = await admin.post(
            "/console/flows/intake/publish", data={"csrf_token": csrf, "content": broken}
        )
        assert refused.status_code == 422 and 'id="flow-errors"' in refused.text
        assert re.search(r"第 \d+: greeting\.options\[0\]\.goto", refused.text)
        # valid YAML, but the conversation tests expect "我要投诉" on the greeting menu
        renamed = text.replace(
            "label: {zh: 我要投诉, en: Make a complaint}", "label: {zh: 我有意见, en: Complain}"
        )
        failing = await admin.post(
            "/console/flows/intake/publish", data={"csrf_token": csrf, "content": renamed}
        )
        assert (
            failing.status_code == 422 and 'id="test-failures"' in failing.text and "我要投诉" in failing.text
        )
        assert "v2" not in (await admin.get("/console/flows")).text


async def test_the_desk_flows_are_edited_and_tested_like_the_intake(desk: Desk) -> None:
    async with desk.client("root") as admin:
        listing = (await admin.get("/console/flows")).text
        assert "/console/flows/survey" in listing and "/console/flows/proposal" in listing
        page = (await admin.get("/console/flows/proposal")).text
        found = re.search(r'<textarea name="content" id="flow-content"[^>]*>(.*?)</textarea>', page, re.S)
        assert found
        import html

        text = html.unescape(found.group(1))
        csrf = await page_csrf(admin)
        # the proposal's conversation tests expect 满意 to accept
        narrowed = text.replace("aliases: [接受, 满意, 同意,", "aliases: [接受, 同意,")
        assert narrowed != text
        failing = await admin.post(
            "/console/flows/proposal/publish", data={"csrf_token": csrf, "content": narrowed}
        )
        assert failing.status_code == 422 and 'id="test-failures"' in failing.text
        assert "accepted in words" in failing.text
        reworded = text.replace("这个处理方案您能接受吗？", "这个方案您满意吗？")
        published = await admin.post(
            "/console/flows/proposal/publish", data={"csrf_token": csrf, "content": reworded}
        )
        assert published.status_code == 303 and published.headers["location"].endswith("published=2")


async def test_rollback_publishes_an_old_version_again(desk: Desk) -> None:
    async with desk.client("root") as admin:
        text = await live_text(desk, admin)
        csrf = await page_csrf(admin)
        await admin.post(
            "/console/flows/intake/publish",
            data={"csrf_token": csrf, "content": text.replace(GREETING, NEW_GREETING)},
        )
        assert NEW_GREETING in await say(desk, "a", "你好")
        back = await admin.post("/console/flows/intake/rollback", data={"csrf_token": csrf, "version": "1"})
        assert back.status_code == 303 and back.headers["location"].endswith("published=3")
        assert "root (rollback to v1)" in (await admin.get("/console/flows/intake")).text
    assert GREETING in await say(desk, "b", "你好")


async def test_a_console_version_survives_a_restart_until_the_file_changes(desk: Desk) -> None:
    from sqlmodel import Session

    from storage.repositories import flows as flow_repo

    async with desk.client("root") as admin:
        text = await live_text(desk, admin)
        await admin.post(
            "/console/flows/intake/publish",
            data={"csrf_token": await page_csrf(admin), "content": text.replace(GREETING, NEW_GREETING)},
        )
    flows_dir = desk.app.settings.path(desk.app.settings.dialogue.flows_dir)

    def republish(session: Session) -> list[tuple[str, int]]:
        return desk.app.catalog.publish_dir(session, flows_dir)

    assert ("intake", 2) in await desk.app.db.run(republish)  # the file did not change: v2 stays
    live = await desk.app.db.run(lambda s: flow_repo.live(s, name="intake"))
    assert live is not None and live.author == "root"
