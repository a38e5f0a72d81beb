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
from nlu.fallback import FallbackClassifier, training_files
from nlu.metrics import Report, evaluate
from nlu.scoring import category_f1_by_language, predict
from nlu.types import Classifier


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("nlu", help="Rasa NLU: train, serve, evaluate")
    nsub = parser.add_subparsers(dest="nlu_command", required=True, metavar="ACTION")
    tr = nsub.add_parser("train", help="train when data or config changed (./scripts/run installs Rasa)")
    tr.set_defaults(handler=train)
    nsub.add_parser("serve", help="run the Rasa server in the foreground").set_defaults(handler=serve)
    ev = nsub.add_parser(
        "eval", help="score a labelled Rasa NLU YAML file (the live Rasa server, or --builtin)"
    )
    ev.add_argument("path", type=Path, help="Rasa NLU YAML file (or folder) of labelled examples")
    ev.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ev.add_argument(
        "--builtin",
        action="store_true",
        help="score the built-in classifier (trained on nlu/data and the reviewed examples), not Rasa",
    )
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
        predicted = (
            _builtin_predict(settings, examples)
            if args.builtin
            else asyncio.run(_predict(settings, examples))
        )
    except rasa.NluServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = evaluate([e.intent for e in examples], predicted)
    by_language = category_f1_by_language(examples, predicted)
    languages = per_language(examples, predicted)
    print(f"classifier: {'built-in (nlu/fallback.py)' if args.builtin else 'Rasa'}")
    print(_table(report, by_language, len(examples), languages))
    if args.json:
        payload = report.as_json() | {
            "classifier": Classifier.BUILTIN.value if args.builtin else Classifier.RASA.value,
            "examples": len(examples),
            "category_macro_f1_by_language": by_language,
            "per_language": {lang: r.as_json() for lang, r in languages.items()},
        }
        print(json.dumps(payload, ensure_ascii=False))
    return 0


def _builtin_predict(settings: Settings, examples: list[Example]) -> list[str | None]:
    """What the bot's in-process classifier says, trained as the bot trains it at start."""
    places = settings.rasa_places
    classifier = FallbackClassifier.from_files(*training_files(places.project_dir, places.reviewed_data))
    return [ranked[0].name if (ranked := classifier.rank(e.text)) else None for e in examples]


def per_language(examples: list[Example], predicted: list[str | None]) -> dict[str, Report]:
    """The report on each language's examples alone: every intent's scores in zh and in en."""
    reports: dict[str, Report] = {}
    for language in ("zh", "en"):
        pairs = [(e.intent, p) for e, p in zip(examples, predicted, strict=True) if e.language == language]
        if pairs:
            reports[language] = evaluate([g for g, _ in pairs], [p for _, p in pairs])
    return reports


async def _predict(settings: Settings, examples: list[Example]) -> list[str | None]:
    """Parse every example through the live server, starting (and stopping) one if none runs."""
    server = rasa.RasaServer(settings.nlu, settings.rasa_places)
    await server.start()
    try:
        return await predict(server.url, server.token, examples)
    finally:
        if not server.adopted:
            await server.stop()


def _table(report: Report, by_language: dict[str, float], count: int, languages: dict[str, Report]) -> str:
    lines = [
        f"examples: {count}   accuracy: {report.accuracy:.3f}   macro-F1: {report.macro_f1:.3f}",
        "category macro-F1 by language: " + ", ".join(f"{k} {v:.3f}" for k, v in by_language.items()),
        "",
        f"{'intent':<18}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"
        + "".join(f"{lang + ' f1':>9}{lang + ' n':>6}" for lang in languages),
    ]
    for name, s in report.per_intent.items():
        row = f"{name:<18}{s.precision:>10.3f}{s.recall:>10.3f}{s.f1:>10.3f}{s.support:>9}"
        for language in languages.values():
            one = language.per_intent.get(name)
            row += f"{one.f1:>9.3f}{one.support:>6}" if one is not None else f"{'-':>9}{0:>6}"
        lines.append(row)
    if report.confusions:
        lines += ["", "most frequent confusions (gold -> predicted):"]
        lines += [f"  {g} -> {p}: {n}" for g, p, n in report.confusions]
    return "\n".join(lines)
