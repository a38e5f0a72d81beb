"""Team (``/console/team``): an admin adds, edits, deactivates and reactivates people and sets a
new password; keeps departments (names, the WeCom robot shown masked, categories, active);
refusals are messages on the page in the admin's language; nobody else may see it."""

from __future__ import annotations

import re

from sqlmodel import Session

from bot.services import departments, people
from storage.repositories import departments as repo
from tests.bot.web.console.helpers import PASSWORD, Desk, csrf_of, login

ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=5e3f0c2a-aaaa-bbbb-cccc-9d0e1f2a3b4c"


async def test_only_an_admin_sees_the_team_and_a_form_needs_its_csrf_token(desk: Desk) -> None:
    for username in ("wangfang", "zhaoliu"):
        async with desk.client(username) as client:
            assert (await client.get("/console/team")).status_code == 403
            assert (await client.get("/console/team/departments")).status_code == 403
    async with desk.client("root") as client:
        page = await client.get("/console/team")
        assert page.status_code == 200 and "王芳" in page.text and 'href="/console/team"' in page.text
        refused = await client.post("/console/team/people", data={"username": "x", "display_name": "X"})
        assert refused.status_code == 403
    async with desk.client() as anonymous:
        assert (await anonymous.get("/console/team")).status_code in (303, 307, 401)


async def test_an_admin_builds_a_department_and_its_people(desk: Desk) -> None:
    async with desk.client("root") as client:
        page = await client.get("/console/team/departments")
        assert "质量管理部" in page.text and "quality" not in re.sub(
            r'(data-code|href|value)="[^"]*"', "", page.text
        )
        token = csrf_of(page.text)
        added = await client.post(
            "/console/team/departments",
            data={
                "csrf_token": token,
                "name_zh": "退换货组",
                "name_en": "Returns desk",
                "wecom_url": ROBOT,
                "category": ["product_quality"],
            },
            follow_redirects=True,
        )
        assert "已添加 退换货组" in added.text
        assert ROBOT not in added.text and "5e3f0c2a" not in added.text
        code = await desk.app.db.run(lambda s: next(d.code for d in repo.every(s) if d.name_zh == "退换货组"))
        edit = await client.get(f"/console/team/departments/{code}")
        assert "5e3f0c2a" not in edit.text and "3b4c" in edit.text  # masked, its end shown
        assert 'value="product_quality" checked' in edit.text
        people_page = await client.get("/console/team")
        assert "退换货组" in people_page.text  # a department to tick for a person
        made = await client.post(
            "/console/team/people",
            data={
                "csrf_token": token,
                "username": "zhoumin",
                "display_name": "周敏",
                "email": "zhou@example.com",
                "language": "zh",
                "role_agent": "1",
                "role_handler": "1",
                f"department_{code}": "1",
                "password": PASSWORD,
            },
            follow_redirects=True,
        )
        assert "已添加 周敏" in made.text and "从未登录" in made.text
    person = await desk.app.db.run(lambda s: people.by_username(s, "zhoumin"))
    assert person is not None
    assert person.roles == ["agent", "handler"] and person.departments == [code]
    assert person.email == "zhou@example.com" and person.password_hash
    async with desk.client() as newcomer:
        assert (await login(newcomer, "zhoumin")).headers["location"] == "/console"
    async with desk.client("root") as client:
        listed = await client.get("/console/team")
        row = listed.text.split('data-username="zhoumin"', 1)[1].split("</tr>", 1)[0]
        assert "从未登录" not in row  # the login just now is on the list
    routed = await desk.app.db.run(
        lambda s: departments.department_for(s, "product_quality", desk.app.settings.lifecycle)
    )
    assert routed == code


async def test_edit_reset_deactivate_and_reactivate_a_person(desk: Desk) -> None:
    async with desk.client("root") as client:
        page = await client.get("/console/team/people/lisi")
        assert page.status_code == 200 and "李四" in page.text
        token = csrf_of(page.text)
        saved = await client.post(
            "/console/team/people/lisi",
            data={"csrf_token": token, "display_name": "李思", "role_supervisor": "1", "language": "en"},
            follow_redirects=True,
        )
        assert "已保存" in saved.text
        short = await client.post(
            "/console/team/people/lisi/password", data={"csrf_token": token, "password": "short"}
        )
        assert short.status_code == 400 and "密码至少需要 8 个字符" in short.text
        reset = await client.post(
            "/console/team/people/lisi/password",
            data={"csrf_token": token, "password": "a new long password"},
            follow_redirects=True,
        )
        assert "已为 李思 设置新密码" in reset.text
        off = await client.post(
            "/console/team/people/lisi/active",
            data={"csrf_token": token, "active": "0"},
            follow_redirects=True,
        )
        assert "已停用 李思" in off.text
        myself = await client.post(
            "/console/team/people/root/active", data={"csrf_token": token, "active": "0"}
        )
        assert myself.status_code == 400 and "不能停用自己的账号" in myself.text
        no_admin = await client.post(
            "/console/team/people/root",
            data={"csrf_token": token, "display_name": "管理员", "role_agent": "1"},
        )
        assert no_admin.status_code == 400 and "不能去掉自己的管理员角色" in no_admin.text
    person = await desk.app.db.run(lambda s: people.by_username(s, "lisi"))
    assert person is not None and not person.active
    assert (person.display_name, person.roles, person.language) == ("李思", ["supervisor"], "en")
    async with desk.client() as lisi:
        assert (await login(lisi, "lisi", "a new long password")).status_code == 401  # deactivated
    async with desk.client("root") as client:
        token = csrf_of((await client.get("/console/team/people/lisi")).text)
        await client.post("/console/team/people/lisi/active", data={"csrf_token": token, "active": "1"})
    async with desk.client() as lisi:
        assert (await login(lisi, "lisi", "a new long password")).headers["location"] == "/console"


async def test_refusals_are_messages_in_the_admins_language(desk: Desk) -> None:
    async with desk.client("root") as client:
        token = csrf_of((await client.get("/console/team")).text)
        taken = await client.post(
            "/console/team/people",
            data={
                "csrf_token": token,
                "username": "wangfang",
                "display_name": "另一个王芳",
                "role_agent": "1",
            },
        )
        assert taken.status_code == 400 and "登录名 wangfang 已被使用" in taken.text
        assert 'value="另一个王芳"' in taken.text  # what was typed stays in the form
        for data, words in (
            ({"username": "bad name!", "display_name": "甲", "role_agent": "1"}, "登录名只能用"),
            ({"username": "jia", "display_name": "甲"}, "请至少选择一个角色"),
            ({"username": "jia", "display_name": "甲", "role_agent": "1", "password": "short"}, "至少需要 8"),
            ({"username": "jia", "display_name": "甲", "role_agent": "1", "email": "nope"}, "邮箱地址无效"),
        ):
            answer = await client.post("/console/team/people", data={"csrf_token": token, **data})
            assert answer.status_code == 400 and words in answer.text, (data, words)
            assert "detail" not in answer.text
        bad_url = await client.post(
            "/console/team/departments",
            data={"csrf_token": token, "name_zh": "甲组", "name_en": "Team A", "wecom_url": "ftp://x"},
        )
        assert bad_url.status_code == 400 and "机器人地址应以 https:// 开头" in bad_url.text
        await client.post("/console/language", data={"csrf_token": token})
        english = await client.post(
            "/console/team/departments", data={"csrf_token": token, "name_zh": "", "name_en": "B"}
        )
        assert english.status_code == 400 and "Write a Chinese and an English name" in english.text
    assert await desk.app.db.run(lambda s: people.by_username(s, "jia")) is None


async def test_a_cleared_robot_and_a_deactivated_department(desk: Desk) -> None:
    lifecycle = desk.app.settings.lifecycle

    def robot(session: Session) -> None:
        departments.save(
            session,
            code="quality",
            name_zh="质量管理部",
            name_en="Quality",
            wecom_url=ROBOT,
            lifecycle=lifecycle,
        )

    await desk.app.db.run(robot)
    async with desk.client("root") as client:
        page = await client.get("/console/team/departments/quality")
        token = csrf_of(page.text)
        await client.post(
            "/console/team/departments/quality",
            data={"csrf_token": token, "name_zh": "质量管理部", "name_en": "Quality", "wecom_url": ""},
        )
        kept = await desk.app.db.run(lambda s: repo.by_code(s, "quality"))
        assert kept is not None and kept.wecom_url == ROBOT and not kept.active  # empty keeps it
        await client.post(
            "/console/team/departments/quality",
            data={
                "csrf_token": token,
                "name_zh": "质量管理部",
                "name_en": "Quality",
                "wecom_clear": "1",
                "active": "1",
                "category": ["product_quality"],
            },
        )
    row = await desk.app.db.run(lambda s: repo.by_code(s, "quality"))
    assert row is not None and row.wecom_url is None and row.active
    assert (
        await desk.app.db.run(lambda s: departments.department_for(s, "product_quality", lifecycle))
        == "quality"
    )
    # safety went to quality in config; unticked now, it goes to the default department
    assert await desk.app.db.run(lambda s: departments.department_for(s, "safety", lifecycle)) == (
        lifecycle.default_department
    )
