"""``tousu flows check [PATH]``: validate flow files before they go live.

Prints one ``file:line: step.field: message`` line per error (the form editors and CI annotate)
and exits 1 when there is any, else 0 with a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.domain.catalog import Catalog
from bot.services.flow_tests import engine_options, load_suites, run_suites
from bot.settings import Settings
from dialogues.conversation_tests import SuiteInvalid
from dialogues.spec import FlowInvalid, check_path, load_flows_dir


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("flows", help="work with dialogue flow files")
    fsub = parser.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    check = fsub.add_parser("check", help="validate a flow file or a folder of them")
    check.add_argument("path", nargs="?", help="file or folder (default: dialogue.flows_dir)")
    check.set_defaults(handler=check_flows)
    test = fsub.add_parser("test", help="run the scripted conversations under dialogues/tests/")
    test.add_argument("path", nargs="?", help="test file or folder (default: dialogue.tests_dir)")
    test.add_argument("--json", action="store_true", help="end with one JSON line: passed, failed, failures")
    test.set_defaults(handler=test_flows)


def check_flows(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path) if args.path else settings.path(settings.dialogue.flows_dir)
    if not path.exists():
        print(f"{path}: no such file or folder", file=sys.stderr)
        return 2
    errors, files = check_path(path)
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} error(s) in {files} flow file(s)", file=sys.stderr)
        return 1
    if files == 0:
        print(f"{path}: no flow files (*.yaml, *.yml)", file=sys.stderr)
        return 1
    print(f"OK: {files} flow file(s) valid in {path}")
    return 0


def test_flows(args: argparse.Namespace, settings: Settings) -> int:
    """Run every test file against the flow files in dialogue.flows_dir."""
    path = Path(args.path) if args.path else settings.path(settings.dialogue.tests_dir)
    if not path.exists():
        print(f"{path}: no such file or folder", file=sys.stderr)
        return 2
    try:
        messages = Catalog.load().engine_messages()
        flows = load_flows_dir(settings.path(settings.dialogue.flows_dir), messages=messages)
        suites = load_suites(path)
    except (FlowInvalid, SuiteInvalid) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not suites:
        print(f"{path}: no test files (*.yaml, *.yml)", file=sys.stderr)
        return 1
    passed, failures = run_suites(flows, suites, engine_options(settings))
    for failure in failures:
        print(f"FAIL {failure}")
    failed_cases = len({(f.source, f.case) for f in failures})
    print(f"{passed} passed, {failed_cases} failed", file=sys.stderr if failures else sys.stdout)
    if args.json:
        print(
            json.dumps(
                {"passed": passed, "failed": failed_cases, "failures": [f.as_dict() for f in failures]},
                ensure_ascii=False,
            )
        )
    return 1 if failures else 0
