"""The monthly report as a file: JSON (everything), CSV (section, key, value rows) or an Excel
workbook with one sheet per section. The console's CSV and workbook name every code in the
reader's language (bot/services/report_labels.py); ``tousu report`` keeps the codes.

Customers write some of the values (a complaint's target, a cause), so a spreadsheet must never
read one as a formula: in the CSV a text that Excel or LibreOffice would evaluate (starting with
``= + - @``, a tab or a carriage return) gets a leading apostrophe, and in the workbook every
text cell is written as a string, never a formula."""

from __future__ import annotations

import csv
import io
import json
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell.cell import Cell

from bot.services.report_labels import Naming, SheetRow, labelled_rows
from bot.services.reports import Report, flat_rows

Format = Literal["json", "csv", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CODE_HEADING = ("section", "key", "value")
SHEET_FORBIDDEN = frozenset("\\/?*[]:")


def render(report: Report, fmt: Format, naming: Naming | None = None) -> bytes:
    """The report as ``fmt``. With ``naming`` (the console) the CSV and the workbook read in that
    person's language: headings, sections, sheets and every code named; without it (``tousu
    report``) they keep the codes, as the JSON always does."""
    if fmt == "json":
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=2).encode("utf-8")
    if naming is None:
        heading, first = CODE_HEADING, "summary"
        rows = [
            SheetRow(section.split(":")[0], section, key, value) for section, key, value in flat_rows(report)
        ]
    else:
        heading, first = naming.headings(), naming.summary_sheet()
        rows = labelled_rows(report, naming)
    return _csv(heading, rows) if fmt == "csv" else _workbook(heading, rows, first)


def _csv(heading: tuple[str, str, str], rows: list[SheetRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_text(cell) for cell in heading])
    writer.writerows([(csv_text(r.section), csv_text(r.key), csv_text(r.value)) for r in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read it as UTF-8


def _workbook(heading: tuple[str, str, str], rows: list[SheetRow], first: str) -> bytes:
    """One sheet per ``SheetRow.sheet``, ``first`` the first; each sheet's first row the heading."""
    book = Workbook()
    summary = book.active
    summary.title = _sheet_title(first)
    sheets = {first: summary}
    headed: set[str] = set()
    for row in rows:
        sheet = sheets.get(row.sheet)
        if sheet is None:
            sheet = sheets[row.sheet] = book.create_sheet(_sheet_title(row.sheet))
        if row.sheet not in headed:
            headed.add(row.sheet)
            sheet.append([_text_cell(sheet, cell) for cell in heading])
        sheet.append(
            [_text_cell(sheet, row.section), _text_cell(sheet, row.key), _number_or_text(sheet, row.value)]
        )
    out_bytes = io.BytesIO()
    book.save(out_bytes)
    return out_bytes.getvalue()


def _sheet_title(name: str) -> str:
    """Excel's rules for a sheet's name: at most 31 characters, none of ``\\ / ? * [ ] :``."""
    return "".join(" " if c in SHEET_FORBIDDEN else c for c in name)[:31].strip() or "-"


def csv_text(value: str) -> str:
    """The value as a spreadsheet shows it, never evaluates it; numbers (say -1.5) stay numbers."""
    if value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _text_cell(sheet: object, value: str) -> Cell:
    """A string cell: openpyxl would otherwise store a text starting with ``=`` as a formula."""
    cell = Cell(sheet, value=value)
    cell.data_type = "s"
    return cell


def _number_or_text(sheet: object, value: str) -> Cell | int | float:
    number = _number(value)
    return number if not isinstance(number, str) else _text_cell(sheet, number)


def _is_number(value: str) -> bool:
    return not isinstance(_number(value), str)


def _number(value: str) -> str | int | float:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value
