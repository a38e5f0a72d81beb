"""The monthly analysis and the report dashboard, over tickets that went through the desk."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session

from bot.services.report_files import csv_text, render
from bot.services.reports import Period, build
from tests.bot.services.ticket_helpers import Clock, file
from tests.bot.web.console.helpers import Desk, console_desk


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    opened = await console_desk(tmp_path, Clock())
    yield opened
    await opened.app.stop()


async def month_of_work(desk: Desk) -> list[str]:
    """Three complaints in November 2026: two about one store's kettle, one resolved and rated 4."""
    app = desk.app
    first, _ = await file(app, "r1", product="电热水壶", where="朝阳门店")
    desk.clock.advance(hours=1)
    second, _ = await file(app, "r2", "水壶底座漏电，很危险", product="电热水壶", where="朝阳门店")
    desk.clock.advance(hours=1)
    third, _ = await file(app, "r3", "快递员态度恶劣", product="快递", where="海淀")
    await app.tickets.on_ticket(first.number, lambda w, t: app.desk.start(w, t, actor="wangfang"))
    desk.clock.advance(hours=5)
    await app.tickets.on_ticket(first.number, lambda w, t: app.desk.resolve(w, t, actor="wangfang"))
    await app.tickets.on_ticket(first.number, lambda w, t: app.desk.survey_answer(w, t, 4, "还行"))
    return [first.number, second.number, third.number]


async def test_the_monthly_numbers(desk: Desk) -> None:
    numbers = await month_of_work(desk)
    period = Period.month("2026-11", desk.app.settings.general.tz)

    def make(session: Session) -> object:
        return build(session, period, now=desk.clock())

    report = await desk.app.db.run(make)
    assert report.total == 3  # type: ignore[attr-defined]
    assert report.by_kind == {"complaint": 3}  # type: ignore[attr-defined]
    assert sum(e["count"] for e in report.by_category.values()) == 3  # type: ignore[attr-defined]
    assert report.by_channel == {"console": 3}  # type: ignore[attr-defined]
    assert report.satisfaction["scores"]["4"] == 1 and report.satisfaction["average"] == 4.0  # type: ignore[attr-defined]
    assert report.repeat_targets == [{"target": "电热水壶", "complaints": 2}]  # type: ignore[attr-defined]
    assert report.resolution.count == 1 and report.resolution.median_hours == 7.0  # type: ignore[attr-defined]
    ack = report.sla["acknowledge"]  # type: ignore[attr-defined]
    # only the first ticket was acted on by a person (started 2 h after filing); routing's
    # assignment of the other two meets nothing
    assert ack["met_on_time"] == 1 and ack["compliance"] == 1.0
    assert report.first_response.count == 1  # type: ignore[attr-defined]
    assert report.first_response.median_hours == 2.0  # type: ignore[attr-defined]
    assert sum(sum(c.values()) for c in report.per_day.values()) == 3  # type: ignore[attr-defined]
    december = Period.month("2026-12", desk.app.settings.general.tz)
    assert (await desk.app.db.run(lambda s: build(s, december, now=desk.clock()))).total == 0
    assert len(numbers) == 3


async def test_files_and_the_dashboard(desk: Desk, tmp_path: Path) -> None:
    await month_of_work(desk)
    period = Period.month("2026-11", desk.app.settings.general.tz)
    report = await desk.app.db.run(lambda s: build(s, period, now=desk.clock()))
    as_json = json.loads(render(report, "json"))
    assert as_json["total"] == 3 and as_json["period"] == {
        "from": "2026-11-01",
        "to": "2026-11-30",
        "timezone": "Asia/Shanghai",
    }
    rows = list(csv.reader(io.StringIO(render(report, "csv").decode("utf-8-sig"))))
    assert rows[0] == ["section", "key", "value"] and ["total", "tickets", "3"] in rows
    book = openpyxl.load_workbook(io.BytesIO(render(report, "xlsx")))
    assert "summary" in book.sheetnames and "sla" in book.sheetnames
    assert ["satisfaction", "score_4", 1] in [
        list(r) for r in book["satisfaction"].iter_rows(values_only=True)
    ]

    async with desk.client("zhaoliu") as sup:
        page = await sup.get("/console/reports", params={"start": "2026-11-01", "end": "2026-11-30"})
        assert page.status_code == 200
        assert '<td id="total">3</td>' in page.text
        assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 7
        assert 'data-label="终端" data-value="3"' in page.text and 'data-label="console"' not in page.text
        download = await sup.get("/console/reports/monthly", params={"month": "2026-11", "format": "csv"})
        assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
        assert "total,tickets,3" in download.content.decode("utf-8-sig")
        bad = await sup.get("/console/reports", params={"start": "2026-12-01", "end": "2026-11-01"})
        assert bad.status_code == 400
    async with desk.client("wangfang") as agent:
        assert (await agent.get("/console/reports")).status_code == 403


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
async def test_customer_text_is_never_a_formula_in_the_files(desk: Desk, start: str) -> None:
    """A complaint's target is the customer's wording; it reaches the repeat_target rows."""
    app = desk.app
    evil = f'{start}HYPERLINK("http://x.test","x")'
    for user in ("f1", "f2"):
        await file(app, user, product=evil, where="门店")
        desk.clock.advance(hours=1)
    period = Period.month("2026-11", app.settings.general.tz)
    report = await app.db.run(lambda s: build(s, period, now=desk.clock()))
    target = next(r["target"] for r in report.repeat_targets)
    assert target.startswith(start)  # the target keeps the customer's wording
    rows = list(csv.reader(io.StringIO(render(report, "csv").decode("utf-8-sig"))))
    keys = [key for section, key, _ in rows if section == "repeat_target"]
    assert keys == ["'" + target]
    assert all(not key.startswith(("=", "+", "-", "@", "\t", "\r")) for key in keys)
    assert ["total", "tickets", "2"] in rows  # numbers stay numbers
    book = openpyxl.load_workbook(io.BytesIO(render(report, "xlsx")))
    cells = [row[1] for row in book["repeat_target"].iter_rows(min_row=2)]
    assert cells and all(cell.data_type == "s" for cell in cells)
    assert [c.value for c in cells] == [target]
    assert [r[2].value for r in book["repeat_target"].iter_rows(min_row=2)] == [2]


def test_csv_cells_starting_like_a_formula_become_text() -> None:
    assert [csv_text(v) for v in ("\tcmd", "\rcmd", "-1.5", "+3", "42", "普通", "a=b")] == [
        "'\tcmd",
        "'\rcmd",
        "-1.5",
        "+3",
        "42",
        "普通",
        "a=b",
    ]
