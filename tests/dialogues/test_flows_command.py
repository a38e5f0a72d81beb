"""``tousu flows check`` (bot/cli/flows.py), run through its own argparse registration."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.cli import flows
from bot.settings import Settings
from tests.conftest import make_settings
from tests.dialogues.test_spec import BASE, line_of


def run(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tousu")
    flows.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["flows", "check", *argv])
    code: int = args.handler(args, settings)
    return code


def test_the_configured_flows_folder_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(make_settings(tmp_path)) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 3 flow file(s) valid in ")
    assert out.rstrip().endswith("dialogues/flows")


def test_errors_print_file_line_step_field_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.replace("    next: sort\n", "    next: sortt\n").replace("key: 1", "key: '*'")
    path = tmp_path / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    assert run(make_settings(tmp_path), str(path)) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{path}:{line_of(text, 'key:')}: hello.options[0].key: key '*' clashes with a reserved key "
        "(# repeats, * goes back, 0 is a person)",
        f"{path}:{line_of(text, 'next: sortt')}: describe.next: unknown step 'sortt'",
    ]
    assert "2 error(s) in 1 flow file(s)" in captured.err


def test_a_folder_is_checked_file_by_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(BASE.replace("name: demo", "name: other"), encoding="utf-8")
    assert run(make_settings(tmp_path), str(tmp_path)) == 0
    assert capsys.readouterr().out == f"OK: 2 flow file(s) valid in {tmp_path}\n"


def test_missing_path_and_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    assert run(settings, str(tmp_path / "nope.yaml")) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(settings, str(empty)) == 1
    assert "no flow files" in capsys.readouterr().err
