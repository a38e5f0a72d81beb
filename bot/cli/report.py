"""``tousu report monthly --month YYYY-MM [--format csv|xlsx|json] [--output PATH]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot.services.report_files import render
from bot.services.reports import Period, build
from bot.settings import Settings
from storage.db import make_unpooled_engine
from storage.types import utcnow


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("report", help="complaint statistics")
    rsub = parser.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    monthly = rsub.add_parser("monthly", help="the monthly analysis: categories, SLA, satisfaction, repeats")
    monthly.add_argument("--month", required=True, help="YYYY-MM, in the configured time zone")
    monthly.add_argument("--format", choices=("json", "csv", "xlsx"), default="json")
    monthly.add_argument("--output", help="write here instead of standard output (needed for xlsx)")
    monthly.set_defaults(handler=monthly_report)


def monthly_report(args: argparse.Namespace, settings: Settings) -> int:
    try:
        period = Period.month(args.month, settings.general.tz)
    except ValueError:
        print(f"--month: expected YYYY-MM, got {args.month!r}", file=sys.stderr)
        return 2
    if args.format == "xlsx" and not args.output:
        print("--format xlsx needs --output FILE", file=sys.stderr)
        return 2
    engine = make_unpooled_engine(settings.database_url)
    with Session(engine) as session:
        report = build(session, period, now=utcnow())
    engine.dispose()
    body = render(report, args.format)
    if args.output:
        Path(args.output).write_bytes(body)
        print(f"{args.output}: {report.total} tickets, {period.start} to {period.end}")
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.write(b"\n")
    return 0
