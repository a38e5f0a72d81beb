"""The monthly report as a file: JSON (everything), CSV (section,key,value rows) or an Excel
workbook with one sheet per section."""

from __future__ import annotations

import csv
import io
import json
from typing import Literal

from openpyxl import Workbook

from bot.reports import Report, flat_rows

Format = Literal["json", "csv", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(report: Report, fmt: Format) -> bytes:
    if fmt == "json":
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=2).encode("utf-8")
    rows = flat_rows(report)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["section", "key", "value"])
        writer.writerows(rows)
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
        sheet.append([section, key, _number(value)])
    out_bytes = io.BytesIO()
    book.save(out_bytes)
    return out_bytes.getvalue()


def _number(value: str) -> str | int | float:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value
