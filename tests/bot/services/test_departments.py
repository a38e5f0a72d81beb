"""Departments as data: seeded from config.yaml, then the table wins (names, routes, WeCom
robots, active), and routing, the customer's words and the staff alerts follow it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from bot.app import TousuApp
from bot.services import departments
from bot.services.departments import DepartmentError
from storage.models import Staff
from storage.repositories import departments as repo
from tests.bot.services.ticket_helpers import Clock, alerts, desk_app, file


@pytest.fixture
async def app(tmp_path: Path) -> TousuApp:
    tousu = await desk_app(tmp_path, Clock())
    yield tousu  # type: ignore[misc]
    await tousu.stop()


async def test_config_seeds_the_tables_and_an_admins_change_survives_the_next_start(app: TousuApp) -> None:
    rows = await app.db.run(repo.every)
    by_code = {d.code: d for d in rows}
    assert by_code["quality"].name_zh == "质量管理部"
    assert by_code["quality"].name_en != "quality"  # the catalog's English name, not the code
    routes = await app.db.run(repo.routes)
    assert routes["product_quality"] == "quality"

    def change(session: Session) -> None:
        departments.save(
            session,
            code="quality",
            name_zh="品控部",
            name_en="Quality control",
            lifecycle=app.settings.lifecycle,
        )
        repo.set_route(session, category="product_quality", department="finance")

    await app.db.run(change)
    added = await app.db.run(lambda s: departments.seed(s, app.settings, app.texts))
    assert added == (0, 0)
    row = await app.db.run(lambda s: repo.by_code(s, "quality"))
    assert row is not None and row.name_zh == "品控部"
    assert (await app.db.run(repo.routes))["product_quality"] == "finance"


async def test_a_new_department_takes_its_categories_and_its_people_get_the_tickets(app: TousuApp) -> None:
    def create(session: Session) -> str:
        row = departments.save(
            session,
            code=None,
            name_zh="退换货组",
            name_en="Returns desk",
            wecom_url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdef123456",
            categories=["product_quality"],
            known_categories=["product_quality", "delivery"],
            lifecycle=app.settings.lifecycle,
        )
        session.add(Staff(username="zhou", display_name="周敏", roles=["agent"], departments=[row.code]))
        return row.code

    code = await app.db.run(create)
    assert code == "returns_desk"
    ticket, closing = await file(app, "c1")
    assert ticket.department == code
    assert ticket.assignee == "zhou"  # the only person of the new department
    assert "退换货组" in closing  # the customer reads the department's name, never its code
    urls = await app.db.run(lambda s: departments.wecom_urls(s, app.settings.notifications))
    assert urls[code].endswith("abcdef123456")


async def test_an_inactive_department_gets_no_new_tickets_and_the_queued_alert_names_it(
    app: TousuApp,
) -> None:
    def off(session: Session) -> None:
        departments.save(
            session,
            code="quality",
            name_zh="质量管理部",
            name_en="Quality",
            active=False,
            lifecycle=app.settings.lifecycle,
        )

    await app.db.run(off)
    ticket, _ = await file(app, "c2")
    assert ticket.department == app.settings.lifecycle.default_department
    # nobody handles the default department in the test directory: the alert names it in words
    texts = [a.text for a in await alerts(app, "qianjl")] + [a.text for a in await alerts(app, "zhaoliu")]
    queued = [t for t in texts if ticket.number in t]
    assert queued
    assert all("customer_service" not in t and "客户服务部" in t and "Customer" in t for t in queued)


async def test_refusals_say_why(app: TousuApp) -> None:
    lifecycle = app.settings.lifecycle

    def attempt(**values: object) -> str:
        def run(session: Session) -> str:
            try:
                departments.save(session, lifecycle=lifecycle, **values)  # type: ignore[arg-type]
            except DepartmentError as exc:
                return exc.reason
            return "saved"

        return run  # type: ignore[return-value]

    assert await app.db.run(attempt(code=None, name_zh="", name_en="X")) == "names_needed"
    assert (
        await app.db.run(attempt(code=None, name_zh="甲", name_en="A", wecom_url="javascript:x")) == "bad_url"
    )
    default = lifecycle.default_department
    assert (
        await app.db.run(attempt(code=default, name_zh="客服", name_en="CS", active=False)) == "default_stays"
    )


def test_a_saved_robot_url_is_shown_masked() -> None:
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    shown = departments.mask(url)
    assert shown.startswith("https://qyapi.weixin.qq.com/")
    assert "693a91f6" not in shown and shown.endswith("5aaa")
    assert departments.mask(None) == ""


async def test_seeding_and_routing_on_both_backends(tmp_path: Path, db_url: str) -> None:
    """The app seeds the tables at start on SQLite and PostgreSQL alike, twice without harm (a
    second process starting), and a route an admin moved holds."""
    tousu = await desk_app(tmp_path, Clock(), db_url)
    try:
        assert await tousu.db.run(lambda s: departments.seed(s, tousu.settings, tousu.texts)) == (0, 0)
        codes = {d.code for d in await tousu.db.run(repo.every)}
        assert set(departments.configured(tousu.settings)) <= codes
        await tousu.db.run(lambda s: repo.set_route(s, category="billing", department="quality"))
        lifecycle = tousu.settings.lifecycle
        assert await tousu.db.run(lambda s: departments.department_for(s, "billing", lifecycle)) == "quality"
        assert await tousu.db.run(lambda s: departments.department_for(s, None, lifecycle)) == (
            lifecycle.default_department
        )
    finally:
        await tousu.stop()
