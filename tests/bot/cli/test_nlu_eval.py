"""``tousu nlu eval --builtin``: the built-in classifier scored on the held-out file, per intent
and per language, without any Rasa server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nlu.types import CONVERSATION_INTENTS
from tests.conftest import ROOT


def test_eval_scores_the_built_in_classifier_per_intent_and_language(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOUSU_GENERAL__DATA_DIR": str(tmp_path),
        "TOUSU_NLU__URL": "http://127.0.0.1:9",  # nothing there: the built-in classifier needs no server
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "nlu", "eval", "tests/nlu/heldout.yml", "--builtin", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("classifier: built-in")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["classifier"] == "builtin" and report["examples"] > 200
    languages = report["per_language"]
    assert set(languages) == {"zh", "en"}
    for name, overall in report["per_intent"].items():
        # each intent's examples are split between the two languages
        split = sum(languages[lang]["per_intent"].get(name, {"support": 0})["support"] for lang in languages)
        assert split == overall["support"], name
    assert report["macro_f1"] > 0.85  # the classifier answers: far above chance over 20 intents
    categories = [n for n in report["per_intent"] if n not in CONVERSATION_INTENTS]
    assert len(categories) == 9
