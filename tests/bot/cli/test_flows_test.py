"""``tousu flows test``: exit codes and the JSON summary line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.cli.test_chat_and_tickets import _tousu


def test_the_shipped_tests_pass_and_a_failing_file_is_reported(tmp_path: Path) -> None:
    ok = _tousu(["flows", "test", "--json"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout.strip().splitlines()[-1])
    assert summary["failed"] == 0 and summary["passed"] >= 5 and summary["failures"] == []
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "flow: intake\ntests:\n  - name: greeting in English\n    steps: [{say: 你好, expect: [Hello]}]\n",
        encoding="utf-8",
    )
    failed = _tousu(["flows", "test", str(bad), "--json"], tmp_path)
    assert failed.returncode == 1
    summary = json.loads(failed.stdout.strip().splitlines()[-1])
    assert summary["passed"] == 0 and summary["failed"] == 1
    assert summary["failures"][0]["test"] == "greeting in English" and summary["failures"][0]["step"] == 1


def test_report_monthly_writes_json_csv_and_xlsx(tmp_path: Path) -> None:
    import openpyxl

    assert _tousu(["db", "upgrade"], tmp_path).returncode == 0
    out = _tousu(["report", "monthly", "--month", "2026-11"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total"] == 0
    as_csv = _tousu(["report", "monthly", "--month", "2026-11", "--format", "csv"], tmp_path)
    assert as_csv.stdout.lstrip("\ufeff").startswith("section,key,value")
    target = tmp_path / "nov.xlsx"
    made = _tousu(
        ["report", "monthly", "--month", "2026-11", "--format", "xlsx", "--output", str(target)], tmp_path
    )
    assert made.returncode == 0 and openpyxl.load_workbook(target).sheetnames[0] == "summary"
    assert _tousu(["report", "monthly", "--month", "November"], tmp_path).returncode == 2
