"""``tousu flows test``: exit codes and the JSON summary line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.commands.test_chat_and_tickets import _tousu


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
