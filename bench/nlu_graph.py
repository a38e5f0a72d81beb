"""The Rasa server's own share of a parse: one graph run over 1, 10 and 50 held-out texts, as the
batch route runs it, in-process (no HTTP, no client). Runs in the Rasa virtualenv:

    PYTHONPATH=nlu/rasa_ext .venv-rasa/bin/python bench/nlu_graph.py var/bench/tfidf.tar.gz

A model trained by an older checkout needs that checkout's ``nlu/rasa_ext`` on PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

from rasa.core.agent import load_agent
from rasa.shared.nlu.training_data.loading import load_data
from tousu_rasa.batch_parse import parse_texts

ROOT = Path(__file__).resolve().parent.parent
RUNS = 200


def main(model: str) -> None:
    logging.disable(logging.WARNING)
    texts = [m.get("text") for m in load_data(str(ROOT / "tests" / "nlu" / "heldout.yml")).intent_examples]
    agent = asyncio.run(load_agent(model_path=model))
    for size in (1, 10, 50):
        batch = texts[:size]
        for _ in range(10):
            parse_texts(agent.processor, batch)
        timings = []
        for _ in range(RUNS):
            began = time.perf_counter()
            parse_texts(agent.processor, batch)
            timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        print(
            f"{model}: {size} texts, median {timings[RUNS // 2]:.2f} ms, "
            f"p99 {timings[int(RUNS * 0.99)]:.2f} ms ({RUNS} runs)",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1])
