"""The monthly report as a file: JSON (everything), CSV (section,key,value rows) or an Excel
workbook with one sheet per section.

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

from bot.services.reports import Report, flat_rows

Format = Literal["json", "csv", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def render(report: Report, fmt: Format) -> bytes:
    if fmt == "json":
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=2).encode("utf-8")
    rows = flat_rows(report)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["section", "key", "value"])
        writer.writerows([tuple(csv_text(cell) for cell in row) for row in rows])
        return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read it as UTF-8
    book = Workbook()
    summary = book.active
    summary.title = "summary"
    sheets = {"summary": summary}
    for section, key, value in rows:
        name = section.split(":")[0][:31]
        sheet = sheets.get(name)
        if sheet is None:
            sheet = sheets[name] = book.create_sheet(name)
            sheet.append(["section", "key", "value"])
        sheet.append([_text_cell(sheet, section), _text_cell(sheet, key), _number_or_text(sheet, value)])
    out_bytes = io.BytesIO()
    book.save(out_bytes)
    return out_bytes.getvalue()


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
