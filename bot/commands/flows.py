"""``tousu flows check [PATH]``: validate flow files before they go live.

Prints one ``file:line: step.field: message`` line per error (the form editors and CI annotate)
and exits 1 when there is any, else 0 with a one-line summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings
from dialogues.spec import check_path


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("flows", help="work with dialogue flow files")
    fsub = parser.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    check = fsub.add_parser("check", help="validate a flow file or a folder of them")
    check.add_argument("path", nargs="?", help="file or folder (default: dialogue.flows_dir)")
    check.set_defaults(handler=check_flows)


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
