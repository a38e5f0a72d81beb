"""``tousu nlu train|serve|eval``: the Rasa model, the server, and its measured accuracy."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings
from nlu import server as rasa
from nlu.examples import Example, read_examples
from nlu.metrics import Report, evaluate
from nlu.scoring import category_f1_by_language, predict


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("nlu", help="Rasa NLU: train, serve, evaluate")
    nsub = parser.add_subparsers(dest="nlu_command", required=True, metavar="ACTION")
    tr = nsub.add_parser("train", help="train when data or config changed (./scripts/run installs Rasa)")
    tr.set_defaults(handler=train)
    nsub.add_parser("serve", help="run the Rasa server in the foreground").set_defaults(handler=serve)
    ev = nsub.add_parser("eval", help="score a labelled Rasa NLU YAML file against the live server")
    ev.add_argument("path", type=Path, help="Rasa NLU YAML file (or folder) of labelled examples")
    ev.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ev.set_defaults(handler=eval_command)


def train(_args: argparse.Namespace, settings: Settings) -> int:
    try:
        model = rasa.ensure_model(settings.nlu, settings.rasa_places)
    except rasa.NluServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"NLU model: {model}")
    return 0


def serve(_args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        server = rasa.RasaServer(settings.nlu, settings.rasa_places)
        await server.start()
        print(f"Rasa NLU at {server.url} (model {server.model}); Ctrl-C stops", flush=True)
        try:
            await server.wait()
        finally:
            await server.stop()

    try:
        asyncio.run(run())
    except rasa.NluServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def eval_command(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.path
    if not path.exists():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    examples = read_examples(path)
    if not examples:
        print(f"error: no labelled examples in {path}", file=sys.stderr)
        return 2
    try:
        predicted = asyncio.run(_predict(settings, examples))
    except rasa.NluServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = evaluate([e.intent for e in examples], predicted)
    by_language = category_f1_by_language(examples, predicted)
    print(_table(report, by_language, len(examples)))
    if args.json:
        payload = report.as_json() | {"examples": len(examples), "category_macro_f1_by_language": by_language}
        print(json.dumps(payload, ensure_ascii=False))
    return 0


async def _predict(settings: Settings, examples: list[Example]) -> list[str | None]:
    """Parse every example through the live server, starting (and stopping) one if none runs."""
    server = rasa.RasaServer(settings.nlu, settings.rasa_places)
    await server.start()
    try:
        return await predict(server.url, server.token, examples)
    finally:
        if not server.adopted:
            await server.stop()


def _table(report: Report, by_language: dict[str, float], count: int) -> str:
    lines = [
        f"examples: {count}   accuracy: {report.accuracy:.3f}   macro-F1: {report.macro_f1:.3f}",
        "category macro-F1 by language: " + ", ".join(f"{k} {v:.3f}" for k, v in by_language.items()),
        "",
        f"{'intent':<18}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}",
    ]
    for name, s in report.per_intent.items():
        lines.append(f"{name:<18}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}{s.support:>9}")
    if report.confusions:
        lines += ["", "most frequent confusions (gold -> predicted):"]
        lines += [f"  {g} -> {p}: {n}" for g, p, n in report.confusions]
    return "\n".join(lines)
