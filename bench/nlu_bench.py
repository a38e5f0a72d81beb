"""NLU benchmark: compare classifier pipelines and measure the shipped server.

For each candidate config in nlu/candidates/: training time, held-out accuracy and macro-F1 (category
intents per language too), optionally 5-fold cross-validation (`rasa test nlu --cross-validation`),
and parse latency through our client at 1 and 50 concurrent requests (batched, as the bot sends
them, and one request per text for comparison), server start time and memory.

    .venv/bin/python bench/nlu_bench.py                 # every candidate, held-out + latency
    .venv/bin/python bench/nlu_bench.py --folds 5       # plus cross-validation (minutes for DIET)
    .venv/bin/python bench/nlu_bench.py --only logreg
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from bot.settings import load_settings
from bot.web.process_tuning import tune_for_serving
from nlu import server as rasa
from nlu.client import CircuitBreaker, RasaNluClient
from nlu.examples import read_examples
from nlu.metrics import evaluate
from nlu.types import CONVERSATION_INTENTS

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(client: RasaNluClient, texts: list[str], concurrency: int, total: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    samples: list[float] = []

    async def one(text: str) -> None:
        async with gate:
            started = time.perf_counter()
            result = await client.parse(text)
            samples.append((time.perf_counter() - started) * 1000)
            assert result is not None

    began = time.perf_counter()
    await asyncio.gather(*(one(texts[i % len(texts)]) for i in range(total)))
    elapsed = time.perf_counter() - began
    return {
        "p50_ms": percentile(samples, 0.50),
        "p99_ms": percentile(samples, 0.99),
        "throughput_per_s": total / elapsed,
    }


def cross_validate(venv_rasa: Path, config: Path, data: Path, folds: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                str(venv_rasa),
                "test",
                "nlu",
                "--config",
                str(config),
                "--nlu",
                str(data),
                "--cross-validation",
                "--folds",
                str(folds),
                "--out",
                out,
                "--quiet",
            ],
            check=True,
            env=rasa.rasa_env(),
            cwd=out,
            capture_output=True,
        )
        report = json.loads((Path(out) / "intent_report.json").read_text())
        return float(report["macro avg"]["f1-score"])


async def bench_candidate(name: str, config: Path, args: argparse.Namespace) -> dict[str, object]:
    settings = load_settings(ROOT / "config.yaml")
    venv_rasa = rasa.installed_rasa(settings.nlu, settings.rasa_places)
    data = ROOT / "nlu" / "data"
    model = ROOT / "var" / "bench" / f"{name}.tar.gz"
    train_seconds = rasa.train(venv_rasa, config=config, data=data, out=model)
    port = 5900 + abs(hash(name)) % 90
    settings = settings.model_copy(
        update={"nlu": settings.nlu.model_copy(update={"url": f"http://127.0.0.1:{port}"})}
    )
    server = rasa.RasaServer(
        settings.nlu, settings.rasa_places, model=model, log_path=ROOT / "var" / "bench" / f"{name}.log"
    )
    began = time.perf_counter()
    await server.start()
    start_seconds = time.perf_counter() - began
    client = RasaNluClient(server.url, token=server.token, timeout=30, breaker=CircuitBreaker(10**6, 1))
    try:
        examples = read_examples(ROOT / "tests" / "nlu" / "heldout.yml")
        predicted = []
        for example in examples:
            result = await client.parse(example.text)
            predicted.append(result.intent.name if result and result.intent else None)
        report = evaluate([e.intent for e in examples], predicted)
        per_language = {}
        for language in ("zh", "en"):
            pairs = [
                (e.intent, p)
                for e, p in zip(examples, predicted, strict=True)
                if e.language == language and e.intent not in CONVERSATION_INTENTS
            ]
            per_language[language] = evaluate([g for g, _ in pairs], [p for _, p in pairs]).macro_f1
        texts = [e.text for e in examples]
        await latency(client, texts, 1, 20)  # warm-up
        tune_for_serving()  # the client lives in the bot's process, tuned as `tousu run` does
        one = await latency(client, texts, 1, 300)
        fifty = await latency(client, texts, 50, 2000)
        single_client = RasaNluClient(
            server.url, token=server.token, timeout=30, breaker=CircuitBreaker(10**6, 1), batches=False
        )
        try:
            fifty_single = await latency(single_client, texts, 50, 2000)
        finally:
            await single_client.aclose()
        memory = rss_mb(server.process.pid) if server.process else float("nan")
    finally:
        await client.aclose()
        await server.stop()
    cv = cross_validate(venv_rasa, config, data, args.folds) if args.folds else None
    return {
        "candidate": name,
        "train_s": train_seconds,
        "start_s": start_seconds,
        "rss_mb": memory,
        "heldout_accuracy": report.accuracy,
        "heldout_macro_f1": report.macro_f1,
        "category_f1_zh": per_language["zh"],
        "category_f1_en": per_language["en"],
        "cv_macro_f1": cv,
        "c1": one,
        "c50": fifty,
        "c50_single": fifty_single,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", type=int, default=0, help="cross-validation folds (0: skip)")
    parser.add_argument("--only", nargs="*", help="candidate names (file stems in nlu/candidates)")
    args = parser.parse_args()
    configs = sorted((ROOT / "nlu" / "candidates").glob("*.yml"))
    if args.only:
        configs = [c for c in configs if c.stem in args.only]
    print(
        f"machine: {platform.node()} {platform.machine()}, {platform.python_version()}, "
        f"{len(read_examples(ROOT / 'nlu' / 'data'))} training examples"
    )
    header = (
        "candidate",
        "train s",
        "start s",
        "RSS MB",
        "acc",
        "macroF1",
        "cat zh",
        "cat en",
        "CV F1",
        "p50@1",
        "p99@1",
        "p50@50",
        "p99@50",
        "req/s@50",
        "p50/p99@50 one per request",
    )
    print(" | ".join(header))
    for config in configs:
        row = asyncio.run(bench_candidate(config.stem, config, args))
        c1, c50, single = row["c1"], row["c50"], row["c50_single"]
        assert isinstance(c1, dict) and isinstance(c50, dict) and isinstance(single, dict)
        cv = row["cv_macro_f1"]
        print(
            " | ".join(
                [
                    str(row["candidate"]),
                    f"{row['train_s']:.1f}",
                    f"{row['start_s']:.1f}",
                    f"{row['rss_mb']:.0f}",
                    f"{row['heldout_accuracy']:.3f}",
                    f"{row['heldout_macro_f1']:.3f}",
                    f"{row['category_f1_zh']:.3f}",
                    f"{row['category_f1_en']:.3f}",
                    "-" if cv is None else f"{cv:.3f}",
                    f"{c1['p50_ms']:.1f}",
                    f"{c1['p99_ms']:.1f}",
                    f"{c50['p50_ms']:.1f}",
                    f"{c50['p99_ms']:.1f}",
                    f"{c50['throughput_per_s']:.0f}",
                    f"{single['p50_ms']:.0f} / {single['p99_ms']:.0f}",
                ]
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
