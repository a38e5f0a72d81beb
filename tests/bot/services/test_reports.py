"""The monthly analysis and the report dashboard, over tickets that went through the desk."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, select

from bot.domain.catalog import Catalog
from bot.services.departments import DepartmentNames
from bot.services.report_files import csv_text, render
from bot.services.report_labels import Naming, labelled_rows
from bot.services.reports import Durations, Period, Report, build
from storage.models import Department, Staff, Ticket
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
        assert "合计,工单总数,3" in download.content.decode("utf-8-sig")
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

    # the console's files, in the reader's words, neutralise it the same way
    async with desk.client("zhaoliu") as sup:
        month = {"month": "2026-11"}
        as_csv = await sup.get("/console/reports/monthly", params={**month, "format": "csv"})
        as_xlsx = await sup.get("/console/reports/monthly", params={**month, "format": "xlsx"})
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [key for section, key, _ in rows if section == "重复投诉对象"] == ["'" + target]
    assert ["合计", "工单总数", "2"] in rows
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content))["重复投诉对象"]
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == [target] and all(cell.data_type == "s" for cell in cells)
    assert [r[2].value for r in sheet.iter_rows(min_row=2)] == [2]


# what a person reading the console's files must never meet: a category's, a level-2 category's,
# an SLA row's, a score's or a duration's code, the machine file's headings
CODES = ("product_quality", "pq_", "sla:", "score_", "_hours", "met_on_time", "repeat_target", "section")
READERS = {
    # heading, a department, a category, its level-2 child, a clock, a score, sheets
    "zh": (
        ["分组", "项目", "数值"],
        ["部门", "品质保障部"],
        ["类别", "产品质量"],
        ["二级类别", "产品质量 / 质量缺陷"],
        ["受理确认时限", "按时完成率（%）"],
        ["满意度", "4 分"],
        ["首次响应", "用时中位数（小时）"],
        ["概要", "部门", "时限", "满意度"],
    ),
    "en": (
        ["Section", "Item", "Value"],
        ["Department", "Quality Assurance"],
        ["Category", "Product quality"],
        ["Level-2 category", "Product quality / Defect"],
        ["Acknowledge deadline", "On time (%)"],
        ["Satisfaction", "Rated 4 of 5"],
        ["First response", "Median (hours)"],
        ["Summary", "Department", "Deadlines", "Satisfaction"],
    ),
}


async def reader_of(desk: Desk, username: str, language: str, numbers: list[str]) -> None:
    """``username`` reads the console in ``language``; the quality department has its own names
    (the table's, not the catalog's) and the first ticket a level-2 category."""

    def arrange(session: Session) -> None:
        person = session.exec(select(Staff).where(Staff.username == username)).one()
        person.language = language
        department = session.get(Department, "quality")
        assert department is not None
        department.name_zh, department.name_en = "品质保障部", "Quality Assurance"
        ticket = session.exec(select(Ticket).where(Ticket.number == numbers[0])).one()
        ticket.category_l2 = "pq_defect"
        session.add_all([person, department, ticket])

    await desk.app.db.run(arrange)


def no_codes(cells: list[object]) -> None:
    texts = [str(c) for c in cells if c is not None]
    assert [t for t in texts if any(code in t for code in CODES)] == []
    for code in ("quality", "complaint", "console", "normal", "acknowledge", "unassigned", "tickets"):
        assert code not in texts


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_the_console_files_read_in_the_readers_language(desk: Desk, language: str) -> None:
    numbers = await month_of_work(desk)
    await reader_of(desk, "zhaoliu", language, numbers)
    heading, department, category, level2, clock, score, durations, sheets = READERS[language]
    async with desk.client("zhaoliu") as sup:
        csv_file = await sup.get("/console/reports/monthly", params={"month": "2026-11", "format": "csv"})
        xlsx_file = await sup.get("/console/reports/monthly", params={"month": "2026-11", "format": "xlsx"})
        as_json = (
            await sup.get("/console/reports/monthly", params={"month": "2026-11", "format": "json"})
        ).json()
    assert csv_file.status_code == xlsx_file.status_code == 200
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert rows[0] == heading
    pairs = [row[:2] for row in rows]
    for wanted in (department, category, level2, clock, score, durations):
        assert wanted in pairs
    no_codes([cell for row in rows for cell in row])

    book = openpyxl.load_workbook(io.BytesIO(xlsx_file.content))
    assert [name for name in sheets if name not in book.sheetnames] == []
    everything = [list(r) for sheet in book for r in sheet.iter_rows(values_only=True)]
    assert all(list(r) == heading for sheet in book for r in list(sheet.iter_rows(values_only=True))[:1])
    assert [*department, 3] in [list(r) for r in book[sheets[1]].iter_rows(values_only=True)]
    assert [*score, 1] in everything  # numbers stay numbers
    on_time = next(r for r in everything if r[:2] == clock)
    assert on_time[2] == 100.0
    for wanted in (category, level2, durations):
        assert wanted in [r[:2] for r in everything]
    no_codes([cell for row in everything for cell in row])
    # the JSON is for programs: its codes stay
    assert as_json["by_category"]["product_quality"]["level2"] == {"pq_defect": 1}


def test_every_code_of_a_report_has_a_name() -> None:
    """What the month above lacks: a major complaint's reasons, a cause (level 4), an unassigned
    and an uncategorised ticket, a repeat complainant, a department the table does not have."""
    report = Report(
        period={"from": "2026-11-01", "to": "2026-11-30", "timezone": "Asia/Shanghai"},
        total=3,
        by_kind={"complaint": 2, "suggestion": 1},
        by_category={"uncategorised": {"count": 1, "level2": {}}, "delivery": {"count": 2, "level2": {}}},
        by_department={"unassigned": 1, "logistics": 1, "quality": 1},
        by_channel={"wechat": 2, "webchat": 1},
        by_severity={"major": 2, "normal": 1},
        by_status={"in_progress": 3},
        per_day={"2026-11-23": {"delivery": 2}},
        sla={
            "report_to_management": {
                "met_on_time": 1,
                "met_late": 1,
                "breached_open": 0,
                "running": 0,
                "compliance": 0.5,
            }
        },
        first_response=Durations.of([1.0, 3.0]),
        resolution=Durations(),
        satisfaction={"rated": 0, "average": None, "scores": {"1": 0, "5": 0}, "dissatisfied": 0},
        repeat_customers=[{"customer_id": 7, "complaints": 2}],
        repeat_targets=[],
        causes={"pq_cause_seal": 1},
        major_reasons={"injury": 1, "money": 1, "repeat_complaint": 1},
    )
    quality = DepartmentNames({"quality": ("品质保障部", "Quality Assurance")}, ("quality",))
    names = {"delivery": "物流配送", "pq_cause_seal": "密封件不良"}
    rows = labelled_rows(report, Naming(Catalog.load(), "zh", names, quality))
    cells = {(r.section, r.key): r.value for r in rows}
    assert cells[("部门", "未分派")] == "1" and cells[("部门", "物流部")] == "1"
    assert cells[("部门", "品质保障部")] == "1"
    assert cells[("类别", "未分类")] == "1" and cells[("投诉原因", "密封件不良")] == "1"
    assert cells[("渠道", "微信")] == "2" and cells[("严重程度", "重大")] == "2"
    assert cells[("状态", "处理中")] == "3" and cells[("工单类型", "建议")] == "1"
    assert {k for s, k in cells if s == "重大投诉原因"} == {
        "人身伤害或患病",
        "金额较大",
        "多位客户投诉同一对象",
    }
    assert cells[("上报管理层时限", "按时完成率（%）")] == "50.0"
    assert cells[("重复投诉客户", "客户编号 7")] == "2"
    assert cells[("解决用时", "用时中位数（小时）")] == "" and cells[("满意度", "平均分")] == ""
    assert {r.sheet for r in rows if r.section.endswith("时限")} == {"时限"}
    no_codes([cell for r in rows for cell in (r.sheet, r.section, r.key)])
    english = labelled_rows(report, Naming(Catalog.load(), "en", {}, quality))
    assert ("Report to management deadline", "On time (%)", "50.0") in [
        (r.section, r.key, r.value) for r in english
    ]
    assert ("Why major", "Personal injury or illness", "1") in [(r.section, r.key, r.value) for r in english]


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
