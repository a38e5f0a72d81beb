"""The monthly report as a person reads it: the rows of ``reports.flat_rows`` with every code
named in one language, for the CSV and the workbook the console downloads.

Sections, headings and sheets come from the catalog's ``report`` area; kinds, statuses and
deadlines from their own areas; channels and severities by the console's words (as the
dashboard names them); departments by the departments table; categories of any level by the
live intake flow. A code nothing names stays as it is. The JSON, ``tousu report`` and the REST
API keep ``flat_rows``' codes: they are read by programs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from bot.domain.catalog import Catalog
from bot.services.departments import DepartmentNames
from bot.services.reports import Report
from dialogues.types import Language

AREA = "report"


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One row of the file: the sheet it goes on, then its three columns."""

    sheet: str
    section: str
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Naming:
    """How one reader names the report's codes."""

    texts: Catalog
    language: Language
    categories: Mapping[str, str]
    """The live intake flow's categories, any level: code -> name in ``language``."""
    departments: DepartmentNames

    def word(self, key: str, **values: object) -> str:
        """A text of the ``report`` area, its fields filled."""
        return self.texts.text(f"{AREA}.{key}", self.language, **values)

    def headings(self) -> tuple[str, str, str]:
        return (self.word("heading_section"), self.word("heading_item"), self.word("heading_value"))

    def summary_sheet(self) -> str:
        return self.word("sheet_summary")

    def item(self, key: str) -> str:
        """A row of the ``report`` area (an SLA count, a duration); the key when it has none."""
        return self.texts.name(AREA, key, self.language, key.partition("_")[2])

    def deadline(self, clock: str) -> str:
        """An SLA clock's section: 受理确认时限, Acknowledge deadline."""
        return standalone(
            self.word("section_sla", deadline=self.texts.name("deadline", clock, self.language))
        )

    def code(self, area: str, code: str) -> str:
        return standalone(self.texts.name(area, code, self.language))

    def department(self, code: str) -> str:
        if code == "unassigned":
            return self.word("unassigned")
        return self.departments.name(code, self.language) or self.code("department", code)

    def category(self, code: str) -> str:
        if code == "uncategorised":
            return self.word("uncategorised")
        return self.categories.get(code, code)

    def channel(self, code: str) -> str:
        return standalone(self.texts.name("console", f"channel_{code}", self.language, code))

    def severity(self, code: str) -> str:
        return standalone(self.texts.name("console", code, self.language))

    def reason(self, rule: str) -> str:
        """Why a complaint is major: a severity rule (bot/domain/data/severity.yaml) or the
        desk's own (repeat_complaint, mishandled, staff)."""
        return self.texts.name(AREA, f"reason_{rule}", self.language, rule)


def labelled_rows(report: Report, naming: Naming) -> list[SheetRow]:
    """The rows of ``flat_rows`` in the reader's words; numbers stay numbers (SLA compliance
    as a percentage), customer-written targets as the customer wrote them."""
    rows: list[SheetRow] = []

    def add(section: str, key: str, value: object, *, sheet: str | None = None, title: str = "") -> None:
        heading = title or naming.word(f"section_{section}")
        rows.append(SheetRow(sheet or heading, heading, key, "" if value is None else str(value)))

    summary = naming.summary_sheet()
    add("period", naming.word("period_from"), report.period["from"], sheet=summary)
    add("period", naming.word("period_to"), report.period["to"], sheet=summary)
    add("total", naming.word("total_tickets"), report.total, sheet=summary)
    named: tuple[tuple[str, Mapping[str, int], Callable[[str], str]], ...] = (
        ("kind", report.by_kind, lambda k: naming.code("kind", k)),
        ("department", report.by_department, naming.department),
        ("channel", report.by_channel, naming.channel),
        ("severity", report.by_severity, naming.severity),
        ("status", report.by_status, lambda s: naming.code("status", s)),
        ("cause", report.causes, naming.category),
        ("major_reason", report.major_reasons, naming.reason),
    )
    for section, values, name in named:
        for code, count in values.items():
            add(section, name(str(code)), count)
    for category, entry in report.by_category.items():
        add("category", naming.category(category), entry["count"])
        for sub, count in entry["level2"].items():
            path = naming.word(
                "category_path", category=naming.category(category), level2=naming.category(sub)
            )
            add("category_level2", path, count)
    deadlines = naming.word("sheet_sla")
    for clock, numbers in report.sla.items():
        title = naming.deadline(clock)
        for key, number in numbers.items():
            shown = round(100 * float(number), 1) if key == "compliance" and number is not None else number
            add("sla", naming.item(f"sla_{key}"), shown, sheet=deadlines, title=title)
    for section, durations in (("first_response", report.first_response), ("resolution", report.resolution)):
        for key, hours in asdict(durations).items():
            add(section, naming.item(f"duration_{key}"), hours)
    for score, count in report.satisfaction["scores"].items():
        add("satisfaction", naming.word("score", score=score), count)
    add("satisfaction", naming.word("score_average"), report.satisfaction["average"])
    for target in report.repeat_targets:
        add("repeat_target", str(target["target"]), target["complaints"])
    for customer in report.repeat_customers:
        add("repeat_customer", naming.word("customer", id=customer["customer_id"]), customer["complaints"])
    for day, counts in report.per_day.items():
        add("per_day", day, sum(counts.values()))
    return rows


def standalone(text: str) -> str:
    """A label alone in a cell starts with a capital (the catalog writes English labels as they
    read mid-sentence); Chinese has no case."""
    return text[:1].upper() + text[1:] if text else text
